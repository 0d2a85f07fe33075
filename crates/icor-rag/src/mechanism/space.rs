//! What a gradient step changes: the dense Q/K/V weights of the bare backbone ([`super::dense`]),
//! or the LoRA factors of `W_0^ret` stepped from their trained values ([`super::base`], the
//! interface RAG-GD's targets live on, with `W_0^ret` applied in every read of the study).
//!
//! Either way the step is `θ ← θ − η ∇_θ L(θ; D)` on the demonstrations' answer loss (the
//! mean answer-token cross-entropy over every answer token of the examples, Eq. 8).

use burn::tensor::Device;
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{Adaptation, Llm, LoraAdapter};

use super::base::BaseAdapter;
use super::dense;
use super::update::Update;
use crate::error::{Error, Result};
use crate::experiment::prompt::Instance;
use crate::method::frozen::FrozenStates;
use crate::method::loss::{AnswerBatch, answer_loss};

/// The parameters a step moves.
#[derive(Debug, Clone, Copy)]
pub enum Space<'a> {
    /// `ΔW` of Q, K, V, from the backbone's weights.
    Dense,
    /// `δθ` of `W_0^ret`'s factors, from `θ_0`.
    Lora(&'a BaseAdapter),
}

impl Space<'_> {
    /// `dense` or `lora`.
    pub fn name(&self) -> &'static str {
        match self {
            Space::Dense => "dense",
            Space::Lora(_) => "lora",
        }
    }

    /// The lowest layer a step can move: 0, or the first layer `W_0^ret` covers.
    pub fn first_layer(&self) -> usize {
        match self {
            Space::Dense => 0,
            Space::Lora(w0) => w0.layout.first_layer,
        }
    }

    /// What every read without a step applies: nothing, or `W_0^ret`.
    pub fn base(&self) -> Adaptation<'_> {
        match self {
            Space::Dense => Adaptation::none(),
            Space::Lora(w0) => Adaptation::lora(&w0.adapter),
        }
    }

    /// The streams entering layer `split`, with what sits below it.
    pub fn frozen(&self, split: usize) -> FrozenStates {
        match self {
            Space::Dense => FrozenStates::new(split),
            Space::Lora(w0) => w0.frozen(split),
        }
    }

    /// No change on layers `first_layer..`.
    pub fn zeros(&self, model: &Llm, first_layer: usize) -> Result<Update> {
        match self {
            Space::Dense => Ok(dense::zeros(&model.config, first_layer)),
            Space::Lora(w0) => w0.zeros(&model.config, first_layer),
        }
    }

    /// The adapter that applies `u` (on top of `θ_0` for the LoRA interface) on layers
    /// `u.first_layer..`; trainable when `trainable` on an autodiff device.
    pub fn adapter(
        &self,
        model: &Llm,
        u: &Update,
        device: &Device,
        trainable: bool,
    ) -> Result<LoraAdapter> {
        match self {
            Space::Dense => Ok(dense::adapter(u, &model.config, device, trainable)),
            Space::Lora(w0) => w0.adapter(&model.config, u, device),
        }
    }

    /// `∇ L(at; examples)` on layers `at.first_layer..`, and the loss. The layers below run
    /// once, without autodiff.
    pub fn gradient(
        &self,
        model: &Llm,
        examples: &[Instance],
        at: &Update,
    ) -> Result<(Update, f32)> {
        let ad: Device = model.device().clone().autodiff();
        let adapter = self.adapter(model, at, &ad, true)?;
        let refs: Vec<&Instance> = examples.iter().collect();
        let mut frozen = self.frozen(at.first_layer);
        let batch = AnswerBatch::new(model, &mut frozen, &refs)?;
        let loss = answer_loss(model, at.first_layer, &batch, &Adaptation::lora(&adapter))?;
        let value = to_vec_f32(loss.clone())[0];
        let grads = loss.backward();
        let g = match self {
            Space::Dense => dense::gradient(&adapter, &grads, at),
            Space::Lora(w0) => w0.gradient(&model.config, &adapter, &grads, at)?,
        };
        if !value.is_finite() || g.blocks.iter().flatten().any(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                stage: "mechanism gradient",
                step: 0,
                batch: 0,
                what: format!("demonstration loss {value} or its {} gradient", self.name()),
            });
        }
        Ok((g, value))
    }

    /// K gradient-descent steps of size `eta` from no change: the update after every step
    /// `k = 1…K`, with the loss before each step.
    pub fn gd_steps(
        &self,
        model: &Llm,
        examples: &[Instance],
        first_layer: usize,
        eta: f64,
        steps: usize,
    ) -> Result<(Vec<Update>, Vec<f32>)> {
        let mut w = self.zeros(model, first_layer)?;
        let mut losses = Vec::with_capacity(steps);
        let mut snapshots = Vec::with_capacity(steps);
        for _ in 0..steps {
            let (g, loss) = self.gradient(model, examples, &w)?;
            w.add_scaled(&g, -eta)?;
            losses.push(loss);
            snapshots.push(w.clone());
        }
        Ok((snapshots, losses))
    }
}
