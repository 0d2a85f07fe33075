//! Stage 1: the base retrieval adapter `W_0^ret` (§5.1, App. G): LoRA on Q/K/V trained on
//! RAG-formatted (question, top-k documents, gold answer) instances from the NQ training pool
//! with the answer-token cross-entropy; AdamW with decoupled weight decay, global-norm
//! clipping and gradient accumulation. Frozen afterwards.
//!
//! A checkpoint (parameters, both moments, the step and the loss curve) is written atomically
//! every `checkpoint_every` steps; a killed run resumes from it and, because the batch order
//! is a pure function of (seed, step), ends with the same numbers as an uninterrupted one.

use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;
use icor_llm::{Adaptation, Llm, LoraAdapter};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::experiment::profile::AdapterSettings;
use crate::experiment::prompt::Instance;
use crate::experiment::store::Stamp;
use crate::method::checkpoint::Checkpoint;
use crate::method::frozen::FrozenStates;
use crate::method::loss::{AnswerBatch, answer_loss};
use crate::method::optim::AdamW;
use crate::method::params::LoraLayout;

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
    let first = c.losses.len();
    // The compute time the checkpoint holds (a resumed run reports the same).
    let mut recorded = c.before;
    let last = stop_after.map_or(settings.steps, |n| (first + n).min(settings.steps));
    for step in first..last {
        let mut grad = vec![0f32; layout.len];
        let mut step_loss = 0f64;
        for micro in 0..settings.grad_accum {
            let idx = batch_indices(instances.len(), seed, settings, step, micro);
            let batch_inst: Vec<&Instance> = idx.iter().map(|&i| &instances[i]).collect();
            let batch = AnswerBatch::new(model, frozen, &batch_inst)?;
            let adapter = layout.adapter(&c.params, &ad);
            let loss = answer_loss(model, frozen.split(), &batch, &Adaptation::lora(&adapter))?;
            let value = icor_llm::tensor_util::to_vec_f32(loss.clone())[0];
            if !value.is_finite() {
                return Err(Error::NonFinite {
                    stage: "adapter",
                    step,
                    batch: micro,
                    what: format!("answer loss {value}"),
                });
            }
            step_loss += f64::from(value) / settings.grad_accum as f64;
            let g = layout.gradient(&adapter, &loss.backward());
            let w = 1.0 / settings.grad_accum as f32;
            grad.iter_mut().zip(&g).for_each(|(a, b)| *a += w * b);
        }
        c.step(
            &mut grad,
            settings.clip,
            step_loss,
            "adapter",
            step,
            settings.grad_accum - 1,
        )?;
        bar.set_message(format!("loss {step_loss:.3}"));
        bar.inc(1);
        let done = step + 1;
        if done % settings.checkpoint_every.max(1) == 0 || done == last {
            recorded = c.save(checkpoint, stamp, &started)?;
        }
    }
    bar.finish_and_clear();
    Ok(TrainedAdapter {
        seconds: started.elapsed().as_secs_f64(),
        total_seconds: recorded,
        params: c.params,
        losses: c.losses,
    })
}
