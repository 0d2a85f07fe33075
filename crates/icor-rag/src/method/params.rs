//! The interface's parameters on the host: every LoRA factor of `W_0^ret` (or of a copy being
//! stepped) in one flat `f32` vector with a fixed layout. The parameters are small (the
//! factors, not the backbone), so the optimiser steps, the checkpoints and the gradient-step
//! targets work on this vector; a [`LoraAdapter`] is rebuilt from it for each forward pass.

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{LlmConfig, LoraAdapter, LoraLayer, LoraPair, Proj};

use crate::error::{Error, Result};

/// Where one (layer, projection) block's factors sit in the flat vector:
/// `a = Aᵀ: [d_in, r]` at `a_at`, then `b = Bᵀ: [r, d_out]` at `b_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLayout {
    pub layer: usize,
    pub proj: Proj,
    pub d_in: usize,
    pub d_out: usize,
    pub a_at: usize,
    pub b_at: usize,
}

/// The layout of an adapter's factors.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraLayout {
    pub first_layer: usize,
    pub rank: usize,
    pub alpha: f32,
    pub blocks: Vec<BlockLayout>,
    pub len: usize,
}

impl LoraLayout {
    /// The layout of a rank-`rank` adapter on layers `first_layer..` of `config`.
    pub fn new(config: &LlmConfig, first_layer: usize, rank: usize, alpha: f32) -> Self {
        let mut blocks = Vec::new();
        let mut at = 0;
        for layer in first_layer..config.n_layers {
            for proj in Proj::ALL {
                let (d_in, d_out) = (config.d_model, config.proj_out(proj));
                blocks.push(BlockLayout {
                    layer,
                    proj,
                    d_in,
                    d_out,
                    a_at: at,
                    b_at: at + d_in * rank,
                });
                at += (d_in + d_out) * rank;
            }
        }
        Self {
            first_layer,
            rank,
            alpha,
            blocks,
            len: at,
        }
    }

    /// `α / r`.
    pub fn scale(&self) -> f32 {
        self.alpha / self.rank as f32
    }

    /// The flat parameters of `adapter` (which must have this layout).
    pub fn flatten(&self, adapter: &LoraAdapter) -> Result<Vec<f32>> {
        self.check(adapter)?;
        let mut flat = vec![0f32; self.len];
        for blk in &self.blocks {
            let p = self.pair(adapter, blk);
            flat[blk.a_at..blk.b_at].copy_from_slice(&to_vec_f32(p.a.val()));
            flat[blk.b_at..blk.b_at + self.rank * blk.d_out]
                .copy_from_slice(&to_vec_f32(p.b.val()));
        }
        Ok(flat)
    }

    /// An adapter on `device` holding `flat` (trainable parameters on an autodiff device).
    pub fn adapter(&self, flat: &[f32], device: &Device) -> LoraAdapter {
        let r = self.rank;
        let mut layers = Vec::new();
        for chunk in self.blocks.chunks(3) {
            let pair = |blk: &BlockLayout| LoraPair {
                a: Param::from_tensor(Tensor::from_data(
                    TensorData::new(flat[blk.a_at..blk.b_at].to_vec(), [blk.d_in, r]),
                    device,
                )),
                b: Param::from_tensor(Tensor::from_data(
                    TensorData::new(
                        flat[blk.b_at..blk.b_at + r * blk.d_out].to_vec(),
                        [r, blk.d_out],
                    ),
                    device,
                )),
            };
            layers.push(LoraLayer {
                q: pair(&chunk[0]),
                k: pair(&chunk[1]),
                v: pair(&chunk[2]),
            });
        }
        LoraAdapter {
            layers,
            first_layer: self.first_layer,
            rank: self.rank,
            alpha: self.alpha,
        }
    }

    /// The gradient of every factor of `adapter` (built by [`Self::adapter`] on an autodiff
    /// device) as a flat vector; factors the loss did not reach get zero.
    pub fn gradient(&self, adapter: &LoraAdapter, grads: &burn::tensor::Gradients) -> Vec<f32> {
        let mut flat = vec![0f32; self.len];
        for blk in &self.blocks {
            let p = self.pair(adapter, blk);
            if let Some(g) = p.a.val().grad(grads) {
                flat[blk.a_at..blk.b_at].copy_from_slice(&to_vec_f32(g));
            }
            if let Some(g) = p.b.val().grad(grads) {
                flat[blk.b_at..blk.b_at + self.rank * blk.d_out].copy_from_slice(&to_vec_f32(g));
            }
        }
        flat
    }

    fn pair<'a>(&self, adapter: &'a LoraAdapter, blk: &BlockLayout) -> &'a LoraPair {
        let layer = &adapter.layers[blk.layer - self.first_layer];
        layer.pair(blk.proj)
    }

    /// Checks that `adapter` has this layout.
    pub fn check(&self, adapter: &LoraAdapter) -> Result<()> {
        if adapter.first_layer != self.first_layer
            || adapter.rank != self.rank
            || adapter.layers.len() * 3 != self.blocks.len()
        {
            return Err(Error::Config(format!(
                "adapter (first layer {}, rank {}, {} layers) does not match the interface \
                 (first layer {}, rank {}, {} layers)",
                adapter.first_layer,
                adapter.rank,
                adapter.layers.len(),
                self.first_layer,
                self.rank,
                self.blocks.len() / 3
            )));
        }
        Ok(())
    }
}
