//! Seeded initialisation: haiku's VarianceScaling(scale, fan_in, truncated normal), as in the
//! authors' code (scale 0.002 / layers for the attention weights).

use burn::module::Param;
use burn::tensor::{Device, Tensor};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::tensor::tensor2;

/// A `[rows, cols]` parameter with entries ~ truncated N(0, σ²), σ = √(scale / rows) / 0.8796
/// (haiku's correction for truncation at ±2σ), drawn from `seed`.
pub fn variance_scaling(
    rows: usize,
    cols: usize,
    scale: f64,
    seed: u64,
    stream: u64,
    device: &Device,
) -> Param<Tensor<2>> {
    let mut rng = crate::task::rng(seed, stream);
    let sigma = (scale / rows as f64).sqrt() / 0.879_625_661_034_239_8;
    let mut v = Vec::with_capacity(rows * cols);
    while v.len() < rows * cols {
        let z: f64 = StandardNormal.sample(&mut rng);
        if z.abs() <= 2.0 {
            v.push((z * sigma) as f32);
        }
    }
    let _ = rng.random::<u8>();
    Param::from_tensor(tensor2(v, [rows, cols], device))
}

/// A constant `[rows, cols]` parameter.
pub fn constant(rows: usize, cols: usize, value: f32, device: &Device) -> Param<Tensor<2>> {
    Param::from_tensor(tensor2(vec![value; rows * cols], [rows, cols], device))
}

/// A parameter from row-major values.
pub fn from_values(
    values: Vec<f32>,
    rows: usize,
    cols: usize,
    device: &Device,
) -> Param<Tensor<2>> {
    Param::from_tensor(tensor2(values, [rows, cols], device))
}
