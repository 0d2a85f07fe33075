//! Grouped-query attention of a few new tokens over a key/value cache, in one pass per query
//! row: scores, softmax and the weighted sum of values without materialising a score tensor
//! per head or calling a matrix product per (row, head).
//!
//! For batch row `b`, query head `h` (reading key/value head `h / g`, `g = heads / kv_heads`)
//! and new token `i`, with visible key columns `J` ([`Visible`]):
//! `out[b, i, h, :] = Σ_{j ∈ J} softmax_J(q·k_j · scale)_j · v_j`.
//! Keys outside `J` (left padding, and the future of a token in a prefill) get no weight at
//! all, which is what an additive mask of `−10³⁰` gives exactly. Each output depends only on
//! its own row's inputs, so a prompt gets the same numbers alone and in a batch. A query with
//! no visible column (a padding token of a left-padded row, whose output nothing reads) gets
//! zeros.

use rayon::prelude::*;

/// Sizes of one attention call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttnShape {
    /// Batch rows `b`.
    pub batch: usize,
    /// Query heads `h`.
    pub heads: usize,
    /// Key/value heads (divides `heads`).
    pub kv_heads: usize,
    /// New tokens `t` per row (the queries).
    pub queries: usize,
    /// Cached columns `tk` (keys and values), the new tokens' included.
    pub keys: usize,
    /// Columns the key and value buffers hold per (row, head), `≥ keys` (a cache with room
    /// to grow): `k`, `v` are `[b, kv_heads, capacity, hd]`, of which the first `keys`
    /// columns are read.
    pub capacity: usize,
    /// Width of a head.
    pub head_dim: usize,
}

/// Which key columns a query reads.
#[derive(Debug, Clone, Copy)]
pub enum Visible<'a> {
    /// A decoder over its cache: new token `i` (cache column `start + i`) of row `b` reads
    /// columns `from[b] ..= start + i` (`from`: each row's left padding; `None`: 0).
    Causal {
        start: usize,
        from: Option<&'a [usize]>,
    },
    /// An encoder over right-padded rows: every query of row `b` reads columns `0..len[b]`.
    Prefix { len: &'a [usize] },
}

impl Visible<'_> {
    /// The columns new token `i` of row `r` reads, as `first..end` (empty when none).
    fn columns(&self, r: usize, i: usize, tk: usize) -> std::ops::Range<usize> {
        match *self {
            Visible::Causal { start, from } => from.map_or(0, |f| f[r])..(start + i + 1).min(tk),
            Visible::Prefix { len } => 0..len[r].min(tk),
        }
    }

    fn check_rows(&self, b: usize) {
        let rows = match *self {
            Visible::Causal { from, .. } => from.map(<[usize]>::len),
            Visible::Prefix { len } => Some(len.len()),
        };
        if let Some(rows) = rows {
            assert_eq!(rows, b, "one visible range per batch row");
        }
    }
}

/// `out: [b, t, h, hd]` from `q: [b, h, t, hd]`, `k`, `v: [b, kv_heads, capacity, hd]` (of
/// which columns `0..tk` are read), all row-major, scores scaled by `scale`.
///
/// # Panics
/// If a slice's length disagrees with `shape`, `heads` is not a multiple of `kv_heads`, or
/// `from` has not one entry per batch row.
pub fn attend(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    shape: AttnShape,
    visible: Visible<'_>,
    scale: f32,
) -> Vec<f32> {
    let AttnShape {
        batch: b,
        heads: h,
        kv_heads: hk,
        queries: t,
        keys: tk,
        capacity: cap,
        head_dim: hd,
    } = shape;
    assert!(
        hk > 0 && h % hk == 0,
        "{h} query heads over {hk} key/value heads"
    );
    assert!(
        cap >= tk,
        "a capacity of {cap} columns cannot hold {tk} keys"
    );
    assert_eq!(q.len(), b * h * t * hd, "q must be [b, h, t, hd]");
    assert_eq!(
        k.len(),
        b * hk * cap * hd,
        "k must be [b, kv_heads, capacity, hd]"
    );
    assert_eq!(v.len(), k.len(), "v must be shaped like k");
    visible.check_rows(b);
    let g = h / hk;
    // One task per (row, head): its t outputs, gathered into [b, t, h, hd] below.
    let per_head: Vec<Vec<f32>> = (0..b * h)
        .into_par_iter()
        .map(|bh| {
            let (r, head) = (bh / h, bh % h);
            let kv = (r * hk + head / g) * cap * hd;
            let (k, v) = (&k[kv..kv + tk * hd], &v[kv..kv + tk * hd]);
            let mut out = vec![0.0f32; t * hd];
            let mut scores = vec![0.0f32; tk];
            for (i, o) in out.chunks_exact_mut(hd).enumerate() {
                let cols = visible.columns(r, i, tk);
                let qi = &q[(bh * t + i) * hd..(bh * t + i + 1) * hd];
                if !cols.is_empty() {
                    one_query(qi, k, v, cols, scale, &mut scores, o);
                }
            }
            out
        })
        .collect();
    let mut out = vec![0.0f32; b * t * h * hd];
    for (bh, block) in per_head.iter().enumerate() {
        let (r, head) = (bh / h, bh % h);
        for (i, o) in block.chunks_exact(hd).enumerate() {
            let at = ((r * t + i) * h + head) * hd;
            out[at..at + hd].copy_from_slice(o);
        }
    }
    out
}

/// One query against the visible columns `cols` of one head's keys and values.
fn one_query(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    cols: std::ops::Range<usize>,
    scale: f32,
    scores: &mut [f32],
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if crate::tile::avx2_available() {
        // SAFETY: the CPU has AVX2 and FMA (checked); the body is plain safe Rust, compiled a
        // second time with those features so LLVM vectorises it with them.
        unsafe { one_query_avx2(q, k, v, cols, scale, scores, out) };
        return;
    }
    one_query_body(q, k, v, cols, scale, scores, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn one_query_avx2(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    cols: std::ops::Range<usize>,
    scale: f32,
    scores: &mut [f32],
    out: &mut [f32],
) {
    one_query_body(q, k, v, cols, scale, scores, out);
}

#[inline(always)]
fn one_query_body(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    cols: std::ops::Range<usize>,
    scale: f32,
    scores: &mut [f32],
    out: &mut [f32],
) {
    let hd = q.len();
    let scores = &mut scores[cols.clone()];
    let mut max = f32::NEG_INFINITY;
    for (s, j) in scores.iter_mut().zip(cols.clone()) {
        *s = dot(q, &k[j * hd..(j + 1) * hd]) * scale;
        max = max.max(*s);
    }
    let mut sum = 0.0f32;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    out.fill(0.0);
    for (s, j) in scores.iter().zip(cols) {
        let w = s / sum;
        for (o, vj) in out.iter_mut().zip(&v[j * hd..(j + 1) * hd]) {
            *o += w * vj;
        }
    }
}

/// `Σ a·b` in eight lanes (vectorised in the AVX2 copy), the lanes summed at the end.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let body = a.len() / 8 * 8;
    for (x, y) in a[..body].chunks_exact(8).zip(b[..body].chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f32 = a[body..].iter().zip(&b[body..]).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Attention with an explicit mask in f64: every score, `−∞` where masked, softmax, sum.
    fn reference(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        s: AttnShape,
        vis: Visible<'_>,
        scale: f64,
    ) -> Vec<f64> {
        let g = s.heads / s.kv_heads;
        let hd = s.head_dim;
        let mut out = vec![0.0; s.batch * s.queries * s.heads * hd];
        for r in 0..s.batch {
            for h in 0..s.heads {
                let kvh = h / g;
                for i in 0..s.queries {
                    let qi = &q[((r * s.heads + h) * s.queries + i) * hd..][..hd];
                    let seen = |j: usize| match vis {
                        Visible::Causal { start, from } => {
                            j >= from.map_or(0, |f| f[r]) && j <= start + i
                        }
                        Visible::Prefix { len } => j < len[r],
                    };
                    let sc: Vec<f64> = (0..s.keys)
                        .map(|j| {
                            if !seen(j) {
                                f64::NEG_INFINITY
                            } else {
                                let kj = &k[((r * s.kv_heads + kvh) * s.keys + j) * hd..][..hd];
                                scale
                                    * qi.iter()
                                        .zip(kj)
                                        .map(|(a, b)| *a as f64 * *b as f64)
                                        .sum::<f64>()
                            }
                        })
                        .collect();
                    let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    if m == f64::NEG_INFINITY {
                        continue; // a padding token before its row's first key: output 0
                    }
                    let e: Vec<f64> = sc.iter().map(|x| (x - m).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for d in 0..hd {
                        out[((r * s.queries + i) * s.heads + h) * hd + d] = (0..s.keys)
                            .map(|j| {
                                e[j] / z * v[((r * s.kv_heads + kvh) * s.keys + j) * hd + d] as f64
                            })
                            .sum();
                    }
                }
            }
        }
        out
    }

    /// Prefill (causal, with left padding per row), decoding steps (one or two new tokens at
    /// the end of a cache) and an encoder's right-padded rows, grouped heads, head widths off
    /// the lanes' multiple: within f32 rounding of the f64 masked softmax.
    #[test]
    fn matches_masked_softmax_attention() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let pads = [0usize, 3, 1];
        let lens = [5usize, 2, 4];
        let causal = |start, from| Visible::Causal { start, from };
        for (t, tk, hd, vis) in [
            (5, 5, 16, causal(0, Some(&pads[..]))),
            (1, 9, 64, causal(8, Some(&pads[..]))),
            (2, 7, 12, causal(5, None)),
            (4, 4, 8, causal(0, None)),
            (5, 5, 32, Visible::Prefix { len: &lens }),
        ] {
            let s = AttnShape {
                batch: 3,
                heads: 6,
                kv_heads: 2,
                queries: t,
                keys: tk,
                capacity: tk,
                head_dim: hd,
            };
            let mut draw =
                |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect() };
            let q = draw(3 * 6 * t * hd);
            let k = draw(3 * 2 * tk * hd);
            let v = draw(3 * 2 * tk * hd);
            let got = attend(&q, &k, &v, s, vis, 0.3);
            let want = reference(&q, &k, &v, s, vis, 0.3);
            // The same keys in buffers with three spare columns per (row, head).
            let spare = |x: &[f32]| -> Vec<f32> {
                x.chunks_exact(tk * hd)
                    .flat_map(|c| {
                        c.iter()
                            .copied()
                            .chain([7.0; 3 * 64].into_iter().take(3 * hd))
                    })
                    .collect()
            };
            let roomy = AttnShape {
                capacity: tk + 3,
                ..s
            };
            assert_eq!(attend(&q, &spare(&k), &spare(&v), roomy, vis, 0.3), got);
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (*a as f64 - b).abs() < 1e-5,
                    "{vis:?} t {t} tk {tk} hd {hd} entry {i}: {a} vs {b}"
                );
            }
        }
    }
}
