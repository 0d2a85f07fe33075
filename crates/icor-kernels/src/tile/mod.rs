//! Product tiles: `Y[r, c] = Σ_k X[r, k] · W[k, c]` for a block of rows of `X` and the
//! columns of one or more consecutive panels of the packed weight.
//!
//! A tile keeps its block of `Y` in vector accumulators while it streams its panels once from
//! start to end: for each input `k` it loads the panels' weights (two vectors per panel) and
//! multiplies them with each row's `X[r, k]` broadcast to every lane. Up to six rows against one
//! panel (12 accumulators) for several rows; one row against four panels (8 accumulators, so
//! the fused multiply–adds do not wait on each other) for one row. Each output is the sum over
//! `k` in order, as in a plain loop (float results equal up to FMA's single rounding).

mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;

use half::f16;

use crate::packed::PANEL;

/// Packed panels (`[panels, k, PANEL]`), in the precision they are stored in.
#[derive(Debug, Clone, Copy)]
pub enum Panels<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
}

impl Panels<'_> {
    fn len(&self) -> usize {
        match self {
            Panels::F32(w) => w.len(),
            Panels::F16(w) => w.len(),
        }
    }
}

/// Whether this CPU has AVX2, FMA and F16C (what the vector code of this crate needs).
pub fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return x86::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Which code runs the tiles on this CPU.
pub fn kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if x86::available() {
        return "avx2+fma+f16c";
    }
    "portable"
}

/// `y[r·ldy + p·PANEL + j] = Σ_k x[r·k_dim + k] · w[(p·k_dim + k)·PANEL + j]` for `x: [m, k_dim]`,
/// every panel `p` of `w`, and `y` with rows of `ldy ≥ panels·PANEL` values.
///
/// # Panics
/// If the slices' lengths disagree with `m`, `k_dim` and `ldy`.
pub fn panels(x: &[f32], m: usize, k_dim: usize, w: Panels<'_>, y: &mut [f32], ldy: usize) {
    assert_eq!(x.len(), m * k_dim, "x must be m × k = {m} × {k_dim}");
    let per_panel = (k_dim * PANEL).max(1);
    assert_eq!(
        w.len() % per_panel,
        0,
        "w must hold whole panels of {k_dim} × {PANEL}"
    );
    let n = w.len() / per_panel * PANEL;
    assert!(
        ldy >= n && y.len() >= m * ldy,
        "y must be m × ldy with ldy ≥ {n}"
    );
    #[cfg(target_arch = "x86_64")]
    if x86::available() {
        // SAFETY: `available()` checked that the CPU has AVX2, FMA and F16C; the lengths were
        // checked above.
        unsafe {
            match w {
                Panels::F32(w) => x86::panels(x, m, k_dim, w, y, ldy),
                Panels::F16(w) => x86::panels(x, m, k_dim, w, y, ldy),
            }
        }
        return;
    }
    match w {
        Panels::F32(w) => portable::panels(x, m, k_dim, w, y, ldy),
        Panels::F16(w) => portable::panels(x, m, k_dim, w, y, ldy),
    }
}

/// A stored weight value read as f32.
pub(crate) trait Value: Copy + Send + Sync {
    fn f32(self) -> f32;
}

impl Value for f32 {
    #[inline(always)]
    fn f32(self) -> f32 {
        self
    }
}

impl Value for f16 {
    #[inline(always)]
    fn f32(self) -> f32 {
        self.to_f32()
    }
}
