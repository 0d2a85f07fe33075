//! The tiles with AVX-512F (x86-64 server CPUs since 2017, client CPUs of some generations),
//! chosen at run time over [`super::x86`]'s AVX2 tiles.
//!
//! A panel's sixteen columns fill one 512-bit vector, so a tile of six rows against four panels
//! keeps 24 accumulators in the 32 vector registers and loads ten values (four panels' weights,
//! six rows' inputs) per 24 fused multiply–adds of sixteen lanes: four times the work per
//! loaded value of the AVX2 tile (six rows against one panel, two vectors each). Each output is
//! still the sum over `k` in order, one FMA per term, so the results equal the AVX2 tiles' bit
//! for bit (a test).

use std::arch::x86_64::*;

use super::Value;
use crate::packed::PANEL;

/// Whether this CPU runs these tiles (checked once, then cached by std).
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx512f")
}

// One panel is one vector of sixteen f32 lanes.
const _: () = assert!(PANEL == 16);

/// Rows per tile.
const ROWS: usize = 6;
/// How many inputs ahead the first row tile of a batch asks for its panels' weights: the
/// tile reads one line of each panel per input, and the hardware's prefetch alone left a
/// 16-row decoding step waiting on memory (`icor-llm/examples/decode_rows`, 16 rows × 64 steps
/// at 8 tokens of context, alternated: medians 2.36 → 2.07 s in eight pairs, 1.99 → 1.82 s in
/// six).
const AHEAD: usize = 32;
/// Panels per tile.
const WIDE: usize = 4;

/// See [`super::panels`].
///
/// # Safety
/// The CPU has AVX-512F; the lengths are as [`super::panels_at`] requires.
#[target_feature(enable = "avx512f")]
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
    // SAFETY (both calls): panels p.. of w (< n_panels) and their columns of y's m rows are
    // within the lengths the caller checked.
    unsafe {
        let mut p = 0;
        while p + WIDE <= n_panels {
            rows::<T, WIDE>(xp, m, k, wp.add(p * per), yp.add(p * PANEL), ldy);
            p += WIDE;
        }
        for p in p..n_panels {
            rows::<T, 1>(xp, m, k, wp.add(p * per), yp.add(p * PANEL), ldy);
        }
    }
}

/// Every one of the `m` rows against `P` consecutive panels, `ROWS` rows per tile.
///
/// # Safety
/// As [`tile`], for `m` rows.
#[target_feature(enable = "avx512f")]
unsafe fn rows<T: Value, const P: usize>(
    x: *const f32,
    m: usize,
    k: usize,
    w: *const T,
    y: *mut f32,
    ldy: usize,
) {
    let mut r = 0;
    // SAFETY: rows r.. < m of x and y, as the caller vouches for.
    unsafe {
        while r + ROWS <= m {
            // The first row tile streams the panels from memory and asks for them ahead; the
            // others find them in the cache.
            if r == 0 {
                tile::<T, ROWS, P, true>(x.add(r * k), k, w, y.add(r * ldy), ldy);
            } else {
                tile::<T, ROWS, P, false>(x.add(r * k), k, w, y.add(r * ldy), ldy);
            }
            r += ROWS;
        }
        let (x, y) = (x.add(r * k), y.add(r * ldy));
        match m - r {
            0 => {}
            1 => tile::<T, 1, P, false>(x, k, w, y, ldy),
            2 => tile::<T, 2, P, false>(x, k, w, y, ldy),
            3 => tile::<T, 3, P, false>(x, k, w, y, ldy),
            4 => tile::<T, 4, P, false>(x, k, w, y, ldy),
            _ => tile::<T, 5, P, false>(x, k, w, y, ldy),
        }
    }
}

/// `R` rows of `x` (row stride `k`) against `P` consecutive panels starting at `w`; writes
/// `R` rows of `P·PANEL` outputs at `y` (row stride `ldy`).
///
/// # Safety
/// The CPU has AVX-512F; `x` has `R` rows of `k` readable values, `w` has `P` panels of
/// `k·PANEL`, `y` has `R` rows of `P·PANEL` writable values at stride `ldy`.
#[target_feature(enable = "avx512f")]
unsafe fn tile<T: Value, const R: usize, const P: usize, const PREFETCH: bool>(
    x: *const f32,
    k: usize,
    w: *const T,
    y: *mut f32,
    ldy: usize,
) {
    let mut acc = [[_mm512_setzero_ps(); P]; R];
    let per = k * PANEL;
    for kk in 0..k {
        // SAFETY: kk < k, so every read is inside the rows and panels the caller vouches for.
        unsafe {
            if PREFETCH {
                for p in 0..P {
                    let ahead = w.wrapping_add(p * per + (kk + AHEAD) * PANEL);
                    _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
                }
            }
            let mut wv = [_mm512_setzero_ps(); P];
            for (p, v) in wv.iter_mut().enumerate() {
                *v = T::load16(w.add(p * per + kk * PANEL));
            }
            for r in 0..R {
                let xv = _mm512_set1_ps(*x.add(r * k + kk));
                for p in 0..P {
                    acc[r][p] = _mm512_fmadd_ps(xv, wv[p], acc[r][p]);
                }
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (p, v) in row.iter().enumerate() {
            // SAFETY: row r < R, columns p·PANEL .. + 16 ≤ P·PANEL.
            unsafe { _mm512_storeu_ps(y.add(r * ldy + p * PANEL), *v) };
        }
    }
}
