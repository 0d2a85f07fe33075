//! The gradients of [`crate::rowwise`]'s passes in their input, for LoRA training through the
//! frozen backbone: the norm's weight is frozen, so each pass needs only `dx` from `dy` and the
//! saved input, one pass over the rows instead of the backward of burn's chain of operations
//! (each of which writes a fresh buffer).

use rayon::prelude::*;

use crate::rowwise::{Placement, QkvShape, RopeTables, rotate_back};

/// Rows of at least this many values go to rayon's threads (as in [`crate::rowwise`]).
const PARALLEL_FROM: usize = 1 << 16;

/// `f` on every row of `x` (`d` values), `dy` (`d_out` values) and `dx` (`d` values), in
/// parallel on large inputs.
fn rows(
    x: &[f32],
    d: usize,
    dy: &[f32],
    d_out: usize,
    f: impl Fn(&[f32], &[f32], &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut dx = vec![0.0f32; x.len()];
    let row = |((xr, dyr), dxr): ((&[f32], &[f32]), &mut [f32])| f(xr, dyr, dxr);
    if x.len() >= PARALLEL_FROM {
        x.par_chunks(d)
            .zip(dy.par_chunks(d_out))
            .zip(dx.par_chunks_mut(d))
            .for_each(row);
    } else {
        x.chunks(d)
            .zip(dy.chunks(d_out))
            .zip(dx.chunks_mut(d))
            .for_each(row);
    }
    dx
}

/// The gradient in `x` of RMSNorm `y = x · r ⊙ w`, `r = 1/√(mean(x²) + ε)`, per row: with
/// `g = dy ⊙ w`, `dx = r·g − x · r³ · (g·x) / d`.
///
/// # Panics
/// If `x` is not rows of `w.len()` values or `dy` differs from `x` in size.
pub fn rms_norm_backward(x: &[f32], w: &[f32], eps: f32, dy: &[f32]) -> Vec<f32> {
    let d = w.len();
    assert!(d > 0 && x.len().is_multiple_of(d), "x must be rows of {d}");
    assert_eq!(dy.len(), x.len(), "dy must be shaped like x");
    rows(x, d, dy, d, |xr, dyr, dxr| {
        let mean = xr.iter().map(|v| v * v).sum::<f32>() / d as f32;
        let r = 1.0 / (mean + eps).sqrt();
        let gx: f32 = xr
            .iter()
            .zip(dyr)
            .zip(w)
            .map(|((&x, &g), &w)| x * g * w)
            .sum();
        let c = r * r * r * gx / d as f32;
        for (((o, &x), &g), &w) in dxr.iter_mut().zip(xr).zip(dyr).zip(w) {
            *o = r * g * w - x * c;
        }
    })
}

/// The gradient in `y = [gate | up]` (rows of `2f` values) of `h = silu(gate) ⊙ up` from `dh`
/// (rows of `f`): `d gate = dh ⊙ up ⊙ σ(a)·(1 + a·(1 − σ(a)))`, `d up = dh ⊙ silu(a)`.
///
/// # Panics
/// If `y` is not rows of `2f` values or `dh` is not half its size.
pub fn silu_mul_backward(y: &[f32], dh: &[f32], f: usize) -> Vec<f32> {
    assert!(
        f > 0 && y.len().is_multiple_of(2 * f),
        "y must be rows of 2 × {f}"
    );
    assert_eq!(dh.len() * 2, y.len(), "dh must be rows of {f}");
    rows(y, 2 * f, dh, f, |yr, dhr, dyr| {
        let (gate, up) = yr.split_at(f);
        let (dgate, dup) = dyr.split_at_mut(f);
        for i in 0..f {
            let a = gate[i];
            let s = 1.0 / (1.0 + (-a).exp());
            dgate[i] = dhr[i] * up[i] * s * (1.0 + a * (1.0 - s));
            dup[i] = dhr[i] * a * s;
        }
    })
}

/// The gradient in `y: [b·t, (h + 2hk)·hd]` of [`crate::rowwise::qkv_heads_joined`] from
/// `d_heads: [b, h + 2hk, t, hd]`: each query and key head rotated back (by `−θ`, the
/// transpose of the rotation), each value head copied, into the token's columns.
///
/// # Panics
/// If the lengths do not match the shape, or a position is beyond the tables.
pub fn qkv_heads_backward(
    d_heads: &[f32],
    s: QkvShape,
    at: Placement<'_>,
    rope: RopeTables<'_>,
) -> Vec<f32> {
    let (b, t, hd) = (s.batch, s.tokens, s.head_dim);
    let heads = s.heads + 2 * s.kv_heads;
    let width = heads * hd;
    assert_eq!(
        d_heads.len(),
        b * t * width,
        "d_heads must be [b, h + 2hk, t, hd]"
    );
    let half = hd / 2;
    let mut dy = vec![0.0f32; d_heads.len()];
    for r in 0..b {
        for i in 0..t {
            let token = &mut dy[(r * t + i) * width..(r * t + i + 1) * width];
            let p = at.position(r, i);
            let cos = &rope.cos[p * half..(p + 1) * half];
            let sin = &rope.sin[p * half..(p + 1) * half];
            for n in 0..heads {
                let at = ((r * heads + n) * t + i) * hd;
                let (src, dst) = (&d_heads[at..at + hd], &mut token[n * hd..(n + 1) * hd]);
                if n < s.heads + s.kv_heads {
                    rotate_back(src, dst, cos, sin, rope.pairing);
                } else {
                    dst.copy_from_slice(src);
                }
            }
        }
    }
    dy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rowwise::{Pairing, qkv_heads, qkv_heads_joined, rms_norm, silu_mul};
    use rand::{Rng, SeedableRng};

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| r.random_range(-2.0f32..2.0)).collect()
    }

    /// `Σ dy ⊙ fwd(x)` by central differences in f64 of the f32 pass, against `dx · e_i`.
    fn check(
        x: &[f32],
        dy: &[f32],
        dx: &[f32],
        fwd: impl Fn(&[f32]) -> Vec<f32>,
        picks: impl Iterator<Item = usize>,
    ) {
        let loss = |x: &[f32]| -> f64 {
            fwd(x)
                .iter()
                .zip(dy)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum()
        };
        for i in picks {
            let h = 1e-2f32;
            let (mut up, mut down) = (x.to_vec(), x.to_vec());
            up[i] += h;
            down[i] -= h;
            let numeric = (loss(&up) - loss(&down)) / (2.0 * f64::from(h));
            let got = f64::from(dx[i]);
            assert!(
                (numeric - got).abs() <= 2e-2 * (1.0 + got.abs()),
                "entry {i}: analytic {got}, numeric {numeric}"
            );
        }
    }

    #[test]
    fn rms_norm_backward_matches_finite_differences_on_small_and_parallel_sizes() {
        for rows in [1, 3, 130] {
            let d = 576;
            let (x, w, dy) = (values(rows * d, 1), values(d, 2), values(rows * d, 3));
            let dx = rms_norm_backward(&x, &w, 1e-5, &dy);
            let picks = (0..x.len()).step_by(x.len() / 37 + 1);
            check(&x, &dy, &dx, |x| rms_norm(x, &w, 1e-5), picks);
        }
    }

    #[test]
    fn silu_mul_backward_matches_finite_differences_on_small_and_parallel_sizes() {
        for rows in [1, 2, 60] {
            let f = 1536;
            let (y, dh) = (values(rows * 2 * f, 4), values(rows * f, 5));
            let dy = silu_mul_backward(&y, &dh, f);
            let picks = (0..y.len())
                .step_by(y.len() / 41 + 1)
                .chain([f - 1, f, 2 * f - 1]);
            check(&y, &dh, &dy, |y| silu_mul(y, f), picks);
        }
    }

    /// The joined split equals the three-buffer split laid end to end per batch row, and its
    /// gradient matches finite differences in both pairings, with left padding.
    #[test]
    fn qkv_heads_joined_and_its_backward() {
        let (b, t, h, hk, hd) = (2, 3, 4, 2, 8);
        let shape = QkvShape {
            batch: b,
            tokens: t,
            heads: h,
            kv_heads: hk,
            head_dim: hd,
        };
        let half = hd / 2;
        let (cos, sin): (Vec<f32>, Vec<f32>) = (0..8 * half)
            .map(|n| {
                let a = (n / half) as f32 * 0.3 / (1 + n % half) as f32;
                (a.cos(), a.sin())
            })
            .unzip();
        let pads = [0usize, 1];
        let at = Placement {
            start: 2,
            pads: Some(&pads),
        };
        let y = values(b * t * (h + 2 * hk) * hd, 6);
        for pairing in [Pairing::RotateHalf, Pairing::Interleaved] {
            let rope = RopeTables {
                cos: &cos,
                sin: &sin,
                pairing,
            };
            let joined = qkv_heads_joined(&y, shape, at, rope);
            let three = qkv_heads(&y, shape, at, rope);
            let per =
                |v: &[f32], n: usize, r: usize| v[r * n * t * hd..(r + 1) * n * t * hd].to_vec();
            let want: Vec<f32> = (0..b)
                .flat_map(|r| {
                    [
                        per(&three.q, h, r),
                        per(&three.k, hk, r),
                        per(&three.v, hk, r),
                    ]
                    .concat()
                })
                .collect();
            assert_eq!(joined, want);
            let d = values(joined.len(), 7);
            let dy = qkv_heads_backward(&d, shape, at, rope);
            let picks = (0..y.len()).step_by(5);
            check(&y, &d, &dy, |y| qkv_heads_joined(y, shape, at, rope), picks);
        }
    }
}
