//! The kernels on burn tensors (feature `burn`): they run where a tensor lives on the CPU
//! backend (flex) and carries no gradient, and answer `None` elsewhere so the caller takes
//! burn's own operations (the wgpu backend). The frozen product, RMSNorm and `silu(gate) ⊙ up`
//! also run inside the autodiff graph of LoRA training, each with its own backward
//! ([`tracked`], [`rowwise_tracked`]).

use std::sync::Arc;

use burn::tensor::{DType, Tensor, TensorData};
use burn_flex::{Flex, FlexTensor};
use half::f16;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::attention::{AttnShape, Visible, attend};
use crate::masked_softmax::ScoreShape;
use crate::packed::{PackedWeight, Precision};
use crate::rows::rows_matmul;
use crate::rowwise::{self, Placement, QkvShape, RopeTables};

mod rowwise_tracked;
pub use rowwise_tracked::SharedRope;
mod tracked;
use tracked::TransposedPack;
pub use tracked::set_packed_tracked;

/// Whether [`rms_norm`], [`silu_mul`] and [`qkv_heads`] run (the default) or answer `None`, so
/// that callers take burn's operations: a switch for measuring the fused passes against burn's
/// chain in one process (`llm_bench --elementwise burn`).
static FUSED_ELEMENTWISE: AtomicBool = AtomicBool::new(true);

/// Turns the fused element-wise passes on or off for the whole process.
pub fn set_fused_elementwise(on: bool) {
    FUSED_ELEMENTWISE.store(on, Ordering::Relaxed);
}

fn fused_elementwise() -> bool {
    FUSED_ELEMENTWISE.load(Ordering::Relaxed)
}

/// The tensor's storage on the CPU backend, contiguous (copied only where it is a strided
/// view); `None` for a tensor that carries gradients or lives on another backend.
pub fn flex_contiguous<const D: usize>(x: &Tensor<D>) -> Option<FlexTensor> {
    if x.is_autodiff() {
        return None;
    }
    let flex = x.clone().try_into_primitive::<Flex>().ok()?;
    Some(if flex.is_contiguous() {
        flex
    } else {
        flex.to_contiguous()
    })
}

/// A key or value tensor `[b, hk, tk, hd]` (f32 or f16) as a buffer of `capacity ≥ tk`
/// columns per (row, head): a view of the first `tk` columns of a cache buffer is read in
/// place; anything else is made contiguous (`capacity = tk`).
fn cache_buffer(x: &Tensor<4>) -> Option<(FlexTensor, usize)> {
    if x.is_autodiff() {
        return None;
    }
    let [b, hk, tk, hd] = x.dims();
    let flex = x.clone().try_into_primitive::<Flex>().ok()?;
    let layout = flex.layout();
    let strides = layout.strides();
    let cap = strides[1] as usize / hd.max(1);
    let view = layout.start_offset() == 0
        && strides[3] == 1
        && strides[2] == hd as isize
        && strides[1] == (cap * hd) as isize
        && strides[0] == (hk * cap * hd) as isize
        && cap >= tk
        && flex.bytes().len() >= b * hk * cap * hd * flex.dtype().size();
    if view {
        return Some((flex, cap));
    }
    Some((flex.to_contiguous(), tk))
}

/// The tensor's values as f32 on the host.
fn host(t: &Tensor<2>) -> Vec<f32> {
    t.clone().try_into_vec_as::<f32>().unwrap_or_default()
}

/// A frozen `W` (and bias) packed for [`rows_matmul`].
#[derive(Debug, Clone)]
pub struct PackedLinear {
    weight: Arc<PackedWeight>,
    bias: Option<Arc<Vec<f32>>>,
    /// `Wᵀ`, packed by the first backward pass through this product.
    back: TransposedPack,
}

impl PackedLinear {
    /// Packs `w_t: [in, out]` and `bias: [out]`.
    pub fn pack(w_t: &Tensor<2>, bias: Option<&Tensor<1>>, precision: Precision) -> Self {
        let [inp, out] = w_t.dims();
        Self {
            weight: Arc::new(PackedWeight::from_transposed(
                &host(w_t),
                inp,
                out,
                precision,
            )),
            bias: bias.map(|b| Arc::new(host(&b.clone().unsqueeze::<2>()))),
            back: TransposedPack::default(),
        }
    }

    /// How the weight is stored.
    pub fn precision(&self) -> Precision {
        self.weight.precision()
    }

    /// `x Wᵀ + b` for `x: [m, in]` on flex without gradients; `None` elsewhere.
    ///
    /// Any number of rows: at 1 and 16 rows (decoding) the packed product runs 1.6–4.2× and
    /// at 64 and 512 rows (prefill) 1.0–2.8× burn-flex's gemm on the LLM backbones' projections
    /// (`icor-llm/examples/rows_kernel.rs`, 2 × AMD EPYC, 2026-12-06). Every output is the sum
    /// over `in` in order whatever the row count, so a prompt gets the same numbers alone and
    /// in a batch.
    ///
    /// On `Autodiff<Flex>` the product joins the graph with its own backward (`dX = dY W`
    /// through `Wᵀ` packed once; `W` and `b` get no gradient): the LoRA training passes.
    pub fn forward(&self, x: &Tensor<2>) -> Option<Tensor<2>> {
        let [m, k] = x.dims();
        if k != self.weight.in_dim() {
            return None;
        }
        if x.is_autodiff() {
            let bias = self.bias.as_deref().map(Vec::as_slice);
            let forward = tracked::rows_forward(&self.weight, bias);
            return tracked::product(x, &self.weight, &self.back, forward);
        }
        let flex = flex_contiguous(x)?;
        let y = rows_matmul(
            flex.as_slice::<f32>()?,
            m,
            &self.weight,
            self.bias.as_deref().map(Vec::as_slice),
        );
        Some(Tensor::from_data(
            TensorData::new(y, [m, self.weight.out_dim()]),
            &x.device(),
        ))
    }
}

/// `softmax(q kᵀ · scale, over the visible columns) v` for `q: [b, h, t, hd]` and `k`,
/// `v: [b, hk, tk, hd]` (query head `j` reads key/value head `j / (h / hk)`), as
/// `[b, t, h · hd]`, on flex without gradients; `None` elsewhere.
pub fn attention(
    q: &Tensor<4>,
    k: &Tensor<4>,
    v: &Tensor<4>,
    visible: Visible<'_>,
    scale: f32,
) -> Option<Tensor<3>> {
    let [b, h, t, hd] = q.dims();
    let [_, hk, tk, _] = k.dims();
    let qf = flex_contiguous(q)?;
    let (kf, cap) = cache_buffer(k)?;
    let (vf, vcap) = cache_buffer(v)?;
    if vcap != cap {
        return None;
    }
    let shape = AttnShape {
        batch: b,
        heads: h,
        kv_heads: hk,
        queries: t,
        keys: tk,
        capacity: cap,
        head_dim: hd,
    };
    let n = b * hk * cap * hd;
    let qs = qf.as_slice::<f32>()?;
    if vf.dtype() != kf.dtype() {
        return None;
    }
    // The first `n` values of each buffer, as stored (a cache kept in f16 read as such).
    let out = match kf.dtype() {
        DType::F32 => {
            let (k, v) = (kf.storage::<f32>().get(..n)?, vf.storage::<f32>().get(..n)?);
            attend(qs, k, v, shape, visible, scale)
        }
        DType::F16 => {
            let (k, v) = (kf.storage::<f16>().get(..n)?, vf.storage::<f16>().get(..n)?);
            attend(qs, k, v, shape, visible, scale)
        }
        _ => return None,
    };
    Some(Tensor::from_data(
        TensorData::new(out, [b, t, h * hd]),
        &q.device(),
    ))
}

/// RMSNorm of `x: [b, t, d]` with weight `w` (`d` values) in one pass
/// ([`rowwise::rms_norm`]), on flex without gradients; `None` elsewhere.
///
/// On `Autodiff<Flex>` the pass joins the graph with its own backward (the weight frozen;
/// [`crate::rowwise_grad::rms_norm_backward`]); `w_shared` is the same weight, kept by that
/// backward.
pub fn rms_norm(x: &Tensor<3>, w_shared: &Arc<Vec<f32>>, eps: f32) -> Option<Tensor<3>> {
    let dims = x.dims();
    let w = w_shared.as_slice();
    if !fused_elementwise() || dims[2] != w.len() {
        return None;
    }
    if x.is_autodiff() {
        let op = rowwise_tracked::Rowwise::RmsNorm {
            w: w_shared.clone(),
            eps,
        };
        return rowwise_tracked::rowwise(x, op, dims);
    }
    let flex = flex_contiguous(x)?;
    let y = rowwise::rms_norm(flex.as_slice::<f32>()?, w, eps);
    Some(Tensor::from_data(TensorData::new(y, dims), &x.device()))
}

/// LayerNorm of `x + residual` (`x: [n, d]`; `residual` `None`: of `x`) with scale `gamma`
/// and shift `beta` (`d` values each) in one pass ([`rowwise::layer_norm`]), on flex without
/// gradients; `None` elsewhere.
pub fn layer_norm(
    x: &Tensor<2>,
    residual: Option<&Tensor<2>>,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) -> Option<Tensor<2>> {
    let dims = x.dims();
    if !fused_elementwise() || dims[1] != gamma.len() || residual.is_some_and(|r| r.dims() != dims)
    {
        return None;
    }
    let flex = flex_contiguous(x)?;
    let res = match residual {
        Some(r) => Some(flex_contiguous(r)?),
        None => None,
    };
    let res = match &res {
        Some(r) => Some(r.as_slice::<f32>()?),
        None => None,
    };
    let y = rowwise::layer_norm(flex.as_slice::<f32>()?, res, gamma, beta, eps);
    Some(Tensor::from_data(TensorData::new(y, dims), &x.device()))
}

/// The erf GELU of every value of `x: [n, d]` in one pass ([`rowwise::gelu_erf`]), on flex
/// without gradients; `None` elsewhere.
pub fn gelu_erf(x: &Tensor<2>) -> Option<Tensor<2>> {
    if !fused_elementwise() {
        return None;
    }
    let flex = flex_contiguous(x)?;
    let y = rowwise::gelu_erf(flex.as_slice::<f32>()?);
    Some(Tensor::from_data(TensorData::new(y, x.dims()), &x.device()))
}

/// `silu(gate) ⊙ up` for `y: [b, t, 2f]` (columns gate | up) as `[b, t, f]` in one pass
/// ([`rowwise::silu_mul`]), on flex without gradients; `None` elsewhere.
///
/// On `Autodiff<Flex>` the pass joins the graph with its own backward
/// ([`crate::rowwise_grad::silu_mul_backward`]).
pub fn silu_mul(y: &Tensor<3>) -> Option<Tensor<3>> {
    let [b, t, two_f] = y.dims();
    if !fused_elementwise() || two_f % 2 != 0 {
        return None;
    }
    if y.is_autodiff() {
        let op = rowwise_tracked::Rowwise::SiluMul { f: two_f / 2 };
        return rowwise_tracked::rowwise(y, op, [b, t, two_f / 2]);
    }
    let flex = flex_contiguous(y)?;
    let out = rowwise::silu_mul(flex.as_slice::<f32>()?, two_f / 2);
    Some(Tensor::from_data(
        TensorData::new(out, [b, t, two_f / 2]),
        &y.device(),
    ))
}

/// The fused Q/K/V product `y: [b, t, (h + 2hk)·hd]` split into `q: [b, h, t, hd]` and `k`,
/// `v: [b, hk, t, hd]`, Q and K rotated by RoPE at the positions `at` gives, in one pass
/// ([`rowwise::qkv_heads`]), on flex without gradients; `None` elsewhere, or where a position
/// lies beyond the tables.
pub fn qkv_heads(
    y: &Tensor<3>,
    shape: QkvShape,
    at: Placement<'_>,
    rope: RopeTables<'_>,
) -> Option<(Tensor<4>, Tensor<4>, Tensor<4>)> {
    let half = shape.head_dim / 2;
    let rows = rope.cos.len() / half.max(1);
    // padding only lowers a position: the last token of an unpadded row is the largest
    if !fused_elementwise() || at.start + shape.tokens > rows {
        return None;
    }
    let flex = flex_contiguous(y)?;
    let heads = rowwise::qkv_heads(flex.as_slice::<f32>()?, shape, at, rope);
    let (b, t, hd) = (shape.batch, shape.tokens, shape.head_dim);
    let device = y.device();
    let tensor =
        |v: Vec<f32>, n: usize| Tensor::from_data(TensorData::new(v, [b, n, t, hd]), &device);
    Some((
        tensor(heads.q, shape.heads),
        tensor(heads.k, shape.kv_heads),
        tensor(heads.v, shape.kv_heads),
    ))
}

/// The fused Q/K/V product `y: [b, t, (h + 2hk)·hd]` of LoRA training split into heads
/// `[b, h + 2hk, t, hd]` (per batch row the query heads, then the key heads, then the value
/// heads), Q and K rotated by RoPE at the positions `at` gives, in one pass with its own
/// backward ([`crate::rowwise_grad::qkv_heads_backward`]), on `Autodiff<Flex>`; `None`
/// elsewhere, or where a position lies beyond the tables.
pub fn qkv_heads_tracked(
    y: &Tensor<3>,
    shape: QkvShape,
    at: Placement<'_>,
    rope: &SharedRope,
) -> Option<Tensor<4>> {
    let half = shape.head_dim / 2;
    let rows = rope.cos.len() / half.max(1);
    let padded_rows = at.pads.is_some_and(|p| p.len() != shape.batch);
    if !fused_elementwise() || !y.is_autodiff() || padded_rows || at.start + shape.tokens > rows {
        return None;
    }
    let op = rowwise_tracked::Rowwise::QkvHeads {
        shape,
        at: rowwise_tracked::OwnedPlacement {
            start: at.start,
            pads: at.pads.map(<[usize]>::to_vec),
        },
        rope: rope.clone(),
    };
    let (b, t, hd) = (shape.batch, shape.tokens, shape.head_dim);
    rowwise_tracked::rowwise(y, op, [b, shape.heads + 2 * shape.kv_heads, t, hd])
}

/// `softmax(scale · s)` of attention scores `s: [b, hk, g·t, tk]` (row `a·t + i`: new token
/// `i` under query head `a` of the group) over the key columns token `i` of each batch row may
/// read (causal from `at.start`, after the row's left padding), zero elsewhere, in one pass with
/// its own backward ([`crate::masked_softmax`]), on `Autodiff<Flex>`; `None` elsewhere.
pub fn masked_softmax_tracked(
    scores: &Tensor<4>,
    group: usize,
    at: Placement<'_>,
    scale: f32,
) -> Option<Tensor<4>> {
    let [b, hk, gt, tk] = scores.dims();
    let padded_rows = at.pads.is_some_and(|p| p.len() != b);
    if !fused_elementwise() || !scores.is_autodiff() || padded_rows || group == 0 || gt % group != 0
    {
        return None;
    }
    let shape = ScoreShape {
        batch: b,
        kv_heads: hk,
        group,
        tokens: gt / group,
        keys: tk,
    };
    let op = rowwise_tracked::Rowwise::MaskedSoftmax {
        shape,
        at: rowwise_tracked::OwnedPlacement {
            start: at.start,
            pads: at.pads.map(<[usize]>::to_vec),
        },
        scale,
    };
    rowwise_tracked::rowwise(scores, op, [b, hk, gt, tk])
}
