//! Training: minibatch Adam on fresh tasks every step (Eq. 21), gradients clipped by their
//! global norm first (the authors' optax chain), a NaN/inf guard that names step and seed.

use std::sync::mpsc;

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

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
