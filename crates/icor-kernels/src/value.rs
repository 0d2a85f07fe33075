//! The element types the kernels read stored numbers in — frozen weights, cached keys and
//! values: f32, or f16 to halve the bytes each read streams — each read as f32, one value at a
//! time or eight / sixteen at once into a vector register. Widening f16 to f32 is exact, so a
//! kernel reading f16 gives the numbers it gives reading those values stored as f32 (tests).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use half::f16;

/// A stored value read as f32 (implemented for `f32` and `f16` only).
pub trait Value: Copy + Send + Sync + 'static {
    fn f32(self) -> f32;

    /// Eight values from `p` as eight f32 lanes.
    ///
    /// # Safety
    /// `p` points at 8 readable values; the CPU has AVX2 and F16C.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(p: *const Self) -> __m256;

    /// Sixteen values from `p` as sixteen f32 lanes.
    ///
    /// # Safety
    /// `p` points at 16 readable values; the CPU has AVX-512F.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load16(p: *const Self) -> __m512;
}

impl Value for f32 {
    #[inline(always)]
    fn f32(self) -> f32 {
        self
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> __m256 {
        // SAFETY: the caller guarantees 8 readable f32 and AVX.
        unsafe { _mm256_loadu_ps(p) }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const Self) -> __m512 {
        // SAFETY: the caller guarantees 16 readable f32 and AVX-512F.
        unsafe { _mm512_loadu_ps(p) }
    }
}

impl Value for f16 {
    #[inline(always)]
    fn f32(self) -> f32 {
        self.to_f32()
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> __m256 {
        // SAFETY: the caller guarantees 8 readable f16 (16 bytes) and F16C.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const Self) -> __m512 {
        // SAFETY: the caller guarantees 16 readable f16 (32 bytes) and AVX-512F (whose
        // 512-bit half-to-single conversion needs no other extension).
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())) }
    }
}
