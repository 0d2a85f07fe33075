//! Attention for inference on the CPU backend in one kernel (`icor_kernels::attend`): no
//! score tensor, no mask tensor, no product per (row, head), and the output written straight
//! in the `[b, t, heads · head_dim]` layout the output projection reads.

use burn::tensor::Tensor;
use icor_kernels::Visible;
use icor_kernels::burn_ops::attention;

use crate::positions::Positions;

/// `softmax(q kᵀ · scale + mask) v` for `q: [b, h, t, hd]` and `k`, `v: [b, hk, tk, hd]`,
/// masked as [`Positions`] says, as `[b, t, h · hd]`; `None` where the kernel does not apply
/// (tensors that carry gradients, or not on flex), and the caller takes burn's operations.
pub(crate) fn fused_attention(
    q: &Tensor<4>,
    k: &Tensor<4>,
    v: &Tensor<4>,
    pos: &Positions<'_>,
    scale: f32,
) -> Option<Tensor<3>> {
    let visible = Visible::Causal {
        start: pos.start,
        from: pos.pads,
    };
    attention(q, k, v, visible, scale)
}
