//! The dense interface: a full change `ΔW` of every Q, K and V projection on layers
//! `first_layer..n`, stepped by `ΔW_GD = −η ∇_W L(W; D)` (Eq. 8 with the whole projection as
//! the interface).
//!
//! The gradient is read through burn's autodiff with an identity-factored LoRA: a pair
//! `a = I` (fixed), `b = ΔWᵀ` (trainable) adds `x · I · b = x ΔWᵀ` to the projection, so
//! `∂L/∂b = (∂L/∂W)ᵀ`, the dense gradient, at the current `ΔW`. The same pair applies an
//! update for a forward pass. The backbone's own weights are never copied.

use burn::module::Param;
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{LlmConfig, LoraAdapter, LoraLayer, LoraPair, Proj};

use super::update::Update;

/// Blocks per layer: `ΔW_Qᵀ`, `ΔW_Kᵀ`, `ΔW_Vᵀ`, each `[d_in, d_out]` row-major.
pub const PER_LAYER: usize = 3;

/// `ΔW = 0` on layers `first_layer..`.
pub fn zeros(config: &LlmConfig, first_layer: usize) -> Update {
    let blocks = (first_layer..config.n_layers)
        .flat_map(|_| Proj::ALL.map(|p| vec![0f32; config.d_model * config.proj_out(p)]))
        .collect();
    Update {
        first_layer,
        per_layer: PER_LAYER,
        blocks,
    }
}

/// The identity-factored adapter `a = I`, `b = ΔWᵀ`, scale 1, on `device`; `b` is
/// trainable when `trainable` (and `device` is an autodiff device).
pub fn adapter(u: &Update, config: &LlmConfig, device: &Device, trainable: bool) -> LoraAdapter {
    let d = config.d_model;
    let mut eye = vec![0f32; d * d];
    for i in 0..d {
        eye[i * d + i] = 1.0;
    }
    let eye: Tensor<2> = Tensor::from_data(TensorData::new(eye, [d, d]), device);
    let layers = u
        .blocks
        .chunks(PER_LAYER)
        .map(|qkv| {
            let pair = |i: usize| LoraPair {
                a: Param::from_tensor(eye.clone()).set_require_grad(false),
                b: Param::from_tensor(Tensor::from_data(
                    TensorData::new(qkv[i].clone(), [d, config.proj_out(Proj::ALL[i])]),
                    device,
                ))
                .set_require_grad(trainable),
            };
            LoraLayer {
                q: pair(0),
                k: pair(1),
                v: pair(2),
            }
        })
        .collect();
    LoraAdapter {
        layers,
        first_layer: u.first_layer,
        rank: d,
        alpha: d as f32,
    }
}

/// `∂L/∂ΔW` read off the identity-factored adapter's `b` factors.
pub fn gradient(adapter: &LoraAdapter, grads: &Gradients, at: &Update) -> Update {
    let mut g = at.clone();
    for (layer, blocks) in adapter.layers.iter().zip(g.blocks.chunks_mut(PER_LAYER)) {
        for (i, proj) in Proj::ALL.into_iter().enumerate() {
            let grad = layer.pair(proj).b.val().grad(grads).map(to_vec_f32);
            blocks[i] = grad.unwrap_or_else(|| vec![0f32; blocks[i].len()]);
        }
    }
    g
}
