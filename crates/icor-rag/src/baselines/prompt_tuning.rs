//! Prompt tuning (Lester et al., 2021; §4.5 of the paper): `m` trained input vectors (a soft
//! prefix) placed before the RAG prompt's token embeddings, in place of the LoRA interface,
//! with `W_0^ret`'s supervision (the same NQ instances, answer-token cross-entropy, AdamW,
//! clipping and budget). The backbone stays frozen and bare.
//!
//! The prefix changes every layer's input, so nothing below it can be cached: every step runs
//! all layers forward and backward (on SmolLM2 about ten times a `W_0^ret` step on the top two
//! layers), and its evaluation shares no prefill with the other methods.
//!
//! Checkpoints (vectors, both moments, step, loss curve) are written atomically every
//! `checkpoint_every` steps; the batch order is [`crate::method::adapter::batch_indices`], so a
//! resumed run ends with the same numbers as an uninterrupted one.

use std::path::Path;
use std::time::Instant;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{Adaptation, FrozenPrefix, Llm};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::experiment::profile::AdapterSettings;
use crate::experiment::prompt::Instance;
use crate::experiment::store::Stamp;
use crate::method::adapter::{TrainedAdapter, batch_indices};
use crate::method::checkpoint::Checkpoint;
use crate::method::optim::AdamW;
use crate::method::steps::{MicroStep, StepLoop};

/// Prompt tuning's settings: the prefix length, its optimiser budget (as `W_0^ret`'s unless
/// stated) and the evaluated subset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PromptTuningSettings {
    /// Virtual tokens `m`.
    pub virtual_tokens: usize,
    /// Optimiser settings (steps, lr, batch, clip, checkpoints) on `W_0^ret`'s instances.
    pub train: AdapterSettings,
    /// Questions per set it is evaluated on (the first ones).
    pub questions: usize,
}

/// A soft prefix: `m × d` values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftPrompt {
    pub m: usize,
    pub d: usize,
    pub values: Vec<f32>,
}

impl SoftPrompt {
    /// Lester et al.'s initialisation: the embeddings of `m` vocabulary tokens drawn with
    /// `seed` (ids below 1000 are skipped: special and byte tokens).
    pub fn from_vocabulary(model: &Llm, m: usize, seed: u64) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x50f7);
        let v = model.config.vocab_size as u32;
        let low = 1000.min(v / 2);
        let ids: Vec<u32> = (0..m).map(|_| rng.random_range(low..v)).collect();
        let e = model.embed(&ids, 1)?;
        Ok(Self {
            m,
            d: model.config.d_model,
            values: to_vec_f32(e),
        })
    }

    /// The prefix as `[1, m, d]` on `device` (trainable on an autodiff device with `grad`).
    pub fn tensor(&self, device: &Device, grad: bool) -> Tensor<3> {
        let t = Tensor::<3>::from_data(
            TensorData::new(self.values.clone(), [1, self.m, self.d]),
            device,
        );
        if grad { t.require_grad() } else { t }
    }

    /// The generation prefix of `prompt` under this soft prompt (every layer runs on it).
    pub fn prefix(&self, model: &Llm, prompt: &[u32]) -> Result<FrozenPrefix> {
        let x = Tensor::cat(
            vec![self.tensor(model.device(), false), model.embed(prompt, 1)?],
            1,
        );
        Ok(model.prefix_from_stream(x, 0)?)
    }
}

/// Mean answer-token cross-entropy of `instances` behind the soft prefix `p: [1, m, d]`
/// (differentiable in `p`), a scalar `[1]`.
pub fn soft_answer_loss(model: &Llm, p: &Tensor<3>, instances: &[&Instance]) -> Result<Tensor<1>> {
    let [_, m, d] = p.dims();
    let seqs: Vec<Vec<u32>> = instances.iter().map(|i| i.sequence()).collect();
    let t_max = seqs.iter().map(Vec::len).max().unwrap_or(0);
    if instances.is_empty() || t_max == 0 {
        return Err(Error::Config("empty prompt-tuning batch".into()));
    }
    let width = m + t_max;
    let mut rows = Vec::with_capacity(seqs.len());
    let mut picks = Vec::new();
    let mut labels = Vec::new();
    for (row, (inst, seq)) in instances.iter().zip(&seqs).enumerate() {
        if inst.prompt.is_empty() || inst.answer.is_empty() {
            return Err(Error::Config(format!(
                "instance {row} of the batch has an empty prompt or answer"
            )));
        }
        let mut parts = vec![p.clone(), model.embed(seq, 1)?];
        if seq.len() < t_max {
            parts.push(Tensor::zeros([1, t_max - seq.len(), d], model.device()));
        }
        rows.push(Tensor::cat(parts, 1));
        for (j, &tok) in inst.answer.iter().enumerate() {
            picks.push((row * width + m + inst.prompt.len() + j - 1) as i64);
            labels.push(i64::from(tok));
        }
    }
    let x = Tensor::cat(rows, 0);
    let n_layers = model.config.n_layers;
    let h = model.final_norm(model.forward_layers(x, 0..n_layers, None, &Adaptation::none())?);
    let [b, t, _] = h.dims();
    let n = picks.len();
    let device = model.device();
    let picks = Tensor::<1, Int>::from_data(TensorData::new(picks, [n]), device);
    let labels = Tensor::<2, Int>::from_data(TensorData::new(labels, [n, 1]), device);
    let rows = h.reshape([b * t, d]).select(0, picks);
    let logp = log_softmax(model.project(rows), 1);
    Ok(logp.gather(1, labels).mean().neg())
}

/// Trains a soft prefix on `instances`, resuming from `checkpoint` when it holds a
/// compatible state; `stop_after` ends this call after that many steps (tests).
#[allow(clippy::too_many_arguments)]
pub fn train_prompt(
    model: &Llm,
    instances: &[Instance],
    settings: &PromptTuningSettings,
    seed: u64,
    checkpoint: &Path,
    stamp: &Stamp,
    progress: bool,
    stop_after: Option<usize>,
) -> Result<(SoftPrompt, TrainedAdapter)> {
    if instances.is_empty() {
        return Err(Error::Config(
            "no training instances for prompt tuning".into(),
        ));
    }
    let s = &settings.train;
    let mut prompt = SoftPrompt::from_vocabulary(model, settings.virtual_tokens, seed)?;
    let n = prompt.values.len();
    let mut c = Checkpoint::resume(
        checkpoint,
        stamp,
        std::mem::take(&mut prompt.values),
        AdamW::new(n, s.lr, s.weight_decay),
        "prompt values",
    )?;
    let ad: Device = model.device().clone().autodiff();
    let bar = icor_qa::retrieve::progress::bar(
        "stage 1: prompt tuning",
        s.steps as u64,
        "steps",
        progress,
    );
    bar.set_position(c.losses.len() as u64);
    let started = Instant::now();
    let steps = StepLoop {
        settings: s,
        stage: "prompt tuning",
        checkpoint,
        stamp,
        bar: &bar,
        stop_after,
    };
    let micro = |step: usize, micro: usize, params: &[f32]| -> Result<MicroStep> {
        let idx = batch_indices(instances.len(), seed ^ 0x9707, s, step, micro);
        let batch: Vec<&Instance> = idx.iter().map(|&i| &instances[i]).collect();
        prompt.values.clear();
        prompt.values.extend_from_slice(params);
        let p = prompt.tensor(&ad, true);
        let loss = soft_answer_loss(model, &p, &batch)?;
        let value = to_vec_f32(loss.clone())[0];
        let grads = loss.backward();
        let grad = p.grad(&grads).map(to_vec_f32).ok_or_else(|| {
            Error::Config("the answer loss does not reach the soft prompt".into())
        })?;
        Ok(MicroStep { loss: value, grad })
    };
    let recorded = steps.run(&mut c, &started, micro, |_, _| Ok(false))?;
    bar.finish_and_clear();
    prompt.values.clone_from(&c.params);
    let trained = TrainedAdapter {
        seconds: started.elapsed().as_secs_f64(),
        total_seconds: recorded,
        params: c.params,
        losses: c.losses,
        step_seconds: c.step_seconds,
        dev_curve: Vec::new(),
    };
    Ok((prompt, trained))
}
