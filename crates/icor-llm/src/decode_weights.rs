//! Frozen weights packed once for inference products (`icor_kernels`), used on the CPU
//! backend when no gradient flows through the product.
//!
//! burn-flex runs every product through gemm, which repacks the weight on every call; a
//! decoding step multiplies one row per prompt by each weight, so that repacking and gemm's
//! large-shape tiling cost more than the arithmetic. `examples/rows_kernel.rs` times the two
//! on the backbones' shapes.

use std::sync::Arc;

use burn::tensor::{Tensor, TensorData};
use icor_kernels::{PackedWeight, Precision, rows_matmul};

use crate::tensor_util::{flex_contiguous, to_vec_f32};

/// `none`, `f32` or `f16`: how the frozen projections are packed for decoding (`none`: every
/// product through burn).
pub fn parse_precision(name: &str) -> crate::Result<Option<Precision>> {
    match name {
        "none" => Ok(None),
        "f32" => Ok(Some(Precision::F32)),
        "f16" => Ok(Some(Precision::F16)),
        other => Err(crate::Error::Llm(format!(
            "unknown decode weights `{other}` (none, f32 or f16)"
        ))),
    }
}

/// A frozen `W` (and bias) packed for [`icor_kernels::rows_matmul`].
#[derive(Debug, Clone)]
pub struct DecodeWeights {
    weight: Arc<PackedWeight>,
    bias: Option<Arc<Vec<f32>>>,
}

impl DecodeWeights {
    /// Packs `w_t: [in, out]` and `bias: [out]`.
    pub fn pack(w_t: &Tensor<2>, bias: Option<&Tensor<1>>, precision: Precision) -> Self {
        let [inp, out] = w_t.dims();
        let host = to_vec_f32(w_t.clone());
        Self {
            weight: Arc::new(PackedWeight::from_transposed(&host, inp, out, precision)),
            bias: bias.map(|b| Arc::new(to_vec_f32(b.clone()))),
        }
    }

    /// How the weight is stored.
    pub fn precision(&self) -> Precision {
        self.weight.precision()
    }

    /// `x Wᵀ + b` for `x: [m, in]`, or `None` where the packed path does not apply: a tensor
    /// that carries gradients (the LoRA training steps need them through `W`) or one on
    /// another backend than flex.
    ///
    /// Any number of rows: at 1 and 16 rows (decoding) the packed product runs 1.5–4.7× and
    /// at 64 and 512 rows (prefill) 1.0–3× burn-flex's gemm on the backbones' projections
    /// (`examples/rows_kernel.rs`, 2 × AMD EPYC, 2026-12-06). Every output is the sum over
    /// `in` in order whatever the row count, so a prompt decoded alone and in a batch gets the
    /// same numbers.
    pub fn forward(&self, x: &Tensor<2>) -> Option<Tensor<2>> {
        let [m, k] = x.dims();
        if k != self.weight.in_dim() {
            return None;
        }
        let device = x.device();
        let flex = flex_contiguous(x)?;
        let xs = flex.as_slice::<f32>()?;
        let y = rows_matmul(xs, m, &self.weight, self.bias.as_deref().map(Vec::as_slice));
        Some(Tensor::from_data(
            TensorData::new(y, [m, self.weight.out_dim()]),
            &device,
        ))
    }
}
