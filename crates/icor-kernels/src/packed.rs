//! A frozen weight packed once for products with a few rows.

use half::f16;
use rayon::prelude::*;

/// Output columns per panel: two AVX vectors of eight f32.
pub const PANEL: usize = 16;

/// How a packed weight stores its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// 4 bytes per weight: the same numbers as the f32 model.
    F32,
    /// 2 bytes per weight (IEEE half, round to nearest): half the bytes streamed per decoded
    /// token, at a relative rounding error of at most 2⁻¹¹ per weight.
    F16,
}

impl Precision {
    /// `f32` or `f16`, as written on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        }
    }
}

/// The stored values, in panels (see [`PackedWeight`]).
#[derive(Debug, Clone)]
pub enum Values {
    F32(Vec<f32>),
    F16(Vec<f16>),
}

/// `W: [in, out]` cut into panels of [`PANEL`] output columns, each panel `[in, PANEL]`
/// row-major and the panels one after another (the last padded with zero columns): a product
/// tile streams one panel from start to end, reading for each input `k` the panel's sixteen
/// weights as two vectors. gemm packs its right operand into the same kind of panels on every
/// call; here it is done once, at load.
#[derive(Debug, Clone)]
pub struct PackedWeight {
    out: usize,
    inp: usize,
    values: Values,
}

impl PackedWeight {
    /// Packs `w_t: [in, out]` row-major (the layout the backbone multiplies with).
    ///
    /// # Panics
    /// If `w_t.len() != inp * out`.
    pub fn from_transposed(w_t: &[f32], inp: usize, out: usize, precision: Precision) -> Self {
        assert_eq!(
            w_t.len(),
            inp * out,
            "w_t must hold in × out = {inp} × {out} values"
        );
        let panels = out.div_ceil(PANEL);
        // Panels are independent: packed on every core.
        let mut packed = vec![0.0f32; panels * inp * PANEL];
        packed
            .par_chunks_mut((inp * PANEL).max(1))
            .enumerate()
            .for_each(|(p, panel)| {
                let c0 = p * PANEL;
                let width = PANEL.min(out - c0);
                for (k, dst) in panel.chunks_exact_mut(PANEL).enumerate() {
                    dst[..width].copy_from_slice(&w_t[k * out + c0..k * out + c0 + width]);
                }
            });
        let values = match precision {
            Precision::F32 => Values::F32(packed),
            Precision::F16 => Values::F16(packed.par_iter().map(|&v| f16::from_f32(v)).collect()),
        };
        Self { out, inp, values }
    }

    /// Number of outputs (columns of `Y`).
    pub fn out_dim(&self) -> usize {
        self.out
    }

    /// Number of inputs (columns of `X`).
    pub fn in_dim(&self) -> usize {
        self.inp
    }

    /// Number of panels (`⌈out / PANEL⌉`).
    pub fn panels(&self) -> usize {
        self.out.div_ceil(PANEL)
    }

    /// How the values are stored.
    pub fn precision(&self) -> Precision {
        match self.values {
            Values::F32(_) => Precision::F32,
            Values::F16(_) => Precision::F16,
        }
    }

    /// The stored values.
    pub fn values(&self) -> &Values {
        &self.values
    }

    /// The pack of `Wᵀ`: `X W` for `X: [m, out]` through [`crate::rows_matmul`], the product
    /// that carries a gradient back through a frozen `Y = X Wᵀ` (`dX = dY W`). Same precision,
    /// same values (an f16 weight is widened and narrowed again, which is exact).
    pub fn transposed(&self) -> PackedWeight {
        let (inp, out) = (self.inp, self.out);
        // `w: [out, in]` row-major is the `w_t` of the transposed map
        let mut w = vec![0.0f32; out * inp];
        let mut put = |p: usize, k: usize, j: usize, v: f32| w[(p * PANEL + j) * inp + k] = v;
        let width = |p: usize| PANEL.min(out - p * PANEL);
        let at = |p: usize, k: usize, j: usize| (p * inp + k) * PANEL + j;
        for p in 0..self.panels() {
            for k in 0..inp {
                for j in 0..width(p) {
                    let v = match &self.values {
                        Values::F32(v) => v[at(p, k, j)],
                        Values::F16(v) => v[at(p, k, j)].to_f32(),
                    };
                    put(p, k, j, v);
                }
            }
        }
        PackedWeight::from_transposed(&w, out, inp, self.precision())
    }

    /// Bytes of weight read per product.
    pub fn bytes(&self) -> usize {
        match &self.values {
            Values::F32(v) => v.len() * 4,
            Values::F16(v) => v.len() * 2,
        }
    }
}
