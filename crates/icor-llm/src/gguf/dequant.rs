//! Dequantisation of ggml blocks to f32, following `dequantize_row_*` in ggml-quants.c
//! bit for bit (same operation order, so results equal ggml's and the `gguf` Python package's
//! up to float rounding of the scale products).

use half::{bf16, f16};

use super::ggml_type::GgmlType;

#[inline]
fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Dequantises `bytes` (exactly `ty.bytes_for(n)` long, `n` a multiple of the block size)
/// into `n` f32 values.
///
/// # Panics
/// If the byte length does not match `n` (callers check it and return an error naming the
/// tensor first).
pub fn dequantize(ty: GgmlType, bytes: &[u8], n: usize) -> Vec<f32> {
    assert_eq!(
        Some(bytes.len() as u64),
        ty.bytes_for(n as u64),
        "dequantize: byte length does not match element count"
    );
    let mut out = vec![0f32; n];
    let bb = ty.block_bytes();
    let be = ty.block_elems();
    let blocks = bytes.chunks_exact(bb).zip(out.chunks_exact_mut(be));
    match ty {
        GgmlType::F32 => {
            for (b, y) in blocks {
                y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        GgmlType::F16 => {
            for (b, y) in blocks {
                y[0] = f16_at(b, 0);
            }
        }
        GgmlType::BF16 => {
            for (b, y) in blocks {
                y[0] = bf16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
        GgmlType::Q4_0 => blocks.for_each(|(b, y)| q4_0(b, y)),
        GgmlType::Q4_1 => blocks.for_each(|(b, y)| q4_1(b, y)),
        GgmlType::Q5_0 => blocks.for_each(|(b, y)| q5_0(b, y)),
        GgmlType::Q8_0 => blocks.for_each(|(b, y)| q8_0(b, y)),
        GgmlType::Q4K => blocks.for_each(|(b, y)| q4_k(b, y)),
        GgmlType::Q6K => blocks.for_each(|(b, y)| q6_k(b, y)),
    }
    out
}

/// `block_q4_0 { f16 d; u8 qs[16]; }`: y = (nibble − 8)·d, low nibbles first.
fn q4_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let qs = &b[2..18];
    for j in 0..16 {
        y[j] = ((qs[j] & 0x0F) as i32 - 8) as f32 * d;
        y[j + 16] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
    }
}

/// `block_q4_1 { f16 d; f16 m; u8 qs[16]; }`: y = nibble·d + m.
fn q4_1(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let qs = &b[4..20];
    for j in 0..16 {
        y[j] = (qs[j] & 0x0F) as f32 * d + m;
        y[j + 16] = (qs[j] >> 4) as f32 * d + m;
    }
}

/// `block_q5_0 { f16 d; u8 qh[4]; u8 qs[16]; }`: 5-bit values (fifth bit in `qh`) minus 16.
fn q5_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    let qs = &b[6..22];
    for j in 0..16 {
        let xh0 = (((qh >> j) << 4) & 0x10) as u8;
        let xh1 = ((qh >> (j + 12)) & 0x10) as u8;
        let x0 = ((qs[j] & 0x0F) | xh0) as i32 - 16;
        let x1 = ((qs[j] >> 4) | xh1) as i32 - 16;
        y[j] = x0 as f32 * d;
        y[j + 16] = x1 as f32 * d;
    }
}

/// `block_q8_0 { f16 d; i8 qs[32]; }`: y = q·d.
fn q8_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for j in 0..32 {
        y[j] = (b[2 + j] as i8) as f32 * d;
    }
}

/// 6-bit scale and min of sub-block `j` of a Q4_K super-block (`get_scale_min_k4`).
#[inline]
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// `block_q4_K { f16 d; f16 dmin; u8 scales[12]; u8 qs[128]; }`: 8 sub-blocks of 32, each
/// y = d·sc·nibble − dmin·m.
fn q4_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let dmin = f16_at(b, 2);
    let scales = &b[4..16];
    let qs = &b[16..144];
    for (k, (q, y)) in qs.chunks_exact(32).zip(y.chunks_exact_mut(64)).enumerate() {
        let (sc1, m1) = scale_min_k4(2 * k, scales);
        let (sc2, m2) = scale_min_k4(2 * k + 1, scales);
        let (d1, m1) = (d * sc1 as f32, dmin * m1 as f32);
        let (d2, m2) = (d * sc2 as f32, dmin * m2 as f32);
        for l in 0..32 {
            y[l] = d1 * (q[l] & 0x0F) as f32 - m1;
            y[l + 32] = d2 * (q[l] >> 4) as f32 - m2;
        }
    }
}

/// `block_q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d; }`: 6-bit values minus 32,
/// 16 sub-blocks of 16 with signed 8-bit scales.
fn q6_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 208);
    for half in 0..2 {
        let ql = &b[64 * half..64 * half + 64];
        let qh = &b[128 + 32 * half..128 + 32 * half + 32];
        let sc = &b[192 + 8 * half..192 + 8 * half + 8];
        let y = &mut y[128 * half..128 * half + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
            y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
            y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
            y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16b(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_le_bytes()
    }

    #[test]
    fn q8_0_is_scale_times_int() {
        let mut b = vec![];
        b.extend(f16b(0.5));
        b.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let y = dequantize(GgmlType::Q8_0, &b, 32);
        for (i, v) in y.iter().enumerate() {
            assert_eq!(*v, (i as f32 - 16.0) * 0.5);
        }
    }

    #[test]
    fn q4_0_low_nibbles_first_offset_eight() {
        let mut b = vec![];
        b.extend(f16b(2.0));
        b.extend((0..16).map(|i| (i as u8) | ((15 - i as u8) << 4)));
        let y = dequantize(GgmlType::Q4_0, &b, 32);
        for j in 0..16 {
            assert_eq!(y[j], (j as f32 - 8.0) * 2.0);
            assert_eq!(y[j + 16], ((15 - j) as f32 - 8.0) * 2.0);
        }
    }

    #[test]
    fn q4_1_adds_min() {
        let mut b = vec![];
        b.extend(f16b(0.25));
        b.extend(f16b(-1.0));
        b.extend((0..16).map(|i| (i as u8) | (3 << 4)));
        let y = dequantize(GgmlType::Q4_1, &b, 32);
        for j in 0..16 {
            assert_eq!(y[j], j as f32 * 0.25 - 1.0);
            assert_eq!(y[j + 16], 3.0 * 0.25 - 1.0);
        }
    }

    #[test]
    fn q5_0_fifth_bit_from_qh() {
        let mut b = vec![];
        b.extend(f16b(1.0));
        // Fifth bit set for element 0 (bit 0) and element 16 (bit 16).
        b.extend(((1u32) | (1u32 << 16)).to_le_bytes());
        b.extend([0u8; 16]);
        let y = dequantize(GgmlType::Q5_0, &b, 32);
        assert_eq!(y[0], 0.0); // 16 - 16
        assert_eq!(y[1], -16.0);
        assert_eq!(y[16], 0.0);
        assert_eq!(y[17], -16.0);
    }

    #[test]
    fn q4_k_scales_and_mins() {
        let mut b = vec![];
        b.extend(f16b(1.0));
        b.extend(f16b(0.5));
        // Sub-blocks 0..4: scale j+1, min 2; 4..8 via the packed high bits: all scale 1, min 0.
        let mut scales = [0u8; 12];
        for j in 0..4 {
            scales[j] = (j + 1) as u8;
            scales[j + 4] = 2;
        }
        // Bytes 8..12: scale low nibble 1, min high nibble 0.
        scales[8..12].fill(1);
        b.extend(scales);
        b.extend([0x21u8; 128]); // low nibble 1, high nibble 2
        let y = dequantize(GgmlType::Q4K, &b, 256);
        // Chunk 0: sub-blocks 0 (low nibbles) and 1 (high nibbles).
        assert_eq!(y[0], 1.0 * 1.0 * 1.0 - 0.5 * 2.0);
        assert_eq!(y[32], 2.0 * 2.0 - 1.0);
        // Chunk 2: sub-blocks 4 and 5, scale 1, min 0.
        assert_eq!(y[128], 1.0);
        assert_eq!(y[160], 2.0);
    }

    #[test]
    fn q6_k_signed_scales() {
        let mut b = vec![0u8; 210];
        // ql = 0, qh = 0 -> q = -32 everywhere; scales: sub-block i has scale i - 8.
        for i in 0..16 {
            b[192 + i] = (i as i8 - 8) as u8;
        }
        b[208..210].copy_from_slice(&f16b(0.5));
        let y = dequantize(GgmlType::Q6K, &b, 256);
        for (i, v) in y.iter().enumerate() {
            // Element i lies in sub-block i/16 (ggml's layout: 128 per half, 32-lane groups).
            let half = i / 128;
            let r = i % 128;
            let group = r / 32; // which of q1..q4
            let l = r % 32;
            let is = 8 * half + l / 16 + 2 * group;
            assert_eq!(*v, 0.5 * (is as f32 - 8.0) * -32.0, "element {i}");
        }
    }
}
