//! Attention for inference on the CPU backend in one kernel (`icor_kernels::attend`): no
//! score tensor, no mask tensor, no product per (row, head), and the output written straight
//! in the `[b, t, heads · head_dim]` layout the output projection reads.

use burn::tensor::{Tensor, TensorData};
use icor_kernels::{AttnShape, Visible, attend};

use crate::positions::Positions;
use crate::tensor_util::flex_contiguous;

/// `softmax(q kᵀ · scale + mask) v` for `q: [b, h, t, hd]` and `k`, `v: [b, hk, tk, hd]`
/// (query head `j` reads key/value head `j / (h / hk)`), masked as [`Positions`] says, as
/// `[b, t, h · hd]`; `None` where the kernel does not apply (tensors that carry gradients,
/// or not on flex), and the caller takes burn's operations.
pub(crate) fn fused_attention(
    q: &Tensor<4>,
    k: &Tensor<4>,
    v: &Tensor<4>,
    pos: &Positions<'_>,
    scale: f32,
) -> Option<Tensor<3>> {
    let [b, h, t, hd] = q.dims();
    let [_, hk, tk, _] = k.dims();
    let (qf, kf, vf) = (
        flex_contiguous(q)?,
        flex_contiguous(k)?,
        flex_contiguous(v)?,
    );
    let shape = AttnShape {
        batch: b,
        heads: h,
        kv_heads: hk,
        queries: t,
        keys: tk,
        head_dim: hd,
    };
    let visible = Visible {
        start: pos.start,
        from: pos.pads,
    };
    let out = attend(
        qf.as_slice::<f32>()?,
        kf.as_slice::<f32>()?,
        vf.as_slice::<f32>()?,
        shape,
        visible,
        scale,
    );
    Some(Tensor::from_data(
        TensorData::new(out, [b, t, h * hd]),
        &q.device(),
    ))
}
