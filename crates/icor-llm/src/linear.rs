//! A frozen linear map `y = x Wᵀ + b` plus optional low-rank terms added on the fly.

use burn::tensor::Tensor;
use icor_kernels::Precision;
use icor_kernels::burn_ops::PackedLinear;

/// A low-rank update added to a frozen projection on the fly, so the base weight is never
/// copied or modified.
#[derive(Debug, Clone)]
pub enum LowRank {
    /// One update for every row of the batch: `ΔW = U Vᵀ` (`U: [out, r]`, `V: [in, r]`)
    /// applied as `scale · x V Uᵀ`.
    Shared {
        /// `[in, r]`: the input-side factor (LoRA's `Aᵀ`).
        down: Tensor<2>,
        /// `[r, out]`: the output-side factor (LoRA's `Bᵀ`).
        up: Tensor<2>,
        scale: f32,
    },
    /// One update per batch row (`down: [b, in, r]`, `up: [b, r, out]`, scale folded in):
    /// several interfaces — none, `W_0^ret`, `W_0^ret + gΔW(C)` — evaluated on the same
    /// prompt in one batch.
    PerRow { down: Tensor<3>, up: Tensor<3> },
}

impl LowRank {
    /// The term for `x: [b, t, in]`, flattened to `[b·t, out]`.
    pub fn apply(&self, x: &Tensor<3>) -> Tensor<2> {
        let [b, t, i] = x.dims();
        match self {
            LowRank::Shared { down, up, scale } => {
                let y = x
                    .clone()
                    .reshape([b * t, i])
                    .matmul(down.clone())
                    .matmul(up.clone());
                if *scale == 1.0 {
                    y
                } else {
                    y.mul_scalar(*scale)
                }
            }
            LowRank::PerRow { down, up } => {
                let out = up.dims()[2];
                x.clone()
                    .matmul(down.clone())
                    .matmul(up.clone())
                    .reshape([b * t, out])
            }
        }
    }
}

/// `y + Σ extra(x)` for `y: [b, t, out]` already computed from `x: [b, t, in]` (the low-rank
/// terms of one part of a joined product).
pub fn add_low_rank(y: Tensor<3>, x: &Tensor<3>, extra: &[LowRank]) -> Tensor<3> {
    if extra.is_empty() {
        return y;
    }
    let [b, t, out] = y.dims();
    let mut y = y.reshape([b * t, out]);
    for lr in extra {
        y = y.add(lr.apply(x));
    }
    y.reshape([b, t, out])
}

/// Frozen weights, stored transposed (`[in, out]`) for a plain row-major matmul, and on the
/// CPU backend packed once more for the few-row products of decoding ([`PackedLinear`]).
#[derive(Debug, Clone)]
pub struct FrozenLinear {
    pub w_t: Tensor<2>,
    pub bias: Option<Tensor<1>>,
    pub decode: Option<PackedLinear>,
}

impl FrozenLinear {
    pub fn in_dim(&self) -> usize {
        self.w_t.dims()[0]
    }
    pub fn out_dim(&self) -> usize {
        self.w_t.dims()[1]
    }

    /// Several maps of the same input as one: weights side by side (`[in, Σ out]`), biases
    /// joined (zeros for a part without one). One wide product replaces one product per part.
    pub fn concat(parts: Vec<FrozenLinear>) -> FrozenLinear {
        let bias = parts.iter().any(|p| p.bias.is_some()).then(|| {
            let biases = parts
                .iter()
                .map(|p| match &p.bias {
                    Some(b) => b.clone(),
                    None => Tensor::zeros([p.out_dim()], &p.w_t.device()),
                })
                .collect();
            Tensor::cat(biases, 0)
        });
        let w_t = Tensor::cat(parts.into_iter().map(|p| p.w_t).collect(), 1);
        FrozenLinear::new(w_t, bias)
    }

    /// `W` given as `w_t: [in, out]`, not packed for decoding (see [`FrozenLinear::pack`]).
    pub fn new(w_t: Tensor<2>, bias: Option<Tensor<1>>) -> Self {
        FrozenLinear {
            w_t,
            bias,
            decode: None,
        }
    }

    /// Packs `W` for decoding in `precision`, or drops the packed copy (`None`).
    pub fn pack(&mut self, precision: Option<Precision>) {
        self.decode = precision.map(|p| PackedLinear::pack(&self.w_t, self.bias.as_ref(), p));
    }

    /// `x Wᵀ + b` for `x: [n, in]` (packed where [`PackedLinear::forward`] applies).
    pub fn product(&self, x: Tensor<2>) -> Tensor<2> {
        if let Some(y) = self.decode.as_ref().and_then(|d| d.forward(&x)) {
            return y;
        }
        let y = x.matmul(self.w_t.clone());
        match &self.bias {
            Some(bias) => y.add(bias.clone().reshape([1, self.out_dim()])),
            None => y,
        }
    }

    /// `x: [b, t, in] → [b, t, out]`, adding every low-rank term in `extra`.
    pub fn forward(&self, x: Tensor<3>, extra: &[LowRank]) -> Tensor<3> {
        let [b, t, i] = x.dims();
        let mut y = self.product(x.clone().reshape([b * t, i]));
        for lr in extra {
            y = y.add(lr.apply(&x));
        }
        y.reshape([b, t, self.out_dim()])
    }
}
