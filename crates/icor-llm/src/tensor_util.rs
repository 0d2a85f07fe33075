//! Small conversions between host vectors and burn tensors.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::weights::HostTensor;

/// A host tensor of rank `D` on `device`.
pub(crate) fn to_device<const D: usize>(t: HostTensor, device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(t.data, t.shape), device)
}

/// A row-major `[rows, cols]` matrix transposed into a contiguous `[cols, rows]` tensor
/// (linear weights are stored `[out, in]`; the forward pass multiplies `x · Wᵀ`).
pub(crate) fn transposed_to_device(t: HostTensor, device: &Device) -> Tensor<2> {
    let (rows, cols) = (t.shape[0], t.shape[1]);
    let mut out = vec![0f32; t.data.len()];
    const BLOCK: usize = 64;
    for r0 in (0..rows).step_by(BLOCK) {
        for c0 in (0..cols).step_by(BLOCK) {
            for r in r0..(r0 + BLOCK).min(rows) {
                for c in c0..(c0 + BLOCK).min(cols) {
                    out[c * rows + r] = t.data[r * cols + c];
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(out, [cols, rows]), device)
}

/// Token ids as a `[batch, len]` int tensor.
pub(crate) fn ids_tensor(ids: &[u32], batch: usize, len: usize, device: &Device) -> Tensor<2, Int> {
    let data: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(data, [batch, len]), device)
}

/// The tensor's values as f32 on the host.
pub fn to_vec_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().unwrap_or_default()
}

/// The tensor's values as i64 on the host.
pub(crate) fn to_vec_i64<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.try_into_vec_as::<i64>().unwrap_or_default()
}

/// Row indices as a `[n]` int tensor (for `select`).
pub(crate) fn index_tensor(rows: &[usize], device: &Device) -> Tensor<1, Int> {
    let data: Vec<i64> = rows.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(data, [rows.len()]), device)
}
