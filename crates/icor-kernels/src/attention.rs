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

mod group;
mod softmax;

use rayon::prelude::*;

use crate::value::Value;
use group::{Head, KeysT, Scratch, group};

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
    pub(crate) fn columns(&self, r: usize, i: usize, tk: usize) -> std::ops::Range<usize> {
        match *self {
            Visible::Causal { start, from } => from.map_or(0, |f| f[r])..(start + i + 1).min(tk),
            Visible::Prefix { len } => 0..len[r].min(tk),
        }
    }

    pub(crate) fn check_rows(&self, b: usize) {
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
/// which columns `0..tk` are read), all row-major, scores scaled by `scale`. The keys and
/// values are f32, or f16 (a cache at half the bytes): read as f32, they give the numbers of
/// the same values stored as f32, bit for bit (a test).
///
/// # Panics
/// If a slice's length disagrees with `shape`, `heads` is not a multiple of `kv_heads`, or
/// `from` has not one entry per batch row.
pub fn attend<T: Value>(
    q: &[f32],
    k: &[T],
    v: &[T],
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
    // One task per (row, key/value head, block of new tokens): the `g` query heads of a group
    // read each key and value once for all of them.
    let blocks = t.div_ceil(TOKENS_PER_TASK);
    let tasks: Vec<Vec<f32>> = (0..b * hk * blocks)
        .into_par_iter()
        .map(|task| {
            let (r, kvh, blk) = (task / (hk * blocks), task / blocks % hk, task % blocks);
            let kv = (r * hk + kvh) * cap * hd;
            let (k, v) = (&k[kv..kv + tk * hd], &v[kv..kv + tk * hd]);
            let tokens = blk * TOKENS_PER_TASK..((blk + 1) * TOKENS_PER_TASK).min(t);
            let mut out = vec![0.0f32; tokens.len() * g * hd];
            let mut scratch = Scratch::new(g, hd, tk);
            // Several tokens read the same keys: transposed once for all of them.
            let kt = (tokens.len() > 1 && KeysT::useful(hd)).then(|| {
                let upto = tokens.clone().map(|i| visible.columns(r, i, tk).end).max();
                KeysT::of(k, hd, upto.unwrap_or(0))
            });
            for (i, o) in tokens.zip(out.chunks_exact_mut(g * hd)) {
                let cols = visible.columns(r, i, tk);
                if cols.is_empty() {
                    continue;
                }
                for a in 0..g {
                    let at = ((r * h + kvh * g + a) * t + i) * hd;
                    scratch.q[a * hd..(a + 1) * hd].copy_from_slice(&q[at..at + hd]);
                }
                let head = Head {
                    k,
                    v,
                    cols,
                    scale,
                    kt: kt.as_ref(),
                };
                group(&head, &mut scratch, o);
            }
            out
        })
        .collect();
    // Task blocks are [tokens, g, hd]; in `out` a group's heads are adjacent: [b, t, h, hd].
    let mut out = vec![0.0f32; b * t * h * hd];
    for (task, block) in tasks.iter().enumerate() {
        let (r, kvh, blk) = (task / (hk * blocks), task / blocks % hk, task % blocks);
        for (n, o) in block.chunks_exact(g * hd).enumerate() {
            let i = blk * TOKENS_PER_TASK + n;
            let at = ((r * t + i) * h + kvh * g) * hd;
            out[at..at + g * hd].copy_from_slice(o);
        }
    }
    out
}

/// New tokens per task: a prefill of hundreds of tokens still splits into enough tasks.
const TOKENS_PER_TASK: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;
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
    /// the end of a cache), an encoder's right-padded rows and a prefill of more new tokens
    /// than one task takes, grouped heads, head widths off the lanes' multiple: within f32
    /// rounding of the f64 masked softmax, and the same with spare columns in the buffers.
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
            (70, 73, 8, causal(3, None)), // two blocks of new tokens per task
            (6, 70, 64, causal(64, Some(&pads[..]))), // a prefill after a cache, padded
            (1, 40, 64, causal(39, Some(&pads[..]))), // a decoding step's blocks of 16 keys
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
            // Keys and values stored as f16 give, bit for bit, what the same values stored
            // as f32 give.
            let half = |x: &[f32]| -> Vec<f16> { x.iter().map(|&x| f16::from_f32(x)).collect() };
            let widened = |x: &[f16]| -> Vec<f32> { x.iter().map(|x| x.to_f32()).collect() };
            let (k16, v16) = (half(&k), half(&v));
            let from_f16 = attend(&q, &k16, &v16, s, vis, 0.3);
            let from_f32 = attend(&q, &widened(&k16), &widened(&v16), s, vis, 0.3);
            let differ = from_f16
                .iter()
                .zip(&from_f32)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(differ, None, "f16 keys, {vis:?} t {t} tk {tk} hd {hd}");
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (*a as f64 - b).abs() < 1e-5,
                    "{vis:?} t {t} tk {tk} hd {hd} entry {i}: {a} vs {b}"
                );
            }
        }
    }

    /// A prefill's tokens (several per task: the keys transposed once, [`KeysT`]) get the
    /// numbers each token gets alone as a decoding step, bit for bit, in every head width
    /// the models use, with left padding and after a cache.
    #[test]
    fn a_prefill_equals_its_tokens_one_at_a_time_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let pads = [0usize, 7];
        for (hd, start, t) in [(32usize, 0usize, 40usize), (64, 10, 90), (128, 3, 21)] {
            let tk = start + t;
            let (b, h, hk) = (2, 6, 2);
            let mut draw =
                |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect() };
            let (q, k, v) = (
                draw(b * h * t * hd),
                draw(b * hk * tk * hd),
                draw(b * hk * tk * hd),
            );
            let shape = AttnShape {
                batch: b,
                heads: h,
                kv_heads: hk,
                queries: t,
                keys: tk,
                capacity: tk,
                head_dim: hd,
            };
            let vis = Visible::Causal {
                start,
                from: Some(&pads),
            };
            let all = attend(&q, &k, &v, shape, vis, 0.125);
            for i in 0..t {
                // token i alone: its query, the cache up to its own column
                let qi: Vec<f32> = q
                    .chunks_exact(t * hd)
                    .flat_map(|head| head[i * hd..(i + 1) * hd].to_vec())
                    .collect();
                let one = AttnShape {
                    queries: 1,
                    keys: start + i + 1,
                    ..shape
                };
                let vis = Visible::Causal {
                    start: start + i,
                    from: Some(&pads),
                };
                let alone = attend(&qi, &k, &v, one, vis, 0.125);
                for r in 0..b {
                    let got = &all[(r * t + i) * h * hd..][..h * hd];
                    let want = &alone[r * h * hd..][..h * hd];
                    let differ = got
                        .iter()
                        .zip(want)
                        .position(|(a, b)| a.to_bits() != b.to_bits());
                    assert_eq!(differ, None, "hd {hd} start {start} token {i} row {r}");
                }
            }
        }
    }
}
