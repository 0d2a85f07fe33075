//! The tiles with AVX2, FMA and F16C (x86-64 CPUs since 2013), chosen at run time.

use std::arch::x86_64::*;

use super::Value;
use crate::packed::PANEL;

/// Whether this CPU runs these tiles (checked once, then cached by std).
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

/// Rows per tile against one panel.
const ROWS: usize = 6;
/// Panels per tile for a single row.
const WIDE: usize = 4;

/// See [`super::panels`].
///
/// # Safety
/// The CPU has AVX2, FMA and F16C; the lengths are as [`super::panels_at`] requires.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn panels<T: Value>(
    x: &[f32],
    m: usize,
    k: usize,
    w: &[T],
    yp: *mut f32,
    ldy: usize,
) {
    let per = k * PANEL;
    let n_panels = w.len() / per.max(1);
    let (xp, wp) = (x.as_ptr(), w.as_ptr());
    // SAFETY (every call below): a tile reads rows r.. of x (< m), panels p.. of w
    // (< n_panels), each k values long, and writes those rows' columns p·PANEL.. of y, all
    // within the lengths the caller checked.
    unsafe {
        if m == 1 {
            let mut p = 0;
            while p + WIDE <= n_panels {
                tile::<T, 1, WIDE>(xp, k, wp.add(p * per), yp.add(p * PANEL), ldy);
                p += WIDE;
            }
            for p in p..n_panels {
                tile::<T, 1, 1>(xp, k, wp.add(p * per), yp.add(p * PANEL), ldy);
            }
            return;
        }
        for p in 0..n_panels {
            let (w, y) = (wp.add(p * per), yp.add(p * PANEL));
            let mut r = 0;
            while r + ROWS <= m {
                tile::<T, ROWS, 1>(xp.add(r * k), k, w, y.add(r * ldy), ldy);
                r += ROWS;
            }
            let (x, y) = (xp.add(r * k), y.add(r * ldy));
            match m - r {
                0 => {}
                1 => tile::<T, 1, 1>(x, k, w, y, ldy),
                2 => tile::<T, 2, 1>(x, k, w, y, ldy),
                3 => tile::<T, 3, 1>(x, k, w, y, ldy),
                4 => tile::<T, 4, 1>(x, k, w, y, ldy),
                _ => tile::<T, 5, 1>(x, k, w, y, ldy),
            }
        }
    }
}

/// `R` rows of `x` (row stride `k`) against `P` consecutive panels starting at `w`; writes
/// `R` rows of `P·PANEL` outputs at `y` (row stride `ldy`).
///
/// # Safety
/// The CPU has AVX2, FMA and F16C; `x` has `R` rows of `k` readable values, `w` has `P`
/// panels of `k·PANEL`, `y` has `R` rows of `P·PANEL` writable values at stride `ldy`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile<T: Value, const R: usize, const P: usize>(
    x: *const f32,
    k: usize,
    w: *const T,
    y: *mut f32,
    ldy: usize,
) {
    let mut acc = [[[_mm256_setzero_ps(); 2]; P]; R];
    let per = k * PANEL;
    for kk in 0..k {
        // SAFETY: kk < k, so every read is inside the rows and panels the caller vouches for.
        unsafe {
            let mut wv = [[_mm256_setzero_ps(); 2]; P];
            for (p, v) in wv.iter_mut().enumerate() {
                let at = w.add(p * per + kk * PANEL);
                *v = [T::load8(at), T::load8(at.add(8))];
            }
            for r in 0..R {
                let xv = _mm256_broadcast_ss(&*x.add(r * k + kk));
                for p in 0..P {
                    for h in 0..2 {
                        acc[r][p][h] = _mm256_fmadd_ps(xv, wv[p][h], acc[r][p][h]);
                    }
                }
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (p, halves) in row.iter().enumerate() {
            for (h, v) in halves.iter().enumerate() {
                // SAFETY: row r < R, columns p·PANEL + 8h .. + 8 < P·PANEL.
                unsafe { _mm256_storeu_ps(y.add(r * ldy + p * PANEL + 8 * h), *v) };
            }
        }
    }
}
