//! Training: minibatch Adam on fresh tasks every step (Eq. 21), gradients clipped by their
//! global norm first (the authors' optax chain), a NaN/inf guard that names step and seed.

use std::sync::mpsc;

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::converge::Convergence;
use crate::error::{Error, Result};
use crate::metrics::{Comparison, GdProbe, GdRef, compare_with};
use crate::model::{Arch, Input, Model};
use crate::task::{Batch, KvMix, Task, rng};
use crate::tensor::scalar;

/// Optimiser and schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Training steps.
    pub steps: usize,
    /// Tasks per step.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Global gradient-norm clip (0 = none).
    pub clip: f64,
    /// Evaluate the curves every this many steps.
    pub eval_every: usize,
    /// Tasks in the curve evaluations (the final evaluation uses the full held-out set).
    pub curve_tasks: usize,
}

/// Metrics over training.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Curve {
    pub step: Vec<usize>,
    pub loss_model: Vec<f64>,
    pub loss_gd: Vec<f64>,
    pub sens_cos: Vec<f64>,
    pub pred_diff: Vec<f64>,
}

impl Curve {
    fn push(&mut self, step: usize, c: &Comparison) {
        self.step.push(step);
        self.loss_model.push(c.loss_model);
        self.loss_gd.push(c.loss_gd);
        self.sens_cos.push(c.sens_cos);
        self.pred_diff.push(c.pred_diff);
    }
}

/// One training step at a time: Adam state, the task's key/value mixing and the data stream of
/// a run. [`train`] is a loop over [`Trainer::step`]; the benches time that same step.
pub struct Trainer {
    mix: Option<KvMix>,
    optim: ModuleOptimizer,
    batches: Prefetch,
    lr: f64,
    clip: f64,
}

/// The batches of a run's data stream, drawn one ahead on another thread while the step runs
/// (the draw is on the step's critical path otherwise). The stream is the same as drawn in
/// place: one generator, read in order.
struct Prefetch {
    rx: mpsc::Receiver<Batch>,
}

impl Prefetch {
    fn new(task: Task, mut rng: ChaCha8Rng, batch: usize) -> Self {
        let (tx, rx) = mpsc::sync_channel(1);
        let alpha = task.train_alpha();
        // Ends when the trainer (the receiver) is dropped.
        std::thread::spawn(
            move || {
                while tx.send(task.sample(&mut rng, batch, alpha)).is_ok() {}
            },
        );
        Self { rx }
    }

    fn next(&self) -> Batch {
        // The drawing thread only stops when the receiver is gone, or if drawing panicked.
        self.rx.recv().unwrap_or_else(|_| {
            panic!("the batch-drawing thread stopped (a panic in Task::sample)")
        })
    }
}

impl Trainer {
    /// Adam (β₂ = 0.98, ε = 1e-8, the authors' optax settings) with fresh state; batches of
    /// `cfg.batch` tasks of `task` are drawn from stream 1 of `seed`.
    pub fn new(task: &Task, cfg: &TrainConfig, seed: u64) -> Self {
        Self {
            mix: task.kv_mix(),
            optim: AdamConfig::new()
                .with_beta_2(0.98)
                .with_epsilon(1e-8)
                .init(),
            batches: Prefetch::new(task.clone(), rng(seed, 1), cfg.batch),
            lr: cfg.lr,
            clip: cfg.clip,
        }
    }

    /// The task's key/value mixing, as the model sees it.
    pub fn mix(&self) -> Option<&KvMix> {
        self.mix.as_ref()
    }

    /// One step (Eq. 21): takes the stream's next batch (drawn ahead), takes the half mean squared error of the
    /// model's predictions, clips the gradient by its global norm, applies Adam. Returns the
    /// updated model and the loss before the update; when that loss is not finite the model
    /// comes back unchanged (no backward pass) and the caller decides what to do.
    pub fn step(&mut self, model: Model, device: &Device) -> (Model, f32) {
        let batch = self.batches.next();
        let (input, _) = Input::new(&batch, self.mix.as_ref(), device, false);
        let err = model.predict(&input) - input.targets.clone();
        let loss = (err.clone() * err).mean() * 0.5;
        let value = scalar(&loss.clone().detach());
        if !value.is_finite() {
            return (model, value);
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let grads = clip_global_norm(grads, &model, self.clip);
        (self.optim.step(self.lr, model, grads), value)
    }
}

/// Trains `arch` on fresh tasks of `task` (stream 1 of `seed`), evaluating on `curve_batch`.
pub fn train(
    task: &Task,
    arch: Arch,
    cfg: &TrainConfig,
    seed: u64,
    gd: &GdRef,
    curve_batch: &Batch,
    device: &Device,
    mut tick: impl FnMut(usize),
) -> Result<(Model, Curve)> {
    let d = curve_batch.d;
    let mut model = Model::init(arch, d, seed, device);
    model.set_readout(task.readout());
    let mut trainer = Trainer::new(task, cfg, seed);
    let mut curve = Curve::default();
    let gd_probe = GdProbe::new(gd, curve_batch, device, 2048);
    for step in 0..=cfg.steps {
        if step % cfg.eval_every == 0 || step == cfg.steps {
            curve.push(
                step,
                &compare_with(&model, &gd_probe, trainer.mix(), device),
            );
        }
        if step == cfg.steps {
            break;
        }
        let (next, loss) = trainer.step(model, device);
        if !loss.is_finite() {
            return Err(Error::Diverged {
                step,
                seed,
                model: arch.label(),
                loss,
            });
        }
        model = next;
        tick(step);
    }
    Ok((model, curve))
}

/// An attempt of a run that stalled and was trained again ([`train_restarting`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Restart {
    /// The seed its initialisation and batches were drawn from.
    pub init_seed: u64,
    /// The share of the untrained-to-GD gap its curve closed ([`Convergence::of_curve`]).
    pub progress: Option<f64>,
    /// Its final loss on the curve tasks.
    pub final_loss: f64,
}

/// A model trained by [`train_restarting`]: the attempt kept and the ones dropped before it.
pub struct Trained {
    pub model: Model,
    pub curve: Curve,
    /// The seed the kept attempt's initialisation and batches were drawn from: the run's seed
    /// when the first attempt left the plateau.
    pub init_seed: u64,
    /// The earlier attempts, stalled by their curves, in order.
    pub restarts: Vec<Restart>,
}

/// The seed of attempt `k` of a run of `seed`: the seed itself first (so a run that needs no
/// restart is the run trained without the rule), then seeds far from any run's own seed.
pub fn attempt_seed(seed: u64, k: usize) -> u64 {
    seed.wrapping_add((k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// [`train`], and up to `restarts` times again from a fresh initialisation and data stream
/// ([`attempt_seed`]) while the attempt's own curve says it stalled on the initial plateau
/// ([`Convergence::of_curve`]). The curve must be drawn from the training distribution, not from
/// the tasks the run is reported on, so no held-out number decides which attempt is kept. At
/// the quick budget a run leaves the plateau with a probability below one on some
/// architectures whatever the rate (`reports/probe-plateau.md`): the rule makes every seed
/// count, and the results record each restart. The last attempt is kept even if it stalled.
#[allow(clippy::too_many_arguments)]
pub fn train_restarting(
    task: &Task,
    arch: Arch,
    cfg: &TrainConfig,
    restarts: usize,
    seed: u64,
    gd: &GdRef,
    curve_batch: &Batch,
    device: &Device,
    mut tick: impl FnMut(TrainEvent),
) -> Result<Trained> {
    let mut dropped = Vec::new();
    let mut k = 0;
    loop {
        let init_seed = attempt_seed(seed, k);
        let (model, curve) = train(task, arch, cfg, init_seed, gd, curve_batch, device, |s| {
            tick(TrainEvent::Step(s))
        })?;
        let verdict = Convergence::of_curve(&curve);
        if !verdict.stalled || k == restarts {
            return Ok(Trained {
                model,
                curve,
                init_seed,
                restarts: dropped,
            });
        }
        dropped.push(Restart {
            init_seed,
            progress: verdict.progress,
            final_loss: curve.loss_model.last().copied().unwrap_or(f64::NAN),
        });
        tick(TrainEvent::Restart);
        k += 1;
    }
}

/// What [`train_restarting`] reports as it goes: a step done, or an attempt dropped (another
/// `cfg.steps` steps follow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainEvent {
    Step(usize),
    Restart,
}

/// Scales every gradient by min(1, clip / ‖g‖) with ‖g‖ the norm over all parameters
/// (optax.clip_by_global_norm); burn's own clipping is per parameter.
fn clip_global_norm(mut grads: GradientsParams, model: &Model, clip: f64) -> GradientsParams {
    if clip <= 0.0 {
        return grads;
    }
    let ids = model.param_ids();
    let parts: Vec<_> = ids
        .iter()
        .filter_map(|id| grads.remove::<2>(*id).map(|g| (*id, g)))
        .collect();
    let sq: f64 = parts
        .iter()
        .map(|(_, g)| scalar(&(g.clone() * g.clone()).sum()) as f64)
        .sum();
    let norm = sq.sqrt();
    let factor = if norm > clip { clip / norm } else { 1.0 };
    for (id, g) in parts {
        let g: Tensor<2> = if factor < 1.0 { g * factor } else { g };
        grads.register(id, g);
    }
    grads
}
