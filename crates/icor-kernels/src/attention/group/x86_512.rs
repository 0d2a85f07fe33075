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

/// Keys per step of the score loop: four vectors of two keys.
const KEYS: usize = 8;

/// See [`super::group_fixed`]; `HD` is 32, 64 or 128.
///
/// # Safety
/// The CPU has AVX-512F and AVX2.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) fn group_fixed<const HD: usize>(
    head: &Head<'_>,
    scratch: &mut Scratch,
    out: &mut [f32],
) {
    let (k, cols, scale) = (head.k, head.cols.clone(), head.scale);
    const { assert!(HD % 16 == 0 && HD <= 128) };
    let Scratch { q, scores, g, tk } = scratch;
    let (g, tk) = (*g, *tk);
    let n = cols.len();
    let key = |j: usize| -> &[f32; HD] { k[j * HD..(j + 1) * HD].try_into().expect("HD wide") };
    for a in 0..g {
        let qa: &[f32; HD] = q[a * HD..(a + 1) * HD].try_into().expect("HD wide");
        // Each eight-value chunk of the query, twice over (for two keys at once).
        let mut twice = [_mm512_setzero_ps(); 16];
        for (c, t) in twice.iter_mut().take(HD / 8).enumerate() {
            *t = pair(&qa[c * 8..c * 8 + 8], &qa[c * 8..c * 8 + 8]);
        }
        let row = &mut scores[a * tk..a * tk + n];
        let mut c = 0;
        while c + KEYS <= n {
            let ks: [&[f32; HD]; KEYS] = std::array::from_fn(|i| key(cols.start + c + i));
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
    weighted::<HD>(head, scratch, out);
}

/// The softmax of the scores in `scratch` and the weighted sum of the visible values.
///
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
fn weighted<const HD: usize>(head: &Head<'_>, scratch: &mut Scratch, out: &mut [f32]) {
    let (v, cols) = (head.v, head.cols.clone());
    let Scratch { scores, g, tk, .. } = scratch;
    let (g, tk) = (*g, *tk);
    let n = cols.len();
    softmax_rows_avx512(scores, g, tk, n);
    for a in 0..g {
        let mut o = [_mm512_setzero_ps(); 8];
        for (c, j) in cols.clone().enumerate() {
            let w = _mm512_set1_ps(scores[a * tk + c]);
            let vj: &[f32; HD] = v[j * HD..(j + 1) * HD].try_into().expect("HD wide");
            for (i, o) in o.iter_mut().take(HD / 16).enumerate() {
                // SAFETY: i·16 + 16 ≤ HD values of `vj`.
                let x = unsafe { _mm512_loadu_ps(vj.as_ptr().add(i * 16)) };
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
pub(super) fn group_transposed<const HD: usize>(
    head: &Head<'_>,
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
    weighted::<HD>(head, scratch, out);
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
fn pair(lo: &[f32], hi: &[f32]) -> __m512 {
    assert!(lo.len() >= 8 && hi.len() >= 8);
    // SAFETY: eight readable values each (checked); the callers run with AVX-512F and AVX.
    unsafe {
        let lo = _mm512_castps256_ps512(_mm256_loadu_ps(lo.as_ptr()));
        let hi = _mm256_castps_pd(_mm256_loadu_ps(hi.as_ptr()));
        _mm512_castpd_ps(_mm512_insertf64x4::<1>(_mm512_castps_pd(lo), hi))
    }
}
