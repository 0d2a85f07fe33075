//! The evidence-use interface `W_0^ret` of RAG-GD (§5.1): LoRA (Hu et al. 2021) of rank `r`
//! and scale `α / r` on the Q, K and V projections of every attention layer.
//!
//! `W' = W + (α/r) B A` with `A: [r, in]`, `B: [out, r]` (PEFT's layout); stored here as
//! `a = Aᵀ: [in, r]` and `b = Bᵀ: [r, out]` so the update is `x · a · b`. `A` starts
//! uniform in `±1/√in` (PEFT's Kaiming-uniform bound with `a = √5`), `B` at zero, so a fresh
//! adapter leaves the model unchanged. Only `a` and `b` are burn parameters: the backbone is
//! frozen by construction.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::adapt::Proj;
use super::config::LlmConfig;
use super::linear::LowRank;
use crate::{Error, Result};

/// One LoRA pair.
#[derive(Module, Debug)]
pub struct LoraPair {
    /// `Aᵀ: [in, r]`.
    pub a: Param<Tensor<2>>,
    /// `Bᵀ: [r, out]`.
    pub b: Param<Tensor<2>>,
}

/// LoRA pairs of one layer.
#[derive(Module, Debug)]
pub struct LoraLayer {
    pub q: LoraPair,
    pub k: LoraPair,
    pub v: LoraPair,
}

impl LoraLayer {
    pub fn pair(&self, proj: Proj) -> &LoraPair {
        match proj {
            Proj::Q => &self.q,
            Proj::K => &self.k,
            Proj::V => &self.v,
        }
    }
}

/// A Q/K/V LoRA adapter on layers `first_layer..n_layers` of a backbone (every layer when
/// `first_layer = 0`; the top `L` layers when the lower ones stay frozen and their hidden
/// states can be cached).
#[derive(Module, Debug)]
pub struct LoraAdapter {
    /// Pairs of layers `first_layer, first_layer + 1, …`.
    pub layers: Vec<LoraLayer>,
    #[module(skip)]
    pub first_layer: usize,
    #[module(skip)]
    pub rank: usize,
    #[module(skip)]
    pub alpha: f32,
}

impl LoraAdapter {
    /// A fresh adapter (`B = 0`) with `A` drawn from a seeded generator. Put it on an autodiff
    /// device (`device.autodiff()`) to train it.
    pub fn new(config: &LlmConfig, rank: usize, alpha: f32, seed: u64, device: &Device) -> Self {
        Self::new_from(config, 0, rank, alpha, seed, device)
    }

    /// A fresh adapter on layers `first_layer..n_layers` only.
    pub fn new_from(
        config: &LlmConfig,
        first_layer: usize,
        rank: usize,
        alpha: f32,
        seed: u64,
        device: &Device,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = config.d_model;
        let bound = 1.0 / (d as f32).sqrt();
        let mut pair = |out: usize| {
            let a: Vec<f32> = (0..d * rank)
                .map(|_| rng.random_range(-bound..bound))
                .collect();
            LoraPair {
                a: Param::from_tensor(Tensor::from_data(TensorData::new(a, [d, rank]), device)),
                b: Param::from_tensor(Tensor::zeros([rank, out], device)),
            }
        };
        let layers = (first_layer.min(config.n_layers)..config.n_layers)
            .map(|_| LoraLayer {
                q: pair(config.proj_out(Proj::Q)),
                k: pair(config.proj_out(Proj::K)),
                v: pair(config.proj_out(Proj::V)),
            })
            .collect();
        Self {
            layers,
            first_layer,
            rank,
            alpha,
        }
    }

    /// The pairs of backbone layer `layer` (`None` below `first_layer`).
    pub fn layer(&self, layer: usize) -> Option<&LoraLayer> {
        layer
            .checked_sub(self.first_layer)
            .and_then(|i| self.layers.get(i))
    }

    /// Backbone layers the adapter covers.
    pub fn layer_range(&self) -> std::ops::Range<usize> {
        self.first_layer..self.first_layer + self.layers.len()
    }

    /// `α / r`.
    pub fn scale(&self) -> f32 {
        self.alpha / self.rank as f32
    }

    /// Checks layer count and factor shapes against the model.
    pub fn check(&self, config: &LlmConfig) -> Result<()> {
        let bad = |reason: String| Error::Adapter {
            name: "lora".into(),
            reason,
        };
        if self.first_layer + self.layers.len() != config.n_layers {
            return Err(bad(format!(
                "{} layers from layer {}, the model has {}",
                self.layers.len(),
                self.first_layer,
                config.n_layers
            )));
        }
        for (l, layer) in self.layer_range().zip(&self.layers) {
            for proj in Proj::ALL {
                let p = layer.pair(proj);
                let (a, b) = (p.a.val().dims(), p.b.val().dims());
                let want_a = [config.d_model, self.rank];
                let want_b = [self.rank, config.proj_out(proj)];
                if a != want_a || b != want_b {
                    return Err(bad(format!(
                        "layer {l} {}: a {a:?}, b {b:?}; expected {want_a:?}, {want_b:?}",
                        proj.name()
                    )));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn term(&self, layer: usize, proj: Proj) -> Option<LowRank> {
        let p = self.layer(layer)?.pair(proj);
        Some(LowRank::Shared {
            down: p.a.val(),
            up: p.b.val(),
            scale: self.scale(),
        })
    }

    /// The update of `(layer, proj)` as `ΔW = U Vᵀ` factors (`U = (α/r) B`, `V = Aᵀ`), the
    /// parameterisation RAG-GD's predictor outputs (`None` below `first_layer`).
    pub fn delta_factors(&self, layer: usize, proj: Proj) -> Option<(Tensor<2>, Tensor<2>)> {
        let p = self.layer(layer)?.pair(proj);
        Some((p.b.val().transpose().mul_scalar(self.scale()), p.a.val()))
    }
}
