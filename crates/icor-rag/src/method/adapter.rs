//! Stage 1: the base retrieval adapter `W_0^ret` (§5.1, App. G): LoRA on Q/K/V trained on
//! RAG-formatted (question, top-k documents, gold answer) instances from the NQ training pool
//! with the answer-token cross-entropy; AdamW with decoupled weight decay, global-norm
//! clipping and gradient accumulation. Frozen afterwards.
//!
//! A checkpoint (parameters, both moments, the step and the loss curve) is written atomically
//! every `checkpoint_every` steps; a killed run resumes from it and, because the batch order
//! is a pure function of (seed, step), ends with the same numbers as an uninterrupted one.

use std::cell::RefCell;
use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;
use icor_llm::{Adaptation, Llm, LoraAdapter};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::experiment::profile::{AdapterSettings, EarlyStop};
use crate::experiment::prompt::Instance;
use crate::experiment::store::Stamp;
use crate::method::checkpoint::Checkpoint;
use crate::method::frozen::FrozenStates;
use crate::method::loss::{AnswerBatch, answer_loss};
use crate::method::optim::AdamW;
use crate::method::params::LoraLayout;
use crate::method::steps::{MicroStep, StepLoop};

/// A trained adapter and how its training went.
#[derive(Debug, Clone)]
pub struct TrainedAdapter {
    /// Flat factors in `layout`'s order.
    pub params: Vec<f32>,
    /// Mean answer loss of each optimiser step.
    pub losses: Vec<f32>,
    /// Wall time of the steps run in this process (resumed steps excluded).
    pub seconds: f64,
    /// Wall time of every step, summed over the processes that ran them (`None` when a
    /// checkpoint from before this was recorded was resumed).
    pub total_seconds: Option<f64>,
    /// Wall time of each optimiser step alone ([`Checkpoint::step_seconds`]).
    pub step_seconds: Vec<f32>,
    /// With early stopping: `(step, dev loss)` of every measurement; `params` are then the
    /// parameters at the lowest dev loss.
    pub dev_curve: Vec<(usize, f32)>,
}

/// The instance indices of micro-batch `micro` of step `step`: epochs are seeded permutations
/// of the training set, read in order.
pub fn batch_indices(
    n: usize,
    seed: u64,
    settings: &AdapterSettings,
    step: usize,
    micro: usize,
) -> Vec<usize> {
    let per = settings.micro_batch;
    let first = (step * settings.grad_accum + micro) * per;
    (first..first + per)
        .map(|g| {
            let epoch = (g / n) as u64;
            let mut perm: Vec<usize> = (0..n).collect();
            perm.shuffle(&mut ChaCha8Rng::seed_from_u64(
                seed ^ 0x5eed_ada9 ^ epoch.wrapping_mul(0x9e37_79b9),
            ));
            perm[g % n]
        })
        .collect()
}

/// Trains `W_0^ret` from a fresh adapter (`B = 0`, `A` seeded), resuming from `checkpoint`
/// when it holds a compatible state. `stop_after` ends this call after that many steps (the
/// checkpoint then holds the state a killed run would leave; tests use it).
#[allow(clippy::too_many_arguments)]
pub fn train_adapter(
    model: &Llm,
    frozen: &mut FrozenStates,
    layout: &LoraLayout,
    instances: &[Instance],
    dev: &[Instance],
    settings: &AdapterSettings,
    seed: u64,
    checkpoint: &Path,
    stamp: &Stamp,
    progress: bool,
    stop_after: Option<usize>,
) -> Result<TrainedAdapter> {
    if instances.is_empty() {
        return Err(Error::Config("no training instances for W_0^ret".into()));
    }
    let ad: Device = model.device().clone().autodiff();
    let init = LoraAdapter::new_from(
        &model.config,
        layout.first_layer,
        layout.rank,
        layout.alpha,
        seed,
        model.device(),
    );
    let mut c = Checkpoint::resume(
        checkpoint,
        stamp,
        layout.flatten(&init)?,
        AdamW::new(layout.len, settings.lr, settings.weight_decay),
        "interface parameters",
    )?;
    let bar = icor_qa::retrieve::progress::bar(
        "stage 1: W_0^ret",
        settings.steps as u64,
        "steps",
        progress,
    );
    bar.set_position(c.losses.len() as u64);
    let started = Instant::now();
    let mut watch = settings
        .early_stop
        .filter(|_| !dev.is_empty())
        .map(|e| DevWatch::resume(e, &c));
    let steps = StepLoop {
        settings,
        stage: "adapter",
        checkpoint,
        stamp,
        bar: &bar,
        stop_after,
    };
    // The micro-batches and the dev loss both read through the frozen streams' cache, one
    // after the other: one RefCell lends it to each in turn.
    let frozen = RefCell::new(frozen);
    let micro = |step: usize, micro: usize, params: &[f32]| -> Result<MicroStep> {
        let frozen = &mut **frozen.borrow_mut();
        let idx = batch_indices(instances.len(), seed, settings, step, micro);
        let batch_inst: Vec<&Instance> = idx.iter().map(|&i| &instances[i]).collect();
        let batch = AnswerBatch::new(model, frozen, &batch_inst)?;
        let adapter = layout.adapter(params, &ad);
        let loss = answer_loss(model, frozen.split(), &batch, &Adaptation::lora(&adapter))?;
        Ok(MicroStep {
            loss: icor_llm::tensor_util::to_vec_f32(loss.clone())[0],
            grad: layout.gradient(&adapter, &loss.backward()),
        })
    };
    let stopped = watch.as_ref().is_some_and(DevWatch::stopped);
    let after = |done: usize, c: &mut Checkpoint| -> Result<bool> {
        let Some(w) = watch.as_mut() else {
            return Ok(false);
        };
        if done % w.every != 0 && done != settings.steps {
            return Ok(false);
        }
        let frozen = &mut **frozen.borrow_mut();
        let loss = dev_loss(model, frozen, layout, &c.params, dev, settings.micro_batch)?;
        let stop = w.record(done, loss, &c.params);
        w.store(c);
        bar.set_message(format!("dev {loss:.3}"));
        Ok(stop)
    };
    let recorded = if stopped {
        c.before // it stopped early before it was killed: nothing is left to run
    } else {
        steps.run(&mut c, &started, micro, after)?
    };
    bar.finish_and_clear();
    let (params, dev_curve) = match watch {
        Some(w) => (w.best.clone(), w.curve()),
        None => (c.params, Vec::new()),
    };
    Ok(TrainedAdapter {
        seconds: started.elapsed().as_secs_f64(),
        total_seconds: recorded,
        params,
        losses: c.losses,
        step_seconds: c.step_seconds,
        dev_curve,
    })
}

/// The mean answer loss of `dev` under `params` (no gradient), over micro-batches.
fn dev_loss(
    model: &Llm,
    frozen: &mut FrozenStates,
    layout: &LoraLayout,
    params: &[f32],
    dev: &[Instance],
    micro: usize,
) -> Result<f32> {
    let adapter = layout.adapter(params, model.device());
    let (mut sum, mut tokens) = (0f64, 0usize);
    for chunk in dev.chunks(micro.max(1)) {
        let refs: Vec<&Instance> = chunk.iter().collect();
        let batch = AnswerBatch::new(model, frozen, &refs)?;
        let loss = answer_loss(model, frozen.split(), &batch, &Adaptation::lora(&adapter))?;
        sum += f64::from(icor_llm::tensor_util::to_vec_f32(loss)[0]) * batch.tokens as f64;
        tokens += batch.tokens;
    }
    Ok((sum / tokens.max(1) as f64) as f32)
}

/// Early stopping's state: the dev curve so far, the best parameters and how many
/// measurements since the best; kept in the checkpoint so a resumed run decides the same.
struct DevWatch {
    every: usize,
    patience: usize,
    steps: Vec<f32>,
    losses: Vec<f32>,
    best: Vec<f32>,
    stopped: bool,
}

impl DevWatch {
    fn resume(e: EarlyStop, c: &Checkpoint) -> Self {
        let get = |k: &str| c.extra.get(k).cloned().unwrap_or_default();
        Self {
            every: e.eval_every.max(1),
            patience: e.patience.max(1),
            steps: get("dev_steps"),
            losses: get("dev_losses"),
            best: c
                .extra
                .get("dev_best")
                .cloned()
                .unwrap_or_else(|| c.params.clone()),
            stopped: get("dev_stopped").first().is_some_and(|&x| x > 0.0),
        }
    }

    fn stopped(&self) -> bool {
        self.stopped
    }

    /// Records the dev loss after `step` steps; true when the run should stop.
    fn record(&mut self, step: usize, loss: f32, params: &[f32]) -> bool {
        let best = self.losses.iter().copied().fold(f32::INFINITY, f32::min);
        self.steps.push(step as f32);
        self.losses.push(loss);
        if loss < best {
            self.best = params.to_vec();
        }
        let since = self.losses.len() - 1 - self.best_index();
        self.stopped = since >= self.patience;
        self.stopped
    }

    /// The index of the lowest dev loss (the first on ties).
    fn best_index(&self) -> usize {
        let mut b = 0;
        for (i, &l) in self.losses.iter().enumerate() {
            if l < self.losses[b] {
                b = i;
            }
        }
        b
    }

    fn store(&self, c: &mut Checkpoint) {
        c.extra.insert("dev_steps".into(), self.steps.clone());
        c.extra.insert("dev_losses".into(), self.losses.clone());
        c.extra.insert("dev_best".into(), self.best.clone());
        c.extra.insert(
            "dev_stopped".into(),
            vec![f32::from(u8::from(self.stopped))],
        );
    }

    /// `(step, dev loss)` of every measurement.
    fn curve(&self) -> Vec<(usize, f32)> {
        self.steps
            .iter()
            .zip(&self.losses)
            .map(|(&s, &l)| (s as usize, l))
            .collect()
    }
}
