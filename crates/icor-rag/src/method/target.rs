//! Stage 2: the supervision target of Eq. 8,
//! `ΔW_GD^(K)(C) = W^(K) − W_0^ret`, `W^(t+1) = W^(t) − η ∇L(W^(t); C)`,
//! K plain SGD steps on the interface's factors over a support context C, by autodiff, then
//! detached (stored as numbers). The largest K is run once; the smaller K are snapshots on
//! the way. TT-SGD runs the same steps at test time.

use burn::tensor::Device;
use icor_llm::{Adaptation, Llm};

use crate::error::{Error, Result};
use crate::experiment::prompt::Instance;
use crate::method::frozen::FrozenStates;
use crate::method::loss::{AnswerBatch, answer_loss};
use crate::method::optim::sgd_step;
use crate::method::params::LoraLayout;

/// The interface after K SGD steps, for each requested K.
#[derive(Debug, Clone)]
pub struct GdSteps {
    /// The K values, ascending.
    pub ks: Vec<usize>,
    /// Flat factors after `ks[i]` steps.
    pub params: Vec<Vec<f32>>,
    /// `L(W^(t); C)` before step `t + 1`, for `t = 0..K_max`.
    pub losses: Vec<f32>,
}

/// Runs `max(ks)` SGD steps with rate `eta` from `w0` on the mean answer loss of `context`
/// (the mean over its answer tokens).
#[allow(clippy::too_many_arguments)]
pub fn gd_steps(
    model: &Llm,
    frozen: &mut FrozenStates,
    layout: &LoraLayout,
    w0: &[f32],
    context: &[&Instance],
    eta: f64,
    ks: &[usize],
    stage: &'static str,
) -> Result<GdSteps> {
    let batch = AnswerBatch::new(model, frozen, context)?;
    gd_steps_on(model, frozen.split(), layout, w0, &batch, eta, ks, stage)
}

/// [`gd_steps`] on a built batch (whose loss may average otherwise, [`AnswerBatch::averaged`]),
/// with the layers from `split` up carrying the interface.
#[allow(clippy::too_many_arguments)]
pub fn gd_steps_on(
    model: &Llm,
    split: usize,
    layout: &LoraLayout,
    w0: &[f32],
    batch: &AnswerBatch,
    eta: f64,
    ks: &[usize],
    stage: &'static str,
) -> Result<GdSteps> {
    let mut ks: Vec<usize> = ks.to_vec();
    ks.sort_unstable();
    ks.dedup();
    let k_max = ks.last().copied().unwrap_or(0);
    let ad: Device = model.device().clone().autodiff();
    let mut p = w0.to_vec();
    let mut params = Vec::with_capacity(ks.len());
    let mut losses = Vec::with_capacity(k_max);
    for step in 0..k_max {
        let adapter = layout.adapter(&p, &ad);
        let loss = answer_loss(model, split, batch, &Adaptation::lora(&adapter))?;
        let value = icor_llm::tensor_util::to_vec_f32(loss.clone())[0];
        let g = layout.gradient(&adapter, &loss.backward());
        if !value.is_finite() || g.iter().any(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                stage,
                step,
                batch: 0,
                what: format!("support loss {value} or its gradient"),
            });
        }
        losses.push(value);
        sgd_step(&mut p, &g, eta);
        if ks.contains(&(step + 1)) {
            params.push(p.clone());
        }
    }
    Ok(GdSteps { ks, params, losses })
}
