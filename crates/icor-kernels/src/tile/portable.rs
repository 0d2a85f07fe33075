//! The tiles in plain Rust, for CPUs without AVX2/FMA/F16C.

use super::Value;
use crate::packed::PANEL;

/// See [`super::panels_at`].
///
/// # Safety
/// As [`super::panels_at`].
pub(super) unsafe fn panels<T: Value>(
    x: &[f32],
    m: usize,
    k: usize,
    w: &[T],
    y: *mut f32,
    ldy: usize,
) {
    for (p, panel) in w.chunks_exact((k * PANEL).max(1)).enumerate() {
        for r in 0..m {
            let mut acc = [0.0f32; PANEL];
            for (xk, wk) in x[r * k..(r + 1) * k].iter().zip(panel.chunks_exact(PANEL)) {
                for (a, wv) in acc.iter_mut().zip(wk) {
                    *a += xk * wv.f32();
                }
            }
            // SAFETY: row r < m, columns p·PANEL .. + PANEL of y are writable (the caller).
            unsafe {
                std::ptr::copy_nonoverlapping(acc.as_ptr(), y.add(r * ldy + p * PANEL), PANEL)
            };
        }
    }
}
