//! `Y = X Wᵀ + b` for `X` of a few rows, split over rayon's threads by panels of output columns.

use rayon::prelude::*;

use crate::packed::{PANEL, PackedWeight, Values};
use crate::tile::{self, Panels};

/// Panels per rayon task: 64 output columns, enough work per task (64 × 576–4864 weights) that
/// scheduling is noise and enough tasks that both cores stay busy on the narrowest product.
const PANELS_PER_TASK: usize = 4;

/// `Y = X Wᵀ + b` for `x: [m, in]` (row-major), `b: [out]`, returned as `[m, out]` row-major.
///
/// # Panics
/// If `x.len() != m · w.in_dim()` or `b` has not `w.out_dim()` values.
pub fn rows_matmul(x: &[f32], m: usize, w: &PackedWeight, b: Option<&[f32]>) -> Vec<f32> {
    let (k, n) = (w.in_dim(), w.out_dim());
    assert_eq!(x.len(), m * k, "x must be m × in = {m} × {k}");
    if let Some(b) = b {
        assert_eq!(b.len(), n, "the bias must have {n} values");
    }
    let cols = PANELS_PER_TASK * PANEL;
    let per_task = (PANELS_PER_TASK * k * PANEL).max(1);
    // Not zeroed: the tasks write every value (their columns of every row) before any is
    // read; zeroing the head's [16, 49152] output of a batched decoding step took a serial
    // memset of 3 MB per step.
    let mut y: Vec<f32> = Vec::with_capacity(m * n);
    let out = Out(y.as_mut_ptr());
    // Each task writes its own columns of every row of `y` in place.
    (0..w.panels().div_ceil(PANELS_PER_TASK))
        .into_par_iter()
        .for_each(|t| {
            let at = t * per_task;
            let panels = match w.values() {
                Values::F32(v) => Panels::F32(&v[at..(at + per_task).min(v.len())]),
                Values::F16(v) => Panels::F16(&v[at..(at + per_task).min(v.len())]),
            };
            let c0 = t * cols;
            let filled = PANELS_PER_TASK.min(w.panels() - t * PANELS_PER_TASK) * PANEL;
            let width = filled.min(n - c0);
            // SAFETY: task t alone touches columns c0 .. c0 + width of y's m rows.
            unsafe { task_into(x, m, k, panels, filled, &out, n, c0, width, b) };
        });
    // SAFETY: the tasks covered columns 0..n of every one of the m rows (task t: columns
    // t·64 .. t·64 + width, the last ending at n), so all m·n values are written.
    unsafe { y.set_len(m * n) };
    y
}

/// `y`'s buffer, shared by the tasks that each write their own columns of it.
struct Out(*mut f32);

// SAFETY: the tasks write disjoint columns (see `task_into`), and `y` outlives them.
unsafe impl Sync for Out {}

impl Out {
    /// A method, so that closures capture the `Sync` wrapper and not its raw pointer.
    fn at(&self, i: usize) -> *mut f32 {
        self.0.wrapping_add(i)
    }
}

/// One task's columns `c0 .. c0 + width` of `y: [m, n]`: its panels (`filled` columns, the
/// last possibly padded past `n`) written in place, or through a block when the padding
/// would spill into the next row; then the bias.
///
/// # Safety
/// `y` has `m × n` values and no other thread touches columns `c0 .. c0 + width` of them.
#[allow(clippy::too_many_arguments)]
unsafe fn task_into(
    x: &[f32],
    m: usize,
    k: usize,
    panels: Panels<'_>,
    filled: usize,
    y: &Out,
    n: usize,
    c0: usize,
    width: usize,
    b: Option<&[f32]>,
) {
    if width == filled {
        // SAFETY: every row's `filled` columns from c0 lie within y and belong to this task.
        unsafe { tile::panels_at(x, m, k, panels, y.at(c0), n) };
    } else {
        let mut block = vec![0.0f32; m * filled];
        tile::panels(x, m, k, panels, &mut block, filled);
        for r in 0..m {
            // SAFETY: as above, `width` columns of row r.
            unsafe {
                std::ptr::copy_nonoverlapping(block[r * filled..].as_ptr(), y.at(r * n + c0), width)
            };
        }
    }
    if let Some(b) = b {
        for r in 0..m {
            // SAFETY: as above; no other reference to these values is live.
            let row = unsafe { std::slice::from_raw_parts_mut(y.at(r * n + c0), width) };
            for (v, b) in row.iter_mut().zip(&b[c0..c0 + width]) {
                *v += b;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packed::Precision;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    /// `X Wᵀ + b` in f64 from `w_t: [in, out]`.
    fn reference(x: &[f32], m: usize, w_t: &[f32], k: usize, n: usize, b: &[f32]) -> Vec<f64> {
        let mut y = vec![0.0f64; m * n];
        for r in 0..m {
            for c in 0..n {
                y[r * n + c] = b[c] as f64
                    + (0..k)
                        .map(|i| x[r * k + i] as f64 * w_t[i * n + c] as f64)
                        .sum::<f64>();
            }
        }
        y
    }

    /// Every row count from 1 to 17 (every remainder of the six-row tiles, and the one-row
    /// path), in dimensions off the tiles' multiples (out not a multiple of 16, a last task
    /// with fewer panels, in = 1), within f32 rounding of the f64 product — and, packed in
    /// f16, within f32 rounding of the f64 product of the f16-rounded weights.
    #[test]
    fn products_match_f64_at_every_row_count() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (k, n) in [(37, 131), (64, 16), (1, 3), (576, 200)] {
            let w_t = random(k * n, &mut rng);
            let b = random(n, &mut rng);
            let f32w = PackedWeight::from_transposed(&w_t, k, n, Precision::F32);
            let f16w = PackedWeight::from_transposed(&w_t, k, n, Precision::F16);
            let rounded: Vec<f32> = w_t
                .iter()
                .map(|v| half::f16::from_f32(*v).to_f32())
                .collect();
            for m in 1..=17 {
                let x = random(m * k, &mut rng);
                let want = reference(&x, m, &w_t, k, n, &b);
                let want16 = reference(&x, m, &rounded, k, n, &b);
                let got = rows_matmul(&x, m, &f32w, Some(&b));
                let got16 = rows_matmul(&x, m, &f16w, Some(&b));
                let tol = 1e-6 * k as f64 + 1e-6;
                for i in 0..m * n {
                    assert!(
                        (got[i] as f64 - want[i]).abs() < tol,
                        "f32, k {k} n {n} m {m} entry {i}: {} vs {}",
                        got[i],
                        want[i]
                    );
                    assert!(
                        (got16[i] as f64 - want16[i]).abs() < tol,
                        "f16, k {k} n {n} m {m} entry {i}: {} vs {}",
                        got16[i],
                        want16[i]
                    );
                }
            }
        }
    }

    /// The transposed pack carries a gradient back: `dY W` (`dY: [m, out]`) matches the f64
    /// product for shapes off the panels' multiples, in both precisions (f16 against the
    /// f16-rounded weights), and transposing twice gives back the same pack.
    #[test]
    fn transposed_pack_computes_dy_w() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for (k, n) in [(37, 131), (16, 64), (3, 1), (200, 576)] {
            let w_t = random(k * n, &mut rng);
            for precision in [Precision::F32, Precision::F16] {
                let w = PackedWeight::from_transposed(&w_t, k, n, precision);
                let back = w.transposed();
                assert_eq!((back.in_dim(), back.out_dim()), (n, k));
                let twice = back.transposed();
                match (w.values(), twice.values()) {
                    (Values::F32(a), Values::F32(b)) => assert_eq!(a, b),
                    (Values::F16(a), Values::F16(b)) => assert_eq!(a, b),
                    _ => panic!("the precision changed"),
                }
                let stored: Vec<f32> = match precision {
                    Precision::F32 => w_t.clone(),
                    Precision::F16 => w_t
                        .iter()
                        .map(|v| half::f16::from_f32(*v).to_f32())
                        .collect(),
                };
                // W as `[out, in]` is the `w_t` of the transposed map
                let w_rows: Vec<f32> = (0..n * k).map(|i| stored[(i % k) * n + i / k]).collect();
                for m in [1, 7, 13] {
                    let dy = random(m * n, &mut rng);
                    let want = reference(&dy, m, &w_rows, n, k, &vec![0.0; k]);
                    let got = rows_matmul(&dy, m, &back, None);
                    let tol = 1e-6 * n as f64 + 1e-6;
                    for i in 0..m * k {
                        assert!(
                            (got[i] as f64 - want[i]).abs() < tol,
                            "{precision:?}, in {k} out {n} m {m} entry {i}: {} vs {}",
                            got[i],
                            want[i]
                        );
                    }
                }
            }
        }
    }

    /// The f16 packing differs from f32 by the weights' rounding: the relative error of a
    /// product stays near 2⁻¹¹ / √k-scale, far below 1e-3.
    #[test]
    fn f16_drift_is_the_rounding_of_the_weights() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (k, n, m) = (576, 96, 3);
        let w_t = random(k * n, &mut rng);
        let x = random(m * k, &mut rng);
        let a = rows_matmul(
            &x,
            m,
            &PackedWeight::from_transposed(&w_t, k, n, Precision::F32),
            None,
        );
        let h = rows_matmul(
            &x,
            m,
            &PackedWeight::from_transposed(&w_t, k, n, Precision::F16),
            None,
        );
        let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt();
        let diff: Vec<f32> = a.iter().zip(&h).map(|(a, b)| a - b).collect();
        let rel = norm(&diff) / norm(&a);
        assert!(rel > 0.0 && rel < 1e-3, "relative drift {rel}");
    }

    /// No rows in, no rows out.
    #[test]
    fn zero_rows() {
        let w = PackedWeight::from_transposed(&[1.0; 12], 3, 4, Precision::F32);
        assert!(rows_matmul(&[], 0, &w, None).is_empty());
    }
}
