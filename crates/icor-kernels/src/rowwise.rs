//! The element-wise work of one decoder block in one pass each, instead of a chain of burn
//! operations that each write a fresh buffer: RMSNorm, SiLU(gate) ⊙ up, and the split of the
//! fused Q/K/V product into heads with RoPE applied to Q and K; for the BERT encoder of the
//! dense retriever, LayerNorm with its residual added and the erf GELU.
//!
//! Each output value is computed from its own row alone, so a prompt gets the same numbers
//! alone and in a batch (the batched decoding tests rely on it).

use rayon::prelude::*;

/// Rows below this many values run on the calling thread: one prompt's decoding step is a few
/// thousand values, where waking rayon's threads costs more than the arithmetic; a batch of
/// sixteen prompts' SiLU·up (`[16, 3072]`) is worth both threads.
const PARALLEL_FROM: usize = 1 << 14;

/// RMSNorm (Zhang & Sennrich 2019) of every row of `x` (rows of `w.len()` values):
/// `y = x / √(mean(x²) + ε) ⊙ w`.
///
/// # Panics
/// If `x.len()` is not a multiple of `w.len()`.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let d = w.len();
    assert!(d > 0 && x.len().is_multiple_of(d), "x must be rows of {d}");
    let mut y = vec![0.0f32; x.len()];
    let row = |(xr, yr): (&[f32], &mut [f32])| {
        let mean = xr.iter().map(|v| v * v).sum::<f32>() / d as f32;
        let inv = 1.0 / (mean + eps).sqrt();
        for ((o, &v), &g) in yr.iter_mut().zip(xr).zip(w) {
            *o = v * inv * g;
        }
    };
    if x.len() >= PARALLEL_FROM {
        x.par_chunks(d).zip(y.par_chunks_mut(d)).for_each(row);
    } else {
        x.chunks(d).zip(y.chunks_mut(d)).for_each(row);
    }
    y
}

/// `silu(gate) ⊙ up` for rows of `[gate | up]` (`2f` values each) as rows of `f` values, with
/// `silu(a) = a · σ(a)`.
///
/// # Panics
/// If `y.len()` is not a multiple of `2f`.
pub fn silu_mul(y: &[f32], f: usize) -> Vec<f32> {
    assert!(
        f > 0 && y.len().is_multiple_of(2 * f),
        "y must be rows of 2 × {f}"
    );
    let mut out = vec![0.0f32; y.len() / 2];
    let row = |(yr, or): (&[f32], &mut [f32])| {
        let (gate, up) = yr.split_at(f);
        for ((o, &a), &u) in or.iter_mut().zip(gate).zip(up) {
            *o = a / (1.0 + (-a).exp()) * u;
        }
    };
    if y.len() >= PARALLEL_FROM {
        y.par_chunks(2 * f).zip(out.par_chunks_mut(f)).for_each(row);
    } else {
        y.chunks(2 * f).zip(out.chunks_mut(f)).for_each(row);
    }
    out
}

/// LayerNorm (Ba et al. 2016) of every row of `x + residual` (rows of `gamma.len()` values;
/// `residual` `None`: of `x`), with the biased variance as PyTorch:
/// `y = (z − μ) / √(σ² + ε) ⊙ γ + β`, the mean and variance in two passes over the row.
///
/// # Panics
/// If `x.len()` is not a multiple of `gamma.len()`, or `beta` or `residual` differ in size.
pub fn layer_norm(
    x: &[f32],
    residual: Option<&[f32]>,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) -> Vec<f32> {
    let d = gamma.len();
    assert!(d > 0 && x.len().is_multiple_of(d), "x must be rows of {d}");
    assert_eq!(beta.len(), d, "β must have {d} values");
    assert!(
        residual.is_none_or(|r| r.len() == x.len()),
        "residual must match x"
    );
    let mut y = x.to_vec();
    if let Some(r) = residual {
        for (v, &a) in y.iter_mut().zip(r) {
            *v += a;
        }
    }
    let row = |yr: &mut [f32]| {
        let mean = yr.iter().sum::<f32>() / d as f32;
        let var = yr.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, &g), &b) in yr.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    };
    if x.len() >= PARALLEL_FROM {
        y.par_chunks_mut(d).for_each(row);
    } else {
        y.chunks_mut(d).for_each(row);
    }
    y
}

/// GELU in its exact form, `x/2 · (1 + erf(x/√2))` (BERT's activation), with [`erf`].
pub fn gelu_erf(x: &[f32]) -> Vec<f32> {
    let f = |v: f32| 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
    if x.len() >= PARALLEL_FROM {
        x.par_iter().map(|&v| f(v)).collect()
    } else {
        x.iter().map(|&v| f(v)).collect()
    }
}

/// erf in f32 as a rational function of x on [−4, 4] (±1 beyond, where f32 rounds erf to ±1):
/// x·P(x²)/Q(x²), the form and coefficients of Eigen's `generic_fast_erf_float` (MPL-2.0),
/// with plain products and sums (`mul_add` is a libm call per value where the build does
/// not enable FMA);
/// absolute error under 1e-6 (`erf_is_within_1e-6_of_its_series`). Written here rather than
/// taken from `libm` because `libm::erff` is a branchy scalar call per value, where this
/// loop of multiply-adds vectorises; BERT's GELU spent 12 % of the encoder's time in `erff`.
#[inline]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p - 2.101_024e-6;
    p = x2 * p - 5.692_506_4e-5;
    p = x2 * p - 7.349_906_3e-4;
    p = x2 * p - 2.954_6e-3;
    p = x2 * p - 1.609_603_3e-2;
    let mut q = x2 * -1.456_607_2e-5 - 2.133_740_6e-4;
    q = x2 * q - 1.682_827e-3;
    q = x2 * q - 7.373_329e-3;
    q = x2 * q - 1.426_474e-2;
    x * p / q
}

/// How RoPE pairs a head's coordinates (Su et al. 2021): `(i, i + d/2)` or `(2i, 2i + 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    RotateHalf,
    Interleaved,
}

/// The shape of a fused Q/K/V product: `b × t` tokens, `h` query heads and `hk` key/value heads
/// of `hd` values, columns `Q | K | V`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QkvShape {
    pub batch: usize,
    pub tokens: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// RoPE tables `[positions, head_dim / 2]` (`cos`, `sin` of `p · θ^(−2i/d)`) and how they pair.
#[derive(Debug, Clone, Copy)]
pub struct RopeTables<'a> {
    pub cos: &'a [f32],
    pub sin: &'a [f32],
    pub pairing: Pairing,
}

/// Where the new tokens sit: token `i` of row `r` at position `start + i − pads[r]` (rows
/// left-padded by `pads[r]` columns; padding columns clamp to 0, and no query reads them).
/// The same description as [`crate::Visible::Causal`] gives the attention kernel.
#[derive(Debug, Clone, Copy)]
pub struct Placement<'a> {
    pub start: usize,
    pub pads: Option<&'a [usize]>,
}

impl Placement<'_> {
    /// The position of token `i` of row `r`.
    pub fn position(&self, r: usize, i: usize) -> usize {
        (self.start + i).saturating_sub(self.pads.map_or(0, |p| p[r]))
    }
}

/// Q, K and V in attention's head-major layout: `q: [b, h, t, hd]`, `k`, `v: [b, hk, t, hd]`.
pub struct Heads {
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
}

/// Splits `y: [b·t, (h + 2hk)·hd]` into heads, rotating Q and K by RoPE at the positions
/// `at` gives each token.
///
/// # Panics
/// If the lengths do not match the shape, or a position is beyond the tables.
pub fn qkv_heads(y: &[f32], s: QkvShape, at: Placement<'_>, rope: RopeTables<'_>) -> Heads {
    let (b, t, hd) = (s.batch, s.tokens, s.head_dim);
    let width = (s.heads + 2 * s.kv_heads) * hd;
    assert_eq!(y.len(), b * t * width, "y must be [b·t, (h + 2hk)·hd]");
    let half = hd / 2;
    let mut heads = Heads {
        q: vec![0.0; b * s.heads * t * hd],
        k: vec![0.0; b * s.kv_heads * t * hd],
        v: vec![0.0; b * s.kv_heads * t * hd],
    };
    for r in 0..b {
        for i in 0..t {
            let token = &y[(r * t + i) * width..(r * t + i + 1) * width];
            let p = at.position(r, i);
            let cos = &rope.cos[p * half..(p + 1) * half];
            let sin = &rope.sin[p * half..(p + 1) * half];
            let (q, rest) = token.split_at(s.heads * hd);
            let (k, v) = rest.split_at(s.kv_heads * hd);
            let off = |n: usize, j: usize| ((r * n + j) * t + i) * hd;
            for j in 0..s.heads {
                let dst = &mut heads.q[off(s.heads, j)..off(s.heads, j) + hd];
                rotate(&q[j * hd..(j + 1) * hd], dst, cos, sin, rope.pairing);
            }
            for j in 0..s.kv_heads {
                let dst = &mut heads.k[off(s.kv_heads, j)..off(s.kv_heads, j) + hd];
                rotate(&k[j * hd..(j + 1) * hd], dst, cos, sin, rope.pairing);
                heads.v[off(s.kv_heads, j)..off(s.kv_heads, j) + hd]
                    .copy_from_slice(&v[j * hd..(j + 1) * hd]);
            }
        }
    }
    heads
}

/// [`qkv_heads`] with the three in one buffer `[b, h + 2hk, t, hd]` (per batch row the query
/// heads, then the key heads, then the value heads): the layout of the training pass, whose
/// gradient [`crate::rowwise_grad::qkv_heads_backward`] reads it back in one piece.
///
/// # Panics
/// If the lengths do not match the shape, or a position is beyond the tables.
pub fn qkv_heads_joined(
    y: &[f32],
    s: QkvShape,
    at: Placement<'_>,
    rope: RopeTables<'_>,
) -> Vec<f32> {
    let (b, t, hd) = (s.batch, s.tokens, s.head_dim);
    let heads = s.heads + 2 * s.kv_heads;
    let width = heads * hd;
    assert_eq!(y.len(), b * t * width, "y must be [b·t, (h + 2hk)·hd]");
    let half = hd / 2;
    let mut out = vec![0.0f32; y.len()];
    for r in 0..b {
        for i in 0..t {
            let token = &y[(r * t + i) * width..(r * t + i + 1) * width];
            let p = at.position(r, i);
            let cos = &rope.cos[p * half..(p + 1) * half];
            let sin = &rope.sin[p * half..(p + 1) * half];
            for n in 0..heads {
                let at = ((r * heads + n) * t + i) * hd;
                let (src, dst) = (&token[n * hd..(n + 1) * hd], &mut out[at..at + hd]);
                if n < s.heads + s.kv_heads {
                    rotate(src, dst, cos, sin, rope.pairing);
                } else {
                    dst.copy_from_slice(src);
                }
            }
        }
    }
    out
}

/// One head rotated back (the transpose of [`rotate`]): pair `(a, b)` becomes
/// `(a·cos + b·sin, b·cos − a·sin)`.
pub(crate) fn rotate_back(x: &[f32], out: &mut [f32], cos: &[f32], sin: &[f32], pairing: Pairing) {
    let half = x.len() / 2;
    match pairing {
        Pairing::RotateHalf => {
            let (x1, x2) = x.split_at(half);
            let (o1, o2) = out.split_at_mut(half);
            for i in 0..half {
                o1[i] = x1[i] * cos[i] + x2[i] * sin[i];
                o2[i] = x2[i] * cos[i] - x1[i] * sin[i];
            }
        }
        Pairing::Interleaved => {
            for i in 0..half {
                let (a, b) = (x[2 * i], x[2 * i + 1]);
                out[2 * i] = a * cos[i] + b * sin[i];
                out[2 * i + 1] = b * cos[i] - a * sin[i];
            }
        }
    }
}

/// One head rotated: pair `(a, b)` becomes `(a·cos − b·sin, b·cos + a·sin)`.
pub(crate) fn rotate(x: &[f32], out: &mut [f32], cos: &[f32], sin: &[f32], pairing: Pairing) {
    let half = x.len() / 2;
    match pairing {
        Pairing::RotateHalf => {
            let (x1, x2) = x.split_at(half);
            let (o1, o2) = out.split_at_mut(half);
            for i in 0..half {
                o1[i] = x1[i] * cos[i] - x2[i] * sin[i];
                o2[i] = x2[i] * cos[i] + x1[i] * sin[i];
            }
        }
        Pairing::Interleaved => {
            for i in 0..half {
                let (a, b) = (x[2 * i], x[2 * i + 1]);
                out[2 * i] = a * cos[i] - b * sin[i];
                out[2 * i + 1] = a * sin[i] + b * cos[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| r.random_range(-2.0f32..2.0)).collect()
    }

    #[test]
    fn rms_norm_matches_its_definition_in_f64_on_small_and_parallel_sizes() {
        for rows in [1, 3, 200] {
            let d = 576;
            let (x, w) = (values(rows * d, 1), values(d, 2));
            let y = rms_norm(&x, &w, 1e-5);
            for r in 0..rows {
                let xr = &x[r * d..(r + 1) * d];
                let ms = xr.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / d as f64;
                for c in 0..d {
                    let want = xr[c] as f64 / (ms + 1e-5).sqrt() * w[c] as f64;
                    let got = y[r * d + c] as f64;
                    assert!((got - want).abs() <= 1e-5 * (1.0 + want.abs()), "{r},{c}");
                }
            }
        }
    }

    /// erf by its Taylor series in f64 (terms alternate; on |x| ≤ 4 the largest is below
    /// 1e7, so the sum keeps ~1e-9).
    fn erf_series(x: f64) -> f64 {
        if x.abs() > 4.5 {
            return x.signum(); // 1 − erf(4.5) ≈ 2e-10
        }
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_is_within_1e_6_of_its_series() {
        let mut worst = 0f64;
        for i in -5000..=5000 {
            let x = i as f64 * 0.001; // −5 … 5
            let want = erf_series(x);
            worst = worst.max((f64::from(erf(x as f32)) - want).abs());
        }
        assert!(worst < 1e-6, "max abs error {worst}");
    }

    #[test]
    fn gelu_and_layer_norm_match_their_definitions_in_f64() {
        let d = 384;
        for rows in [1, 200] {
            let (x, r) = (values(rows * d, 5), values(rows * d, 6));
            let (g, b) = (values(d, 7), values(d, 8));
            let y = gelu_erf(&x);
            let gelu = |v: f64| 0.5 * v * (1.0 + erf_series(v / 2f64.sqrt()));
            for (&v, &got) in x.iter().zip(&y) {
                // the batch as computed (in parallel at 200 rows), and alone at 4v (the tails)
                let want = gelu(f64::from(v));
                assert!(
                    (f64::from(got) - want).abs() <= 2e-6 * (1.0 + want.abs()),
                    "{v}"
                );
                let v = f64::from(v) * 4.0;
                let got = gelu_erf(&[v as f32])[0];
                let want = gelu(v);
                assert!(
                    (f64::from(got) - want).abs() <= 2e-6 * (1.0 + want.abs()),
                    "{v}"
                );
            }
            assert_eq!(y.len(), x.len());
            let ln = layer_norm(&x, Some(&r), &g, &b, 1e-12);
            for row in 0..rows {
                let z: Vec<f64> = (0..d)
                    .map(|c| f64::from(x[row * d + c]) + f64::from(r[row * d + c]))
                    .collect();
                let mean = z.iter().sum::<f64>() / d as f64;
                let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
                for c in 0..d {
                    let want =
                        (z[c] - mean) / (var + 1e-12).sqrt() * f64::from(g[c]) + f64::from(b[c]);
                    let got = f64::from(ln[row * d + c]);
                    assert!((got - want).abs() <= 1e-5 * (1.0 + want.abs()), "{row},{c}");
                }
            }
        }
    }

    #[test]
    fn silu_mul_matches_its_definition_in_f64() {
        for rows in [1, 40] {
            let f = 1536;
            let y = values(rows * 2 * f, 3);
            let out = silu_mul(&y, f);
            for r in 0..rows {
                for c in 0..f {
                    let (a, u) = (y[r * 2 * f + c] as f64, y[r * 2 * f + f + c] as f64);
                    let want = a / (1.0 + (-a).exp()) * u;
                    assert!((out[r * f + c] as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()));
                }
            }
        }
    }

    /// The split and rotation written out index by index, in f64.
    fn reference(
        y: &[f32],
        s: QkvShape,
        pos: &[usize],
        cos: &[f32],
        sin: &[f32],
        pairing: Pairing,
    ) -> [Vec<f64>; 3] {
        let (b, t, hd) = (s.batch, s.tokens, s.head_dim);
        let width = (s.heads + 2 * s.kv_heads) * hd;
        let half = hd / 2;
        let mut out = [
            vec![0.0; b * s.heads * t * hd],
            vec![0.0; b * s.kv_heads * t * hd],
            vec![0.0; b * s.kv_heads * t * hd],
        ];
        for r in 0..b {
            for i in 0..t {
                let p = pos[r * t + i];
                for (part, heads, col0) in [
                    (0, s.heads, 0),
                    (1, s.kv_heads, s.heads * hd),
                    (2, s.kv_heads, (s.heads + s.kv_heads) * hd),
                ] {
                    for j in 0..heads {
                        for c in 0..hd {
                            let x = |c: usize| y[(r * t + i) * width + col0 + j * hd + c] as f64;
                            let (partner, sign, f) = match pairing {
                                Pairing::RotateHalf if c < half => (c + half, -1.0, c),
                                Pairing::RotateHalf => (c - half, 1.0, c - half),
                                Pairing::Interleaved if c % 2 == 0 => (c + 1, -1.0, c / 2),
                                Pairing::Interleaved => (c - 1, 1.0, c / 2),
                            };
                            let (co, si) = (cos[p * half + f] as f64, sin[p * half + f] as f64);
                            let v = if part == 2 {
                                x(c)
                            } else {
                                x(c) * co + sign * x(partner) * si
                            };
                            out[part][((r * heads + j) * t + i) * hd + c] = v;
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn qkv_heads_split_and_rotate_as_written_out_in_both_pairings() {
        let s = QkvShape {
            batch: 2,
            tokens: 3,
            heads: 4,
            kv_heads: 2,
            head_dim: 8,
        };
        let y = values(2 * 3 * (4 + 4) * 8, 4);
        let (cos, sin) = (values(20 * 4, 5), values(20 * 4, 6));
        let pos = [0, 1, 2, 7, 8, 9];
        let pads = [7, 0];
        let at = Placement {
            start: 7,
            pads: Some(&pads),
        };
        let placed: Vec<usize> = (0..2)
            .flat_map(|r| (0..3).map(move |i| (r, i)))
            .map(|(r, i)| at.position(r, i))
            .collect();
        assert_eq!(placed, pos);
        for pairing in [Pairing::RotateHalf, Pairing::Interleaved] {
            let rope = RopeTables {
                cos: &cos,
                sin: &sin,
                pairing,
            };
            let got = qkv_heads(&y, s, at, rope);
            let want = reference(&y, s, &pos, &cos, &sin, pairing);
            for (g, w) in [&got.q, &got.k, &got.v].into_iter().zip(&want) {
                assert_eq!(g.len(), w.len());
                for (a, b) in g.iter().zip(w) {
                    assert!((*a as f64 - b).abs() < 1e-5, "{pairing:?}: {a} vs {b}");
                }
            }
        }
    }
}
