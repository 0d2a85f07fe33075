//! The scaled, causally masked softmax of attention scores, and its gradient, in one pass per
//! score row: what LoRA training's attention runs between its two products instead of a scale,
//! an additive mask tensor and burn's softmax (five buffers forward, more backward).
//!
//! Scores are `[b, hk, g·t, tk]`: for batch row `r` and key/value head `kvh`, row `a·t + i`
//! holds the scores of new token `i` under query head `a` of the group (the layout of
//! `icor_llm`'s grouped attention). Row `(r, ·, a·t + i)` reads the key columns
//! [`Visible`] gives new token `i` of batch row `r`; the others get probability 0, which is
//! what an additive mask of `−10³⁰` gives. A row with no visible column (a padding token)
//! gets zeros.

use rayon::prelude::*;

use crate::attention::Visible;

/// Sizes of a score tensor `[batch, kv_heads, group · tokens, keys]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreShape {
    pub batch: usize,
    pub kv_heads: usize,
    /// Query heads per key/value head.
    pub group: usize,
    /// New tokens `t`.
    pub tokens: usize,
    /// Key columns `tk`.
    pub keys: usize,
}

impl ScoreShape {
    fn len(&self) -> usize {
        self.batch * self.kv_heads * self.group * self.tokens * self.keys
    }

    /// The batch row and new token of score row `n` (rows counted over the whole tensor).
    fn row(&self, n: usize) -> (usize, usize) {
        let per_row = self.kv_heads * self.group * self.tokens;
        (n / per_row, n % self.tokens)
    }
}

/// Score rows per rayon task.
const ROWS_PER_TASK: usize = 16;

/// `P = softmax(scale · s)` over each row's visible columns, zero elsewhere.
///
/// # Panics
/// If `s` does not have `shape`'s size or `visible` has not one entry per batch row.
pub fn masked_softmax(s: &[f32], shape: ScoreShape, visible: Visible<'_>, scale: f32) -> Vec<f32> {
    assert_eq!(s.len(), shape.len(), "scores must be [b, hk, g·t, tk]");
    visible.check_rows(shape.batch);
    let tk = shape.keys;
    let mut p = vec![0.0f32; s.len()];
    p.par_chunks_mut(tk * ROWS_PER_TASK)
        .zip(s.par_chunks(tk * ROWS_PER_TASK))
        .enumerate()
        .for_each(|(task, (p, s))| {
            for (k, (pr, sr)) in p.chunks_mut(tk).zip(s.chunks(tk)).enumerate() {
                let (r, i) = shape.row(task * ROWS_PER_TASK + k);
                let cols = visible.columns(r, i, tk);
                if cols.is_empty() {
                    continue;
                }
                let (sv, pv) = (&sr[cols.clone()], &mut pr[cols]);
                let max = sv.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x * scale));
                let mut sum = 0.0f32;
                for (o, &x) in pv.iter_mut().zip(sv) {
                    *o = (x * scale - max).exp();
                    sum += *o;
                }
                let inv = 1.0 / sum;
                pv.iter_mut().for_each(|o| *o *= inv);
            }
        });
    p
}

/// The gradient in the raw scores `s` of [`masked_softmax`] from `dp` and its output `p`:
/// `ds = scale · p ⊙ (dp − Σ_j p_j dp_j)` per row (zero where masked, since `p` is).
///
/// # Panics
/// If `p` and `dp` differ in size or are not rows of `keys` values.
pub fn masked_softmax_backward(p: &[f32], dp: &[f32], keys: usize, scale: f32) -> Vec<f32> {
    assert_eq!(p.len(), dp.len(), "dp must be shaped like p");
    assert!(keys > 0 && p.len().is_multiple_of(keys), "rows of {keys}");
    let mut ds = vec![0.0f32; p.len()];
    ds.par_chunks_mut(keys * ROWS_PER_TASK)
        .zip(p.par_chunks(keys * ROWS_PER_TASK))
        .zip(dp.par_chunks(keys * ROWS_PER_TASK))
        .for_each(|((ds, p), dp)| {
            for ((dsr, pr), dpr) in ds.chunks_mut(keys).zip(p.chunks(keys)).zip(dp.chunks(keys)) {
                let dot: f32 = pr.iter().zip(dpr).map(|(a, b)| a * b).sum();
                for ((o, &pj), &dpj) in dsr.iter_mut().zip(pr).zip(dpr) {
                    *o = scale * pj * (dpj - dot);
                }
            }
        });
    ds
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| r.random_range(-3.0f32..3.0)).collect()
    }

    fn shape(t: usize, tk: usize) -> ScoreShape {
        ScoreShape {
            batch: 2,
            kv_heads: 3,
            group: 2,
            tokens: t,
            keys: tk,
        }
    }

    /// Row by row in f64 with an explicit mask: the causal columns of a prefill, a cache with
    /// left padding per batch row (a padding token's row is zero), and rows of probability 1.
    #[test]
    fn matches_the_masked_softmax_in_f64() {
        let pads = [0usize, 2];
        for (t, tk, vis) in [
            (
                5,
                5,
                Visible::Causal {
                    start: 0,
                    from: None,
                },
            ),
            (
                3,
                7,
                Visible::Causal {
                    start: 4,
                    from: Some(&pads[..]),
                },
            ),
            (
                4,
                4,
                Visible::Causal {
                    start: 0,
                    from: Some(&pads[..]),
                },
            ),
        ] {
            let sh = shape(t, tk);
            let s = values(sh.len(), 1);
            let p = masked_softmax(&s, sh, vis, 0.7);
            for n in 0..sh.len() / tk {
                let (r, i) = sh.row(n);
                let row = &s[n * tk..(n + 1) * tk];
                let seen: Vec<bool> = (0..tk)
                    .map(|j| match vis {
                        Visible::Causal { start, from } => {
                            j >= from.map_or(0, |f| f[r]) && j <= start + i
                        }
                        Visible::Prefix { .. } => unreachable!(),
                    })
                    .collect();
                let z: f64 = (0..tk)
                    .filter(|&j| seen[j])
                    .map(|j| (0.7 * f64::from(row[j])).exp())
                    .sum();
                for j in 0..tk {
                    let want = if seen[j] {
                        (0.7 * f64::from(row[j])).exp() / z
                    } else {
                        0.0
                    };
                    let got = f64::from(p[n * tk + j]);
                    assert!(
                        (got - want).abs() < 1e-6,
                        "t {t} row {n} col {j}: {got} vs {want}"
                    );
                }
            }
        }
    }

    /// `Σ dp ⊙ P(s)` by central differences against the analytic `ds`.
    #[test]
    fn backward_matches_finite_differences() {
        let pads = [1usize, 0];
        let vis = Visible::Causal {
            start: 2,
            from: Some(&pads[..]),
        };
        let sh = shape(4, 6);
        let (s, dp) = (values(sh.len(), 2), values(sh.len(), 3));
        let p = masked_softmax(&s, sh, vis, 0.5);
        let ds = masked_softmax_backward(&p, &dp, sh.keys, 0.5);
        let loss = |s: &[f32]| -> f64 {
            masked_softmax(s, sh, vis, 0.5)
                .iter()
                .zip(&dp)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum()
        };
        for i in (0..s.len()).step_by(7) {
            let h = 1e-2f32;
            let (mut up, mut down) = (s.clone(), s.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (loss(&up) - loss(&down)) / (2.0 * f64::from(h));
            let got = f64::from(ds[i]);
            assert!(
                (numeric - got).abs() < 2e-3 * (1.0 + got.abs()),
                "{i}: {got} vs {numeric}"
            );
        }
    }
}
