//! The softmax of a group's scores, the same numbers in every body (portable, AVX2, AVX-512).
//!
//! `e_c = exp(s_c − max)`, then `p_c = e_c · (1 / Σ e)`. The exponential is [`exp_neg`], a
//! polynomial written as plain multiplications and additions (no fused multiply–add, which
//! Rust never contracts), so a 16-lane vector computes every lane as the scalar code does;
//! the sum runs in sixteen lanes (score `c` in lane `c mod 16`) and the lanes are added in
//! order at the end. glibc's scalar `expf` (what this replaced) was a function call per score
//! and the sum one dependent chain: the softmax was the dearest part of a decoding step's
//! attention (`reports/perf-reading.md`).

/// Lanes of the sum.
const LANES: usize = 16;

/// Below this, `e^x` is under f32's smallest normal number: taken as 0.
const UNDER: f32 = -87.336_54;
const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 in two parts (Cephes): `C1` exact in a few bits, so `n·C1` is exact.
const C1: f32 = 0.693_359_4;
const C2: f32 = -2.121_944_4e-4;
/// Cephes `expf`'s polynomial for `e^r − 1 − r` over `|r| ≤ ln 2 / 2`, divided by `r²`.
const P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    0.166_666_65,
    0.5,
];

/// `e^x` for `x ≤ 0` (scores minus their maximum), within about 2 ulp of the exact value;
/// 0 below −87.34. `x = n·ln 2 + r` with `n = ⌊x·log₂e + ½⌋`, `e^r` from the polynomial,
/// and `2ⁿ` built from its bits.
#[inline(always)]
pub(crate) fn exp_neg(x: f32) -> f32 {
    if x < UNDER {
        return 0.0;
    }
    let n = (x * LOG2E + 0.5).floor();
    let r = (x - n * C1) - n * C2;
    let mut y = P[0];
    for p in &P[1..] {
        y = y * r + p;
    }
    let e = y * (r * r) + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Softmax of the first `n` scores of each of the `g` rows of `scores` (row stride `tk`).
#[inline(always)]
pub(super) fn softmax_rows(scores: &mut [f32], g: usize, tk: usize, n: usize) {
    for a in 0..g {
        let s = &mut scores[a * tk..a * tk + n];
        let max = s.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let mut lanes = [0.0f32; LANES];
        for (c, x) in s.iter_mut().enumerate() {
            *x = exp_neg(*x - max);
            lanes[c % LANES] += *x;
        }
        let inv = 1.0 / sum_in_order(&lanes);
        for x in s.iter_mut() {
            *x *= inv;
        }
    }
}

/// The lanes added from the first to the last.
#[inline(always)]
fn sum_in_order(lanes: &[f32; LANES]) -> f32 {
    lanes[1..].iter().fold(lanes[0], |a, &b| a + b)
}

/// [`softmax_rows`] sixteen scores per instruction, with AVX-512F: the same operations per
/// lane, so the same numbers bit for bit (a test).
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) fn softmax_rows_avx512(scores: &mut [f32], g: usize, tk: usize, n: usize) {
    use std::arch::x86_64::*;
    for a in 0..g {
        let s = &mut scores[a * tk..a * tk + n];
        let p = s.as_mut_ptr();
        let mask = |c: usize| -> __mmask16 {
            let left = (n - c).min(LANES);
            (((1u32 << left) - 1) & 0xffff) as __mmask16
        };
        // SAFETY (every load and store): lanes c .. c + 16 of `s`, masked to the n scores.
        unsafe {
            let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
            for c in (0..n).step_by(LANES) {
                let x = _mm512_mask_loadu_ps(m, mask(c), p.add(c));
                m = _mm512_max_ps(m, x);
            }
            let max = _mm512_set1_ps(_mm512_reduce_max_ps(m));
            let mut acc = _mm512_setzero_ps();
            for c in (0..n).step_by(LANES) {
                let x = _mm512_maskz_loadu_ps(mask(c), p.add(c));
                let e = exp_neg16(_mm512_sub_ps(x, max));
                _mm512_mask_storeu_ps(p.add(c), mask(c), e);
                acc = _mm512_mask_add_ps(acc, mask(c), acc, e);
            }
            let mut lanes = [0.0f32; LANES];
            _mm512_storeu_ps(lanes.as_mut_ptr(), acc);
            let inv = _mm512_set1_ps(1.0 / sum_in_order(&lanes));
            for c in (0..n).step_by(LANES) {
                let x = _mm512_maskz_loadu_ps(mask(c), p.add(c));
                _mm512_mask_storeu_ps(p.add(c), mask(c), _mm512_mul_ps(x, inv));
            }
        }
    }
}

/// [`exp_neg`] in sixteen lanes: the same operations in the same order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn exp_neg16(x: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let set = _mm512_set1_ps;
    let under = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, set(UNDER));
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(_mm512_add_ps(
        _mm512_mul_ps(x, set(LOG2E)),
        set(0.5),
    ));
    let r = _mm512_sub_ps(
        _mm512_sub_ps(x, _mm512_mul_ps(n, set(C1))),
        _mm512_mul_ps(n, set(C2)),
    );
    let mut y = set(P[0]);
    for p in &P[1..] {
        y = _mm512_add_ps(_mm512_mul_ps(y, r), set(*p));
    }
    let e = _mm512_add_ps(
        _mm512_add_ps(_mm512_mul_ps(y, _mm512_mul_ps(r, r)), r),
        set(1.0),
    );
    // 2ⁿ for the lanes at or above UNDER (n ≥ −126 there); 0 below.
    let bits = _mm512_slli_epi32::<23>(_mm512_add_epi32(
        _mm512_cvtps_epi32(n),
        _mm512_set1_epi32(127),
    ));
    _mm512_maskz_mul_ps(!under, e, _mm512_castsi512_ps(bits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Within 2 ulp of the exact exponential on a fine grid of [−87.3, 0], 0 below, 1 at 0.
    #[test]
    fn exp_neg_is_within_two_ulp() {
        assert_eq!(exp_neg(0.0), 1.0);
        assert_eq!(exp_neg(-0.0), 1.0);
        assert_eq!(exp_neg(-90.0), 0.0);
        let mut worst = 0.0f64;
        for i in 0..=873_000 {
            let x = -(i as f32) * 1e-4;
            let want = (x as f64).exp();
            let got = exp_neg(x) as f64;
            let ulp = (want as f32).next_up() as f64 - want as f32 as f64;
            worst = worst.max((got - want).abs() / ulp);
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
    }

    /// The AVX-512 softmax equals the portable one bit for bit, on row lengths around the
    /// sixteen lanes, scores spread wide enough that some exponentials underflow to 0.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_equals_portable_bit_for_bit() {
        if crate::tile::Isa::detected() < crate::tile::Isa::Avx512 {
            eprintln!("skipped: this CPU has no AVX-512F");
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for n in [1usize, 5, 15, 16, 17, 31, 33, 100, 257] {
            let (g, tk) = (3, n + 4);
            let s: Vec<f32> = (0..g * tk)
                .map(|_| rng.random_range(-60.0f32..60.0))
                .collect();
            let (mut a, mut b) = (s.clone(), s);
            softmax_rows(&mut a, g, tk, n);
            // SAFETY: the CPU has AVX-512F (checked above).
            unsafe { softmax_rows_avx512(&mut b, g, tk, n) };
            let differ = a
                .iter()
                .zip(&b)
                .position(|(x, y)| x.to_bits() != y.to_bits());
            assert_eq!(differ, None, "n {n}");
            for row in a.chunks(tk) {
                let total: f32 = row[..n].iter().sum();
                assert!((total - 1.0).abs() < 1e-5, "n {n}: sums to {total}");
                assert!(
                    row[n..].iter().all(|x| x.abs() <= 60.0),
                    "past n was written"
                );
            }
        }
    }
}
