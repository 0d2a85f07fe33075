//! Frozen weights packed once for the products of decoding (`icor_kernels`), used on the CPU
//! backend when a product has few rows and no gradient flows through it.
//!
//! burn-flex runs every product through gemm, which repacks the weight on every call; a
//! decoding step multiplies one row per prompt by each weight, so that repacking and gemm's
//! large-shape tiling cost more than the arithmetic. `examples/rows_kernel.rs` times the two
//! on the backbones' shapes.

use std::sync::Arc;

use burn::tensor::{Tensor, TensorData};
use burn_flex::Flex;
use icor_kernels::{PackedWeight, Precision, rows_matmul};

use crate::tensor_util::to_vec_f32;

/// Products with at most this many rows take the packed path: at 1 and 16 rows it is faster
/// than burn-flex's gemm on every projection of both backbones but the smallest (SmolLM2's
/// Q/K/V and down projections at 16 rows, about even), `examples/rows_kernel.rs`; prefill
/// (hundreds of rows) stays on gemm, which wins there.
pub const MAX_ROWS: usize = 16;

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

    /// `x Wᵀ + b` for `x: [m, in]`, or `None` where the packed path does not apply: more than
    /// [`MAX_ROWS`] rows, a tensor that carries gradients (the LoRA training steps need them
    /// through `W`), or a tensor on another backend than flex.
    pub fn forward(&self, x: &Tensor<2>) -> Option<Tensor<2>> {
        let [m, k] = x.dims();
        if m > MAX_ROWS || x.is_autodiff() || k != self.weight.in_dim() {
            return None;
        }
        let device = x.device();
        let flex = x.clone().try_into_primitive::<Flex>().ok()?;
        let flex = if flex.is_contiguous() {
            flex
        } else {
            flex.to_contiguous()
        };
        let xs = flex.as_slice::<f32>()?;
        let y = rows_matmul(xs, m, &self.weight, self.bias.as_deref().map(Vec::as_slice));
        Some(Tensor::from_data(
            TensorData::new(y, [m, self.weight.out_dim()]),
            &device,
        ))
    }
}
