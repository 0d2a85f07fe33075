//! Moving data between ndarray (f64, where tasks are drawn and the theory lives) and burn
//! tensors (f32, where models train).

use burn::tensor::{Device, Tensor, TensorData};

/// A `[b, t, d]` tensor from row-major f32 values.
pub fn tensor3(values: Vec<f32>, shape: [usize; 3], device: &Device) -> Tensor<3> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// A `[r, c]` tensor from row-major f32 values.
pub fn tensor2(values: Vec<f32>, shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// A `[n]` tensor.
pub fn tensor1(values: Vec<f32>, device: &Device) -> Tensor<1> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// The values of any tensor as f32, row-major.
pub fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

/// A scalar tensor's value.
pub fn scalar(t: &Tensor<1>) -> f32 {
    values(t).first().copied().unwrap_or(f32::NAN)
}
