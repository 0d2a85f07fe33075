//! An external per-layer, per-projection low-rank update `ΔW_{ℓ,π} = U_{ℓ,π} V_{ℓ,π}ᵀ`
//! (RAG-GD's `gΔW(C)`, §5 of the paper), applied for one forward pass as `x V Uᵀ` without
//! copying or modifying the base weights.

use std::collections::BTreeMap;

use burn::tensor::Tensor;

use super::adapt::Proj;
use super::config::LlmConfig;
use super::linear::LowRank;
use crate::{Error, Result};

/// `ΔW = U Vᵀ` with `U: [out, r]`, `V: [in, r]` (weights in PyTorch `[out, in]` convention).
#[derive(Debug, Clone)]
pub struct DeltaFactor {
    pub u: Tensor<2>,
    pub v: Tensor<2>,
}

/// A set of low-rank updates keyed by (layer, projection); missing entries are zero.
#[derive(Debug, Clone, Default)]
pub struct LowRankDelta {
    entries: BTreeMap<(usize, Proj), DeltaFactor>,
}

impl LowRankDelta {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `ΔW_{layer,proj} = U Vᵀ`; ranks of `u` and `v` must agree.
    pub fn set(&mut self, layer: usize, proj: Proj, u: Tensor<2>, v: Tensor<2>) -> Result<()> {
        let (ur, vr) = (u.dims()[1], v.dims()[1]);
        if ur != vr {
            return Err(Error::Adapter {
                name: format!("delta layer {layer} {}", proj.name()),
                reason: format!("U has rank {ur} but V has rank {vr}"),
            });
        }
        self.entries.insert((layer, proj), DeltaFactor { u, v });
        Ok(())
    }

    pub fn get(&self, layer: usize, proj: Proj) -> Option<&DeltaFactor> {
        self.entries.get(&(layer, proj))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every `(layer, projection, factors)`, in layer order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, Proj, &DeltaFactor)> {
        self.entries.iter().map(|(&(l, p), f)| (l, p, f))
    }

    /// Checks layer indices and `U: [out, r]`, `V: [d_model, r]` against the model.
    pub fn check(&self, config: &LlmConfig) -> Result<()> {
        for (&(layer, proj), f) in &self.entries {
            let name = format!("delta layer {layer} {}", proj.name());
            if layer >= config.n_layers {
                return Err(Error::Adapter {
                    name,
                    reason: format!("layer {layer} ≥ {} layers", config.n_layers),
                });
            }
            let out = config.proj_out(proj);
            let (u, v) = (f.u.dims(), f.v.dims());
            if u[0] != out || v[0] != config.d_model {
                return Err(Error::Adapter {
                    name,
                    reason: format!(
                        "U is {u:?} and V is {v:?}; expected [{out}, r] and [{}, r]",
                        config.d_model
                    ),
                });
            }
        }
        Ok(())
    }

    pub(crate) fn term(&self, layer: usize, proj: Proj) -> Option<LowRank> {
        self.get(layer, proj).map(|f| LowRank::Shared {
            down: f.v.clone(),
            up: f.u.clone().transpose(),
            scale: 1.0,
        })
    }
}
