//! The answer-token cross-entropy `L(W; ·)` of Eq. 8 and of `W_0^ret`'s training: the mean
//! negative log-likelihood of the gold answer's tokens (and the end-of-turn token) given the
//! RAG prompt, teacher-forced. Logits are computed only at the positions that predict an
//! answer token, not over the whole prompt.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use icor_llm::{Adaptation, Llm};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::experiment::prompt::Instance;
use crate::method::frozen::FrozenStates;

/// How `L(W; C)` averages a context's answer tokens; the paper writes `L(W; C)` without
/// saying which.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Averaging {
    /// The mean over every answer token of the context: an example with a long answer
    /// weighs more than one with a short answer.
    #[default]
    Tokens,
    /// The mean over instances of each instance's mean over its answer tokens.
    Instances,
}

/// A teacher-forced batch: frozen streams `[b, t, d]`, the flat positions whose next token
/// is an answer token, and those tokens.
#[derive(Debug, Clone)]
pub struct AnswerBatch {
    x: Tensor<3>,
    picks: Tensor<1, Int>,
    labels: Tensor<2, Int>,
    /// Per answer token, its weight in the loss under [`Averaging::Instances`] (`[n, 1]`,
    /// summing to 1); `None`: the plain mean over tokens.
    weights: Option<Tensor<2>>,
    /// Answer tokens in the batch.
    pub tokens: usize,
    /// Positions per row (`t_max`).
    pub t_max: usize,
}

impl AnswerBatch {
    /// Builds the batch of `instances`, reading the frozen streams from `frozen`; its loss is
    /// the mean over every answer token.
    pub fn new(model: &Llm, frozen: &mut FrozenStates, instances: &[&Instance]) -> Result<Self> {
        Self::averaged(model, frozen, instances, Averaging::Tokens)
    }

    /// [`Self::new`] with the loss averaged as `averaging` says.
    pub fn averaged(
        model: &Llm,
        frozen: &mut FrozenStates,
        instances: &[&Instance],
        averaging: Averaging,
    ) -> Result<Self> {
        let seqs: Vec<Vec<u32>> = instances.iter().map(|i| i.sequence()).collect();
        let t_max = seqs.iter().map(Vec::len).max().unwrap_or(0);
        let mut picks = Vec::new();
        let mut labels = Vec::new();
        for (row, inst) in instances.iter().enumerate() {
            if inst.prompt.is_empty() || inst.answer.is_empty() {
                return Err(Error::Config(format!(
                    "instance {row} of the batch has an empty prompt or answer"
                )));
            }
            for (j, &tok) in inst.answer.iter().enumerate() {
                // The token at position p predicts the token at p + 1.
                let p = inst.prompt.len() + j - 1;
                picks.push((row * t_max + p) as i64);
                labels.push(i64::from(tok));
            }
        }
        let x = frozen.batch(model, &seqs)?;
        let device = model.device();
        let n = picks.len();
        let weights = (averaging == Averaging::Instances).then(|| {
            let per: Vec<f32> = instances
                .iter()
                .flat_map(|i| {
                    let w = 1.0 / (i.answer.len() * instances.len()) as f32;
                    std::iter::repeat_n(w, i.answer.len())
                })
                .collect();
            Tensor::from_data(TensorData::new(per, [n, 1]), device)
        });
        Ok(Self {
            x,
            picks: Tensor::from_data(TensorData::new(picks, [n]), device),
            labels: Tensor::from_data(TensorData::new(labels, [n, 1]), device),
            weights,
            tokens: n,
            t_max,
        })
    }
}

/// Answer-token cross-entropy of `batch` under `adapt` (layers from the frozen split up),
/// a scalar `[1]`; differentiable in any autodiff parameter `adapt` holds.
///
/// By default ([`Averaging::Tokens`]) the mean runs over every answer token of the batch,
/// not over instances: for a support context `C` (Eq. 8) an example with a long answer
/// weighs more than one with a short answer (on one measured context, 5.38 against 6.71 for
/// the mean of per-instance means). The paper writes `L(W; C)` without saying which; a
/// profile's `targets.averaging_check` measures the other choice.
pub fn answer_loss(
    model: &Llm,
    split: usize,
    batch: &AnswerBatch,
    adapt: &Adaptation<'_>,
) -> Result<Tensor<1>> {
    let n_layers = model.config.n_layers;
    let h = model.forward_layers(batch.x.clone(), split..n_layers, None, adapt)?;
    let h = model.final_norm(h);
    let [b, t, d] = h.dims();
    let rows = h.reshape([b * t, d]).select(0, batch.picks.clone());
    let logp = log_softmax(model.project(rows), 1);
    let picked = logp.gather(1, batch.labels.clone());
    Ok(match &batch.weights {
        Some(w) => (picked * w.clone()).sum().neg(),
        None => picked.mean().neg(),
    })
}
