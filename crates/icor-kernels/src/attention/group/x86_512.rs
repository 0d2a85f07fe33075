//! [`super::group_fixed`] with AVX-512F, for CPUs that have it: the same sums bit for bit
//! (a test), with twice the lanes per instruction.
//!
//! A score is a dot product summed in eight lanes; here one 512-bit vector carries two keys'
//! eight lanes side by side against the query's eight values repeated, so each lane still sums
//! the same products in the same order. The weighted values are summed per output element
//! over the keys in order, whatever the vector width, sixteen elements per instruction here.

use std::arch::x86_64::*;

use super::super::softmax::softmax_rows_avx512;
use super::{Head, KeysT, Scratch, dot};
use crate::value::Value;

/// Keys per step of the score loop's tail: four vectors of two keys.
const KEYS: usize = 8;

/// How many keys (values) ahead of the one in use the first head's pass asks for: a decoding
/// step's keys and values come from memory, one head after another, and the hardware's own
/// prefetch alone left the loop waiting on it (`examples/attend_decode.rs`: 16 rows × 30 layers
/// at 250 tokens, 7.1 ms per step without, 6.5 with).
const AHEAD: usize = 32;

/// Asks the CPU to bring the `values` values from `p` into its caches: a hint, which reads
/// nothing and cannot fault wherever `p` points.
#[target_feature(enable = "avx512f")]
#[inline]
fn prefetch<T>(p: *const T, values: usize) {
    for at in (0..values).step_by(64 / size_of::<T>()) {
        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(at).cast());
    }
}

/// See [`super::group_fixed`]; `HD` is 32, 64 or 128.
///
/// # Safety
/// The CPU has AVX-512F and AVX2.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) fn group_fixed<T: Value, const HD: usize>(
    head: &Head<'_, T>,
    scratch: &mut Scratch,
    out: &mut [f32],
) {
    let (k, cols, scale) = (head.k, head.cols.clone(), head.scale);
    const { assert!(HD % 16 == 0 && HD <= 128) };
    let Scratch { q, scores, g, tk } = scratch;
    let (g, tk) = (*g, *tk);
    let n = cols.len();
    let key = |j: usize| -> &[T; HD] { k[j * HD..(j + 1) * HD].try_into().expect("HD wide") };
    for a in 0..g {
        let qa: &[f32; HD] = q[a * HD..(a + 1) * HD].try_into().expect("HD wide");
        // Each eight-value chunk of the query, twice over (for two keys at once).
        let mut twice = [_mm512_setzero_ps(); 16];
        for (c, t) in twice.iter_mut().take(HD / 8).enumerate() {
            *t = pair(&qa[c * 8..c * 8 + 8], &qa[c * 8..c * 8 + 8]);
        }
        let row = &mut scores[a * tk..a * tk + n];
        let mut c = 0;
        let scale16 = _mm512_set1_ps(scale);
        while c + 16 <= n {
            // SAFETY: keys cols.start + c .. + 16 are visible columns of `k`, and `row` has
            // n ≥ c + 16 values.
            unsafe {
                if a == 0 {
                    // The first head's pass reads the keys from memory; the others, from cache.
                    prefetch(
                        k.as_ptr().wrapping_add((cols.start + c + AHEAD) * HD),
                        16 * HD,
                    );
                }
                scores_of_16::<T, HD>(
                    &twice,
                    k.as_ptr().add((cols.start + c) * HD),
                    scale16,
                    row[c..].as_mut_ptr(),
                )
            };
            c += 16;
        }
        while c + KEYS <= n {
            let ks: [&[T; HD]; KEYS] = std::array::from_fn(|i| key(cols.start + c + i));
            let mut acc = [_mm512_setzero_ps(); KEYS / 2];
            for (ch, qv) in twice.iter().take(HD / 8).enumerate() {
                for (p, acc) in acc.iter_mut().enumerate() {
                    let (lo, hi) = (&ks[2 * p][ch * 8..], &ks[2 * p + 1][ch * 8..]);
                    *acc = _mm512_add_ps(*acc, _mm512_mul_ps(*qv, pair(&lo[..8], &hi[..8])));
                }
            }
            for (p, acc) in acc.iter().enumerate() {
                let mut lanes = [0.0f32; 16];
                // SAFETY: `lanes` has room for sixteen f32.
                unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), *acc) };
                row[c + 2 * p] = (lanes[..8].iter().sum::<f32>() + 0.0) * scale;
                row[c + 2 * p + 1] = (lanes[8..].iter().sum::<f32>() + 0.0) * scale;
            }
            c += KEYS;
        }
        for c in c..n {
            row[c] = dot(qa, key(cols.start + c)) * scale;
        }
    }
    weighted::<T, HD>(head, scratch, out);
}

/// The scaled scores of sixteen consecutive keys (`[16, HD]` from `k`) against the query
/// whose eight-value chunks `twice` holds twice over: the pairs' body for keys `p` and `p + 8`
/// in one vector, then the lane sums of all sixteen at once. The eight accumulators (a key in
/// each half) are transposed, two 8 × 8 transposes side by side, so that vector `l` holds lane
/// `l` of every key (keys 0–7 in the low half, 8–15 in the high), and the eight are added in
/// lane order: each score is the sum the pairs' body takes lane by lane, bit for bit (a test),
/// without storing each accumulator and adding its lanes one at a time.
///
/// # Safety
/// The CPU has AVX-512F; `k` points at 16 · `HD` readable values and `out` at 16 writable.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
unsafe fn scores_of_16<T: Value, const HD: usize>(
    twice: &[__m512; 16],
    k: *const T,
    scale: __m512,
    out: *mut f32,
) {
    // SAFETY: keys p and p + 8 < 16, values ch·8 .. + 8 < HD, inside what the caller vouches for.
    unsafe {
        let mut acc = [_mm512_setzero_ps(); 8];
        for (ch, qv) in twice.iter().enumerate().take(HD / 8) {
            for (p, acc) in acc.iter_mut().enumerate() {
                let lo = std::slice::from_raw_parts(k.add(p * HD + ch * 8), 8);
                let hi = std::slice::from_raw_parts(k.add((p + 8) * HD + ch * 8), 8);
                *acc = _mm512_add_ps(*acc, _mm512_mul_ps(*qv, pair(lo, hi)));
            }
        }
        let lanes = transpose_halves(acc);
        let mut total = lanes[0];
        for l in &lanes[1..] {
            total = _mm512_add_ps(total, *l);
        }
        let score = _mm512_mul_ps(_mm512_add_ps(total, _mm512_setzero_ps()), scale);
        _mm512_storeu_ps(out, score);
    }
}

/// Two 8 × 8 transposes side by side: row `p` of the low (high) halves' matrix is the low
/// (high) half of `r[p]`; returns its columns, column `l` of each matrix in the same half.
#[target_feature(enable = "avx512f")]
#[inline]
fn transpose_halves(r: [__m512; 8]) -> [__m512; 8] {
    // Within each 128-bit lane: pairs of rows interleaved, then groups of four rows.
    let t = |a: usize, b: usize| {
        (
            _mm512_unpacklo_ps(r[a], r[b]),
            _mm512_unpackhi_ps(r[a], r[b]),
        )
    };
    let ((t0, t1), (t2, t3), (t4, t5), (t6, t7)) = (t(0, 1), t(2, 3), t(4, 5), t(6, 7));
    let lo = |a, b| _mm512_shuffle_ps::<0b01_00_01_00>(a, b);
    let hi = |a, b| _mm512_shuffle_ps::<0b11_10_11_10>(a, b);
    // u_c: column c of rows 0–3 in 128-bit lanes 0 and 2, column c + 4 in lanes 1 and 3.
    let u = [lo(t0, t2), hi(t0, t2), lo(t1, t3), hi(t1, t3)];
    let w = [lo(t4, t6), hi(t4, t6), lo(t5, t7), hi(t5, t7)];
    // Column c: lane 0 of u_c and of w_c (rows 0–3, 4–7) in the low half, lane 2 of each in
    // the high; column c + 4 from lanes 1 and 3.
    let first = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
    let second = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    std::array::from_fn(|l| {
        let (c, idx) = if l < 4 { (l, first) } else { (l - 4, second) };
        _mm512_permutex2var_ps(u[c], idx, w[c])
    })
}

/// The softmax of the scores in `scratch` and the weighted sum of the visible values.
///
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
fn weighted<T: Value, const HD: usize>(head: &Head<'_, T>, scratch: &mut Scratch, out: &mut [f32]) {
    let (v, cols) = (head.v, head.cols.clone());
    let Scratch { scores, g, tk, .. } = scratch;
    let (g, tk) = (*g, *tk);
    let n = cols.len();
    softmax_rows_avx512(scores, g, tk, n);
    for a in 0..g {
        let mut o = [_mm512_setzero_ps(); 8];
        for (c, j) in cols.clone().enumerate() {
            if a == 0 {
                prefetch(v.as_ptr().wrapping_add((j + AHEAD) * HD), HD);
            }
            let w = _mm512_set1_ps(scores[a * tk + c]);
            let vj: &[T; HD] = v[j * HD..(j + 1) * HD].try_into().expect("HD wide");
            for (i, o) in o.iter_mut().take(HD / 16).enumerate() {
                // SAFETY: i·16 + 16 ≤ HD values of `vj`.
                let x = unsafe { T::load16(vj.as_ptr().add(i * 16)) };
                *o = _mm512_add_ps(*o, _mm512_mul_ps(w, x));
            }
        }
        let dst: &mut [f32; HD] = (&mut out[a * HD..(a + 1) * HD])
            .try_into()
            .expect("HD wide");
        for (i, o) in o.iter().take(HD / 16).enumerate() {
            // SAFETY: i·16 + 16 ≤ HD values of `dst`.
            unsafe { _mm512_storeu_ps(dst.as_mut_ptr().add(i * 16), *o) };
        }
    }
}

/// [`group_fixed`] with the scores taken from the keys transposed ([`KeysT`]): sixteen keys
/// per vector, a query value broadcast against them. Each lane of the pairs' body sums
/// `q[8c + l] · k[8c + l]` over `c` (a product, then a sum); here that lane sum is one vector
/// for sixteen keys, and the eight lane sums are added in lane order, as the pairs' body adds
/// its lanes: the same scores bit for bit (a test), with no per-score reduction.
///
/// # Safety
/// The CPU has AVX-512F and AVX2; `kt` holds the head's keys up to `head.cols.end`.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) fn group_transposed<T: Value, const HD: usize>(
    head: &Head<'_, T>,
    kt: &KeysT,
    scratch: &mut Scratch,
    out: &mut [f32],
) {
    const { assert!(HD % 16 == 0 && HD <= 128) };
    let cols = head.cols.clone();
    assert!(
        cols.end <= kt.ld && kt.kt.len() >= HD * kt.ld,
        "the transposed keys are too short"
    );
    let Scratch { q, scores, g, tk } = scratch;
    let (g, tk) = (*g, *tk);
    let n = cols.len();
    for a in 0..g {
        let qa: &[f32; HD] = q[a * HD..(a + 1) * HD].try_into().expect("HD wide");
        let row = &mut scores[a * tk..a * tk + n];
        let mut c = 0;
        // SAFETY (both loops): keys cols.start + c .. + 16·vectors lie below cols.end ≤ ld
        // (the last vector masked to the keys left), and `row` has n ≥ c + those values.
        unsafe {
            while c + 64 <= n {
                scores16::<HD, 4>(
                    kt,
                    qa,
                    cols.start + c,
                    0xffff,
                    head.scale,
                    row[c..].as_mut_ptr(),
                );
                c += 64;
            }
            while c < n {
                let left = (n - c).min(16);
                let mask = (((1u32 << left) - 1) & 0xffff) as __mmask16;
                scores16::<HD, 1>(
                    kt,
                    qa,
                    cols.start + c,
                    mask,
                    head.scale,
                    row[c..].as_mut_ptr(),
                );
                c += 16;
            }
        }
    }
    weighted::<T, HD>(head, scratch, out);
}

/// The scaled scores of `V` vectors of sixteen keys from key `j0`, the last vector's lanes
/// limited to `last` (read and written only there).
///
/// # Safety
/// The CPU has AVX-512F; keys `j0 ..` up to the last vector's last lane in `last` lie within
/// `kt`'s columns, and `out` has room for them.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
unsafe fn scores16<const HD: usize, const V: usize>(
    kt: &KeysT,
    qa: &[f32; HD],
    j0: usize,
    last: __mmask16,
    scale: f32,
    out: *mut f32,
) {
    // SAFETY: rows d < HD of kt and the keys read lie within its columns, `out` has room for
    // the scores written (the caller), the last vector masked to the keys left.
    unsafe {
        let mask = |i: usize| if i + 1 == V { last } else { 0xffff };
        let base = kt.kt.as_ptr();
        let mut total = [_mm512_setzero_ps(); V];
        for l in 0..8 {
            let mut lane = [_mm512_setzero_ps(); V];
            for ch in 0..HD / 8 {
                let d = ch * 8 + l;
                let qv = _mm512_set1_ps(qa[d]);
                for (i, s) in lane.iter_mut().enumerate() {
                    let kv = _mm512_maskz_loadu_ps(mask(i), base.add(d * kt.ld + j0 + 16 * i));
                    *s = _mm512_add_ps(*s, _mm512_mul_ps(qv, kv));
                }
            }
            for (t, s) in total.iter_mut().zip(lane) {
                *t = if l == 0 { s } else { _mm512_add_ps(*t, s) };
            }
        }
        let scale = _mm512_set1_ps(scale);
        for (i, t) in total.iter().enumerate() {
            let score = _mm512_mul_ps(_mm512_add_ps(*t, _mm512_setzero_ps()), scale);
            _mm512_mask_storeu_ps(out.add(16 * i), mask(i), score);
        }
    }
}

/// Eight values of `lo` in lanes 0–7 and eight of `hi` in lanes 8–15.
#[inline(always)]
fn pair<T: Value>(lo: &[T], hi: &[T]) -> __m512 {
    assert!(lo.len() >= 8 && hi.len() >= 8);
    // SAFETY: eight readable values each (checked); the callers run with AVX-512F and AVX.
    unsafe {
        let lo = _mm512_castps256_ps512(T::load8(lo.as_ptr()));
        let hi = _mm256_castps_pd(T::load8(hi.as_ptr()));
        _mm512_castpd_ps(_mm512_insertf64x4::<1>(_mm512_castps_pd(lo), hi))
    }
}
