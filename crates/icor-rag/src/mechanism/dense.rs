//! The dense interface: a full change `ΔW` of every Q, K and V projection on layers
//! `first_layer..n`, and its gradient-descent step on the demonstrations' answer loss,
//! `ΔW_GD = −η ∇_W L(W; D)` (Eq. 8 with the whole projection as the interface).
//!
//! The gradient is read through burn's autodiff with an identity-factored LoRA: a pair
//! `a = I` (fixed), `b = ΔWᵀ` (trainable) adds `x · I · b = x ΔWᵀ` to the projection, so
//! `∂L/∂b = (∂L/∂W)ᵀ`, the dense gradient, at the current `ΔW`. The same pair applies an
//! update for a forward pass. The backbone's own weights are never copied.

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{Adaptation, Llm, LlmConfig, LoraAdapter, LoraLayer, LoraPair, Proj};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::error::{Error, Result};
use crate::frozen::FrozenStates;
use crate::loss::{AnswerBatch, answer_loss};
use crate::prompt::Instance;

/// `ΔW` of Q, K, V on layers `first_layer..n_layers`, each stored transposed (`[d_in, d_out]`
/// row-major, LoRA's `b` layout), in layer order then Q, K, V.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseUpdate {
    pub first_layer: usize,
    pub d_in: usize,
    /// `d_out` of Q, K, V.
    pub d_out: [usize; 3],
    pub blocks: Vec<Vec<f32>>,
}

impl DenseUpdate {
    /// `ΔW = 0` on layers `first_layer..`.
    pub fn zeros(config: &LlmConfig, first_layer: usize) -> Self {
        let d_out = Proj::ALL.map(|p| config.proj_out(p));
        let blocks = (first_layer..config.n_layers)
            .flat_map(|_| d_out.iter().map(|&o| vec![0f32; config.d_model * o]))
            .collect();
        Self {
            first_layer,
            d_in: config.d_model,
            d_out,
            blocks,
        }
    }

    /// Layers covered.
    pub fn layers(&self) -> usize {
        self.blocks.len() / 3
    }

    /// `‖ΔW_b‖_F` of every block.
    pub fn block_norms(&self) -> Vec<f64> {
        self.blocks
            .iter()
            .map(|b| {
                b.iter()
                    .map(|&x| f64::from(x) * f64::from(x))
                    .sum::<f64>()
                    .sqrt()
            })
            .collect()
    }

    /// `‖ΔW‖_F` over every block.
    pub fn norm(&self) -> f64 {
        self.block_norms().iter().map(|n| n * n).sum::<f64>().sqrt()
    }

    /// `s · ΔW`.
    pub fn scaled(&self, s: f64) -> Self {
        let mut out = self.clone();
        for b in &mut out.blocks {
            for x in b.iter_mut() {
                *x = (f64::from(*x) * s) as f32;
            }
        }
        out
    }

    /// `self + s · other` (same layout).
    pub fn add_scaled(&mut self, other: &DenseUpdate, s: f64) -> Result<()> {
        if self.first_layer != other.first_layer || self.blocks.len() != other.blocks.len() {
            return Err(Error::Config(format!(
                "dense updates from layer {} ({} blocks) and {} ({} blocks) do not add",
                self.first_layer,
                self.blocks.len(),
                other.first_layer,
                other.blocks.len()
            )));
        }
        for (a, b) in self.blocks.iter_mut().zip(&other.blocks) {
            for (x, y) in a.iter_mut().zip(b) {
                *x = (f64::from(*x) + s * f64::from(*y)) as f32;
            }
        }
        Ok(())
    }

    /// The blocks of layers `first_layer..` only (the top-L interface of the same step).
    pub fn restrict(&self, first_layer: usize) -> Result<Self> {
        if first_layer < self.first_layer {
            return Err(Error::Config(format!(
                "cannot restrict an update from layer {} to layers from {first_layer}",
                self.first_layer
            )));
        }
        let skip = 3 * (first_layer - self.first_layer);
        Ok(Self {
            first_layer,
            blocks: self.blocks[skip..].to_vec(),
            ..self.clone()
        })
    }

    /// A random update with every block's Frobenius norm equal to this one's (Gaussian
    /// direction per block, seeded): the direction control.
    pub fn random_like(&self, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = self.clone();
        for (b, target) in out.blocks.iter_mut().zip(self.block_norms()) {
            let draw: Vec<f64> = (0..b.len())
                .map(|_| rng.sample::<f64, _>(StandardNormal))
                .collect();
            let n = draw.iter().map(|x| x * x).sum::<f64>().sqrt();
            let s = if n > 0.0 { target / n } else { 0.0 };
            for (x, d) in b.iter_mut().zip(draw) {
                *x = (d * s) as f32;
            }
        }
        out
    }

    /// `⟨self, other⟩_F`.
    pub fn inner(&self, other: &DenseUpdate) -> f64 {
        self.blocks
            .iter()
            .zip(&other.blocks)
            .map(|(a, b)| {
                a.iter()
                    .zip(b)
                    .map(|(&x, &y)| f64::from(x) * f64::from(y))
                    .sum::<f64>()
            })
            .sum()
    }

    /// The identity-factored adapter `a = I`, `b = ΔWᵀ`, scale 1, on `device`; `b` is
    /// trainable when `trainable` (and `device` is an autodiff device).
    pub fn adapter(&self, device: &Device, trainable: bool) -> LoraAdapter {
        let d = self.d_in;
        let mut eye = vec![0f32; d * d];
        for i in 0..d {
            eye[i * d + i] = 1.0;
        }
        let eye: Tensor<2> = Tensor::from_data(TensorData::new(eye, [d, d]), device);
        let layers = self
            .blocks
            .chunks(3)
            .map(|qkv| {
                let pair = |i: usize| LoraPair {
                    a: Param::from_tensor(eye.clone()).set_require_grad(false),
                    b: Param::from_tensor(Tensor::from_data(
                        TensorData::new(qkv[i].clone(), [d, self.d_out[i]]),
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
            first_layer: self.first_layer,
            rank: d,
            alpha: d as f32,
        }
    }
}

/// `∇_W L(W + ΔW; examples)` for the dense interface at `at` (layers `at.first_layer..`), with
/// the loss: the mean answer-token cross-entropy over every answer token of `examples`. The
/// layers below the interface run once, without autodiff.
pub fn gradient(
    model: &Llm,
    examples: &[Instance],
    at: &DenseUpdate,
) -> Result<(DenseUpdate, f32)> {
    let ad: Device = model.device().clone().autodiff();
    let adapter = at.adapter(&ad, true);
    let refs: Vec<&Instance> = examples.iter().collect();
    let mut frozen = FrozenStates::new(at.first_layer);
    let batch = AnswerBatch::new(model, &mut frozen, &refs)?;
    let loss = answer_loss(model, at.first_layer, &batch, &Adaptation::lora(&adapter))?;
    let value = to_vec_f32(loss.clone())[0];
    let grads = loss.backward();
    let mut g = at.clone();
    for (layer, blocks) in adapter.layers.iter().zip(g.blocks.chunks_mut(3)) {
        for (i, proj) in Proj::ALL.into_iter().enumerate() {
            let grad = layer.pair(proj).b.val().grad(&grads).map(to_vec_f32);
            blocks[i] = grad.unwrap_or_else(|| vec![0f32; blocks[i].len()]);
        }
    }
    if !value.is_finite() || g.blocks.iter().flatten().any(|x| !x.is_finite()) {
        return Err(Error::NonFinite {
            stage: "mechanism gradient",
            step: 0,
            batch: 0,
            what: format!("demonstration loss {value} or its dense gradient"),
        });
    }
    Ok((g, value))
}

/// K gradient-descent steps of size `eta` from `ΔW = 0`: `ΔW_GD^(k)` after every step
/// `k = 1…K`, with the loss before each step.
pub fn gd_steps(
    model: &Llm,
    examples: &[Instance],
    first_layer: usize,
    eta: f64,
    steps: usize,
) -> Result<(Vec<DenseUpdate>, Vec<f32>)> {
    let mut w = DenseUpdate::zeros(&model.config, first_layer);
    let mut losses = Vec::with_capacity(steps);
    let mut snapshots = Vec::with_capacity(steps);
    for _ in 0..steps {
        let (g, loss) = gradient(model, examples, &w)?;
        w.add_scaled(&g, -eta)?;
        losses.push(loss);
        snapshots.push(w.clone());
    }
    Ok((snapshots, losses))
}
