//! One group's attention: the `g` query heads that share a key/value head, for one new token,
//! against that head's visible columns.
//!
//! Two bodies compute the same numbers bit for bit (a test): [`group_body`] for any head width,
//! and [`group_fixed`] for the widths the models use (MiniLM's 32, the LLMs' 64, 128), which the AVX2 build runs.
//! The fixed one keeps every sum in the same order but lets the CPU overlap them: four keys'
//! dot products at once (four independent accumulators instead of one dependent chain per
//! score), and each query's output row held in registers across the keys instead of loaded
//! and stored again for every key.

#[cfg(target_arch = "x86_64")]
mod x86_512;

use super::softmax::softmax_rows;
use crate::value::Value;

/// One key/value head as a group reads it: its keys and values (`[tk, hd]` each), the
/// columns the group's token sees, the scores' scale, and the keys transposed where the
/// caller made them ([`KeysT`]: for many tokens of one head, a prefill).
#[derive(Debug, Clone)]
pub(super) struct Head<'a, T> {
    pub(super) k: &'a [T],
    pub(super) v: &'a [T],
    pub(super) cols: std::ops::Range<usize>,
    pub(super) scale: f32,
    pub(super) kt: Option<&'a KeysT>,
}

/// A head's first keys transposed, `[hd, ld]`: key `j`'s value `d` at `d·ld + j`, so that
/// sixteen consecutive keys' values `d` are one vector. Made once for the tokens of a task.
#[derive(Debug, Default)]
pub(super) struct KeysT {
    pub(super) kt: Vec<f32>,
    pub(super) ld: usize,
}

impl KeysT {
    /// Keys `0..upto` of `k: [tk, hd]`.
    pub(super) fn of<T: Value>(k: &[T], hd: usize, upto: usize) -> Self {
        let ld = upto.max(1);
        let mut kt = vec![0.0f32; hd * ld];
        for (j, key) in k[..upto * hd].chunks_exact(hd).enumerate() {
            for (d, &x) in key.iter().enumerate() {
                kt[d * ld + j] = x.f32();
            }
        }
        Self { kt, ld }
    }

    /// Whether the transposed body runs on this CPU for heads `hd` wide.
    pub(super) fn useful(hd: usize) -> bool {
        cfg!(target_arch = "x86_64")
            && matches!(hd, 32 | 64 | 128)
            && crate::tile::isa() >= crate::tile::Isa::Avx512
    }
}

/// A task's buffers: the group's queries `[g, hd]` and their scores `[g, tk]`.
pub(super) struct Scratch {
    pub(super) q: Vec<f32>,
    scores: Vec<f32>,
    g: usize,
    tk: usize,
}

impl Scratch {
    pub(super) fn new(g: usize, hd: usize, tk: usize) -> Self {
        Self {
            q: vec![0.0; g * hd],
            scores: vec![0.0; g * tk],
            g,
            tk,
        }
    }
}

/// The `g` queries in `scratch.q` against the visible columns `cols` of one key/value head;
/// writes `out: [g, hd]`.
pub(super) fn group<T: Value>(head: &Head<'_, T>, scratch: &mut Scratch, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::tile::isa() >= crate::tile::Isa::Avx512 {
        // SAFETY: `isa()` is Avx512 only where the CPU has AVX-512F, AVX2 and FMA.
        let done = unsafe { group_avx512(head, scratch, out) };
        if done {
            return;
        }
    }
    #[cfg(target_arch = "x86_64")]
    if crate::tile::avx2_available() {
        // SAFETY: the CPU has AVX2 and FMA (checked); the bodies are plain safe Rust, compiled
        // a second time with those features so LLVM vectorises them with them.
        unsafe { group_avx2(head, scratch, out) };
        return;
    }
    group_body(head, scratch, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn group_avx2<T: Value>(head: &Head<'_, T>, scratch: &mut Scratch, out: &mut [f32]) {
    match scratch.q.len() / scratch.g {
        32 => group_fixed::<_, 32>(head, scratch, out),
        64 => group_fixed::<_, 64>(head, scratch, out),
        128 => group_fixed::<_, 128>(head, scratch, out),
        _ => group_body(head, scratch, out),
    }
}

/// The AVX-512 body for heads 32, 64 or 128 wide; `false` (nothing done) for other widths.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn group_avx512<T: Value>(head: &Head<'_, T>, scratch: &mut Scratch, out: &mut [f32]) -> bool {
    if let Some(kt) = head.kt {
        match scratch.q.len() / scratch.g {
            32 => x86_512::group_transposed::<_, 32>(head, kt, scratch, out),
            64 => x86_512::group_transposed::<_, 64>(head, kt, scratch, out),
            128 => x86_512::group_transposed::<_, 128>(head, kt, scratch, out),
            _ => return false,
        }
        return true;
    }
    match scratch.q.len() / scratch.g {
        32 => x86_512::group_fixed::<_, 32>(head, scratch, out),
        64 => x86_512::group_fixed::<_, 64>(head, scratch, out),
        128 => x86_512::group_fixed::<_, 128>(head, scratch, out),
        _ => return false,
    }
    true
}

#[inline(always)]
fn group_body<T: Value>(head: &Head<'_, T>, scratch: &mut Scratch, out: &mut [f32]) {
    let (k, v, cols, scale) = (head.k, head.v, head.cols.clone(), head.scale);
    let Scratch { q, scores, g, tk } = scratch;
    let (g, tk) = (*g, *tk);
    let hd = q.len() / g;
    let n = cols.len();
    // Scores: each key row read once for the whole group.
    for (c, j) in cols.clone().enumerate() {
        let kj = &k[j * hd..(j + 1) * hd];
        for a in 0..g {
            scores[a * tk + c] = dot(&q[a * hd..(a + 1) * hd], kj) * scale;
        }
    }
    softmax_rows(scores, g, tk, n);
    // Weighted values: each value row read once for the whole group.
    out.fill(0.0);
    for (c, j) in cols.enumerate() {
        let vj = &v[j * hd..(j + 1) * hd];
        for a in 0..g {
            let w = scores[a * tk + c];
            for (o, x) in out[a * hd..(a + 1) * hd].iter_mut().zip(vj) {
                *o += w * x.f32();
            }
        }
    }
}

/// [`group_body`] for heads `HD` wide (a multiple of 8), the same operations in the same order
/// per score and per output.
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn group_fixed<T: Value, const HD: usize>(
    head: &Head<'_, T>,
    scratch: &mut Scratch,
    out: &mut [f32],
) {
    let (k, v, cols, scale) = (head.k, head.v, head.cols.clone(), head.scale);
    let Scratch { q, scores, g, tk } = scratch;
    let (g, tk) = (*g, *tk);
    let n = cols.len();
    let key = |j: usize| -> &[T; HD] { k[j * HD..(j + 1) * HD].try_into().expect("HD wide") };
    for a in 0..g {
        let qa: &[f32; HD] = q[a * HD..(a + 1) * HD].try_into().expect("HD wide");
        let row = &mut scores[a * tk..a * tk + n];
        let mut c = 0;
        while c + 4 <= n {
            let j = cols.start + c;
            let d = dot4(qa, [key(j), key(j + 1), key(j + 2), key(j + 3)]);
            for (s, d) in row[c..c + 4].iter_mut().zip(d) {
                *s = d * scale;
            }
            c += 4;
        }
        for c in c..n {
            row[c] = dot(qa, key(cols.start + c)) * scale;
        }
    }
    softmax_rows(scores, g, tk, n);
    for a in 0..g {
        let mut o = [0.0f32; HD];
        for (c, j) in cols.clone().enumerate() {
            let w = scores[a * tk + c];
            let vj: &[T; HD] = v[j * HD..(j + 1) * HD].try_into().expect("HD wide");
            for (o, x) in o.iter_mut().zip(vj) {
                *o += w * x.f32();
            }
        }
        out[a * HD..(a + 1) * HD].copy_from_slice(&o);
    }
}

/// `Σ a·b` in eight lanes (vectorised in the AVX2 copy), the lanes summed at the end.
#[inline(always)]
fn dot<T: Value>(a: &[f32], b: &[T]) -> f32 {
    let mut acc = [0.0f32; 8];
    let body = a.len() / 8 * 8;
    for (x, y) in a[..body].chunks_exact(8).zip(b[..body].chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += x[l] * y[l].f32();
        }
    }
    let tail: f32 = a[body..]
        .iter()
        .zip(&b[body..])
        .map(|(x, y)| x * y.f32())
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// [`dot`] of `a` with four rows at once, each summed exactly as [`dot`] sums it: per lane a
/// product then a sum (no fused multiply–add, as Rust compiles `acc += x * y`), the lanes
/// summed in order at the end, plus the empty tail (`HD` is a multiple of 8). Written with
/// the intrinsics because LLVM vectorises the plain loops across the four rows instead of
/// along them, with a shuffle per product.
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot4<T: Value, const HD: usize>(a: &[f32; HD], b: [&[T; HD]; 4]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_ps(); 4];
    for c in 0..HD / 8 {
        // SAFETY: c·8 + 8 ≤ HD, so each load reads eight values inside its array.
        unsafe {
            let x = _mm256_loadu_ps(a.as_ptr().add(c * 8));
            for (acc, b) in acc.iter_mut().zip(b) {
                let y = T::load8(b.as_ptr().add(c * 8));
                *acc = _mm256_add_ps(*acc, _mm256_mul_ps(x, y));
            }
        }
    }
    acc.map(|v| {
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` has room for eight f32.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
        lanes.iter().sum::<f32>() + 0.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The fixed-width bodies (AVX2, and AVX-512 where the CPU has it) equal the general one
    /// bit for bit: head widths 32, 64 and 128, groups of 1 to 7 query heads, column ranges
    /// that are not a multiple of four or eight keys and do not start at 0, and a single
    /// column.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn fixed_width_equals_the_general_body_bit_for_bit() {
        if !crate::tile::avx2_available() {
            eprintln!("skipped: this CPU has no AVX2");
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for hd in [32usize, 64, 128] {
            for (g, tk, cols) in [
                (3, 270, 0..270),
                (7, 37, 5..36),
                (1, 9, 8..9),
                (2, 64, 3..64),
                (2, 40, 1..40),
            ] {
                let draw = |n: usize, rng: &mut ChaCha8Rng| -> Vec<f32> {
                    (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect()
                };
                let (k, v) = (draw(tk * hd, &mut rng), draw(tk * hd, &mut rng));
                let q = draw(g * hd, &mut rng);
                let head = |cols| Head {
                    k: &k,
                    v: &v,
                    cols,
                    scale: 0.125,
                    kt: None,
                };
                let run = |fixed: bool| {
                    let mut scratch = Scratch::new(g, hd, tk);
                    scratch.q.copy_from_slice(&q);
                    let mut out = vec![f32::NAN; g * hd];
                    let (c, s, o) = (cols.clone(), &mut scratch, &mut out);
                    // SAFETY: the CPU has AVX2 (checked above).
                    unsafe {
                        match (fixed, hd) {
                            (true, 32) => group_fixed::<_, 32>(&head(c), s, o),
                            (true, 64) => group_fixed::<_, 64>(&head(c), s, o),
                            (true, _) => group_fixed::<_, 128>(&head(c), s, o),
                            (false, _) => group_body(&head(c), s, o),
                        }
                    }
                    out
                };
                let (a, b) = (run(false), run(true));
                let differ = a
                    .iter()
                    .zip(&b)
                    .position(|(a, b)| a.to_bits() != b.to_bits());
                assert_eq!(differ, None, "hd {hd} g {g} cols {cols:?}");
                if crate::tile::Isa::detected() >= crate::tile::Isa::Avx512 {
                    let mut scratch = Scratch::new(g, hd, tk);
                    scratch.q.copy_from_slice(&q);
                    let mut c = vec![f32::NAN; g * hd];
                    let (cl, s, o) = (cols.clone(), &mut scratch, &mut c);
                    // SAFETY: the CPU has AVX-512F (checked).
                    assert!(unsafe { group_avx512(&head(cl), s, o) });
                    let differ = a
                        .iter()
                        .zip(&c)
                        .position(|(a, c)| a.to_bits() != c.to_bits());
                    assert_eq!(differ, None, "AVX-512, hd {hd} g {g} cols {cols:?}");
                    // and with the keys transposed (the prefill's body)
                    let kt = KeysT::of(&k, hd, cols.end);
                    let mut scratch = Scratch::new(g, hd, tk);
                    scratch.q.copy_from_slice(&q);
                    let mut t = vec![f32::NAN; g * hd];
                    let with_kt = Head {
                        kt: Some(&kt),
                        ..head(cols.clone())
                    };
                    // SAFETY: the CPU has AVX-512F (checked).
                    assert!(unsafe { group_avx512(&with_kt, &mut scratch, &mut t) });
                    let differ = a
                        .iter()
                        .zip(&t)
                        .position(|(a, t)| a.to_bits() != t.to_bits());
                    assert_eq!(differ, None, "transposed keys, hd {hd} g {g} cols {cols:?}");
                }
            }
        }
    }

    /// Every body (the general one, AVX2's, and AVX-512's where the CPU has it) reading keys
    /// and values stored as f16 gives, bit for bit, what it gives reading them widened to f32.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn f16_keys_give_the_numbers_of_their_f32_values() {
        if !crate::tile::avx2_available() {
            eprintln!("skipped: this CPU has no AVX2");
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let (g, tk, hd, cols) = (3usize, 83usize, 64usize, 2..83);
        let draw = |n: usize, rng: &mut ChaCha8Rng| -> Vec<half::f16> {
            (0..n)
                .map(|_| half::f16::from_f32(rng.random_range(-2.0f32..2.0)))
                .collect()
        };
        let (k16, v16) = (draw(tk * hd, &mut rng), draw(tk * hd, &mut rng));
        let widen = |x: &[half::f16]| -> Vec<f32> { x.iter().map(|x| x.to_f32()).collect() };
        let (k32, v32) = (widen(&k16), widen(&v16));
        let q: Vec<f32> = (0..g * hd)
            .map(|_| rng.random_range(-2.0f32..2.0))
            .collect();
        fn run<T: Value>(
            body: usize,
            k: &[T],
            v: &[T],
            q: &[f32],
            g: usize,
            tk: usize,
        ) -> Vec<f32> {
            let head = Head {
                k,
                v,
                cols: 2..83,
                scale: 0.125,
                kt: None,
            };
            let mut scratch = Scratch::new(g, 64, tk);
            scratch.q.copy_from_slice(q);
            let mut out = vec![f32::NAN; q.len()];
            // SAFETY: the caller checked AVX2; body 2 runs only where the CPU has AVX-512F.
            unsafe {
                match body {
                    0 => group_body(&head, &mut scratch, &mut out),
                    1 => group_fixed::<T, 64>(&head, &mut scratch, &mut out),
                    _ => assert!(group_avx512(&head, &mut scratch, &mut out)),
                }
            }
            out
        }
        let avx512 = crate::tile::Isa::detected() >= crate::tile::Isa::Avx512;
        for body in 0..if avx512 { 3 } else { 2 } {
            let (a, b) = (
                run(body, &k16, &v16, &q, g, tk),
                run(body, &k32, &v32, &q, g, tk),
            );
            let differ = a
                .iter()
                .zip(&b)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(differ, None, "body {body}, columns {cols:?}");
        }
    }
}
