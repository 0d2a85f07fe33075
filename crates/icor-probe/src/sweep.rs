//! The sweeps of §4.1–4.2, each run over several training seeds, written to one JSON file per
//! sweep (schema: [`SweepResult`]) after every run, atomically, so an interrupted sweep resumes
//! where it stopped.
//!
//! 1. `docs`: document count {2, 5, 10, 25}, both interfaces (+ the authors' protocol), depth 1.
//! 2. `alpha`: test-input range α ∈ {0.5, …, 2} (x ~ U(−α, α)); models trained at their
//!    protocol's training range (the authors' code trains at α = ½, as stated at α = 1).
//! 3. `depth`: depth 2 and 5 with shared weights, documents {2, 5, 10, 15} ({2, 10} in the
//!    quick profile, to stay near its time budget).
//! 4. `archs`: GD++, softmax attention (2 heads), MLP(32) and MLP(128) + LSA, authors' protocol.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::concurrent;
use crate::converge::Convergence;
use crate::error::{Error, Result};
use crate::metrics::{Comparison, GdProbe, GdRef, compare_with, model_loss};
use crate::model::{Arch, Lsa, Model};
use crate::reference::{StepSize, fit_eta};
use crate::stats::Ci;
use crate::task::{Authors, Batch, DotProduct, Projection, Task, rng};
use crate::train::{Curve, Restart, TrainConfig, TrainEvent, train_restarting};

/// Which sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepKind {
    Docs,
    Alpha,
    Depth,
    Archs,
}

impl SweepKind {
    /// Every sweep, in report order.
    pub const ALL: [SweepKind; 4] = [
        SweepKind::Docs,
        SweepKind::Alpha,
        SweepKind::Depth,
        SweepKind::Archs,
    ];

    /// File stem and CLI name.
    pub fn name(self) -> &'static str {
        match self {
            SweepKind::Docs => "docs",
            SweepKind::Alpha => "alpha",
            SweepKind::Depth => "depth",
            SweepKind::Archs => "archs",
        }
    }
}

/// Training budget and evaluation size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// "quick" or "full".
    pub name: String,
    pub train: TrainConfig,
    /// Training seeds per configuration (CIs need ≥ 3).
    pub seeds: usize,
    /// Held-out tasks for the final metrics and the step-size fit.
    pub eval_tasks: usize,
    /// Training steps of the tabular studies (`nonlinear`, `features`: MLP + LSA on tables)
    /// where they differ from `train.steps`; the rest of `train` applies as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tabular_steps: Option<usize>,
    /// A stack of L > 1 layers of shared weights trains at `lr / L^depth_lr_power`: the
    /// authors' rule is 1 (lr/L: the same weights act L times; at the quick learning rate
    /// undivided, depth 5 diverges within 100 steps).
    #[serde(default = "authors_depth_lr_power")]
    pub depth_lr_power: f64,
    /// The learning rate of the softmax-attention runs where it differs from `train.lr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub softmax_lr: Option<f64>,
    /// A run whose training curve (fresh tasks of the training distribution) says it stalled on
    /// the initial plateau is trained again from a fresh initialisation and data stream, up to
    /// this many times ([`crate::train::train_restarting`]); 0: never.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarts: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn authors_depth_lr_power() -> f64 {
    1.0
}

impl Profile {
    /// ≤ 10 minutes for all sweeps on 2 CPU cores: smaller batches and fewer steps than the
    /// authors (batch 2048 × 8,000 steps, lr 5e-4), a larger learning rate to compensate.
    /// 3,000 steps: at 1,500, 6 of 12 authors'-protocol runs of one seed block stayed on the
    /// initial plateau; 3,000 steps get every run of all three protocols off it on both seed
    /// blocks at the least cost of the budgets tried (`reports/probe-plateau.md`).
    pub fn quick() -> Self {
        Self {
            name: "quick".into(),
            train: TrainConfig {
                steps: 3000,
                batch: 128,
                lr: 1e-2,
                clip: 0.0,
                eval_every: 100,
                curve_tasks: 1000,
            },
            seeds: 3,
            eval_tasks: 10_000,
            // The tabular studies' MLP + LSA runs come within 5% of their final loss (of the
            // way down from the first curve point) by step 1,400 on both seed blocks trained
            // at 3,000 steps, most by 600 (`examples/tabular_budget.rs`, in
            // `reports/probe-plateau.md`), so half the budget trains them as far; the
            // synthetic sweeps keep 3,000 steps for the authors' plateau.
            tabular_steps: Some(1500),
            // The authors' lr/L for deeper stacks and lr 1e-2 for softmax attention: lr/√L
            // got the stalled depth-5 run of seeds 0–2 off the plateau but left 7 of 24 depth
            // runs of seeds 3–5 on it, and at softmax rates 1.5e-2 or 2e-2, batch 256 or
            // 4,500 steps one softmax run in six still stalls, another seed each time
            // (`reports/probe-plateau.md`).
            depth_lr_power: 1.0,
            softmax_lr: None,
            // At this budget some runs stay on the plateau whatever the rate: one softmax run
            // in six, another seed at each rate tried, and a depth-5 run in 24
            // (`reports/probe-plateau.md`). Two restarts leave about (1/6)³ ≈ 0.5% per run.
            restarts: 2,
        }
    }

    /// The authors' budget: Adam lr 5e-4, batch 2048, 8,000 steps, clip 0.001 (≤ 2 layers).
    pub fn full() -> Self {
        Self {
            name: "full".into(),
            train: TrainConfig {
                steps: 8000,
                batch: 2048,
                lr: 5e-4,
                clip: 0.001,
                eval_every: 250,
                curve_tasks: 2000,
            },
            seeds: 3,
            eval_tasks: 10_000,
            tabular_steps: None,
            depth_lr_power: 1.0,
            softmax_lr: None,
            restarts: 0,
        }
    }

    /// The training settings of a synthetic sweep's run of `arch`: for a stack of L > 1
    /// shared layers the learning rate divided by `L^depth_lr_power`, and the authors' global
    /// gradient clip of 10 above two layers (the profile's clip otherwise); `softmax_lr` for
    /// softmax attention.
    pub fn synthetic_train(&self, arch: Arch) -> TrainConfig {
        let mut t = self.train.clone();
        let depth = depth_of(arch);
        if depth > 1 {
            t.lr /= (depth as f64).powf(self.depth_lr_power);
        }
        if depth > 2 {
            t.clip = 10.0;
        }
        if let (Arch::Softmax { .. }, Some(lr)) = (arch, self.softmax_lr) {
            t.lr = lr;
        }
        t
    }

    /// The budget as far as a synthetic sweep of `kind` reads it: the settings no run of it
    /// uses set to their defaults (the depth rule outside `depth`, the softmax rate outside
    /// `archs`, the tabular steps everywhere), so a sweep file resumes when only those differ.
    pub fn for_sweep(&self, kind: SweepKind) -> Profile {
        Profile {
            tabular_steps: None,
            depth_lr_power: if kind == SweepKind::Depth {
                self.depth_lr_power
            } else {
                authors_depth_lr_power()
            },
            softmax_lr: if kind == SweepKind::Archs {
                self.softmax_lr
            } else {
                None
            },
            ..self.clone()
        }
    }

    /// The budget as far as the tabular studies read it (MLP + LSA at depth 1: the depth rule
    /// and the softmax rate set to their defaults).
    pub fn for_tabular(&self) -> Profile {
        Profile {
            depth_lr_power: authors_depth_lr_power(),
            softmax_lr: None,
            ..self.clone()
        }
    }

    /// The training settings of the tabular studies: `train` with `tabular_steps` if set.
    pub fn tabular_train(&self) -> TrainConfig {
        TrainConfig {
            steps: self.tabular_steps.unwrap_or(self.train.steps),
            ..self.train.clone()
        }
    }
}

/// Evaluation of one trained model at one input range.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Eval {
    /// x ~ U(−α, α) at test time.
    pub alpha: f64,
    /// Trained model against GD.
    pub trained: Comparison,
    /// The same architecture, untrained (same seed), against GD: the control.
    pub control: Comparison,
    /// Loss of the half-way interpolation of trained and constructed LSA weights (von Oswald);
    /// only where the construction is a fixed set of weights (LSA models, w0 fixed per run).
    pub interp_loss: Option<f64>,
}

/// One trained model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub protocol: String,
    pub task: String,
    pub arch: Arch,
    pub docs: usize,
    pub seed: u64,
    pub step_size: StepSize,
    pub gd_steps: usize,
    /// The training settings actually used (the profile's, adjusted for depth).
    #[serde(default)]
    pub train: Option<TrainConfig>,
    pub evals: Vec<Eval>,
    pub curve: Curve,
    pub seconds: f64,
    /// Whether training left the initial plateau ([`crate::converge`]), as judged when the run
    /// was written; files written before this field have none. Summaries judge every run afresh
    /// with [`Run::convergence`].
    #[serde(default)]
    pub convergence: Option<Convergence>,
    /// The seed the kept attempt was initialised and fed from, where a restart changed it
    /// ([`crate::train::attempt_seed`]); the untrained control shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_seed: Option<u64>,
    /// The attempts dropped before the kept one, stalled by their curves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarts: Vec<Restart>,
}

impl Run {
    /// The evaluation at the input range the model was trained on (the one its curve and its
    /// control share); the first evaluation if none matches.
    pub fn train_eval(&self) -> Option<&Eval> {
        let alpha = make_task(&self.protocol, self.docs, self.seed).train_alpha();
        self.evals
            .iter()
            .find(|e| e.alpha == alpha)
            .or(self.evals.first())
    }

    /// The run judged from its own record (final loss at the training range against its
    /// untrained control and GD, and its curve); `None` for a run without evaluations.
    pub fn convergence(&self) -> Option<Convergence> {
        self.train_eval()
            .map(|e| Convergence::of(&e.trained, &e.control, &self.curve))
    }

    /// Judged stalled (see [`Run::convergence`]).
    pub fn stalled(&self) -> bool {
        self.convergence().is_some_and(|c| c.stalled)
    }
}

/// A summary row: mean and 95% CI over the converged seeds of one configuration at one α.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub protocol: String,
    pub arch: String,
    pub docs: usize,
    pub alpha: f64,
    /// Seeds run (converged and stalled).
    pub seeds: usize,
    /// Seeds whose run stalled ([`crate::converge`]): left out of every mean and CI of the row,
    /// whose `n` is the converged count.
    #[serde(default)]
    pub stalled: Vec<u64>,
    /// (seed, restarts) of the seeds trained again before one attempt left the plateau.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarted: Vec<(u64, usize)>,
    pub loss_model: Ci,
    pub loss_gd: Ci,
    pub pred_diff: Ci,
    pub sens_cos: Ci,
    pub sens_l2_unit: Ci,
    pub control_sens_cos: Ci,
    pub control_pred_diff: Ci,
    pub interp_loss: Option<Ci>,
}

/// Everything one sweep produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepResult {
    pub sweep: SweepKind,
    pub profile: Profile,
    pub base_seed: u64,
    pub backend: String,
    pub runs: Vec<Run>,
    pub summary: Vec<Summary>,
}

/// One configuration to train.
#[derive(Debug, Clone)]
struct Config {
    protocol: &'static str,
    docs: usize,
    arch: Arch,
    alphas: Vec<f64>,
}

/// The protocols of the synthetic sweeps (`--protocol` of `icor probe`).
pub const PROTOCOLS: [&str; 3] = ["authors", "projection", "dot_product"];

fn configs(kind: SweepKind, quick: bool) -> Vec<Config> {
    let protocols = PROTOCOLS;
    let mut v = Vec::new();
    match kind {
        SweepKind::Docs => {
            for p in protocols {
                for docs in [2, 5, 10, 25] {
                    v.push(Config {
                        protocol: p,
                        docs,
                        arch: Arch::Lsa { depth: 1 },
                        alphas: vec![],
                    });
                }
            }
        }
        SweepKind::Alpha => {
            for p in protocols {
                v.push(Config {
                    protocol: p,
                    docs: 5,
                    arch: Arch::Lsa { depth: 1 },
                    alphas: vec![0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0],
                });
            }
        }
        SweepKind::Depth => {
            for p in ["authors", "projection"] {
                for depth in [2, 5] {
                    let docs_list: &[usize] = if quick { &[2, 10] } else { &[2, 5, 10, 15] };
                    for &docs in docs_list {
                        v.push(Config {
                            protocol: p,
                            docs,
                            arch: Arch::Lsa { depth },
                            alphas: vec![],
                        });
                    }
                }
            }
        }
        SweepKind::Archs => {
            for arch in [
                Arch::GdPlusPlus { depth: 1 },
                Arch::Softmax { heads: 2 },
                Arch::Mlp { width: 32 },
                Arch::Mlp { width: 128 },
            ] {
                v.push(Config {
                    protocol: "authors",
                    docs: 5,
                    arch,
                    alphas: vec![],
                });
            }
        }
    }
    v
}

/// The task of a configuration; per-run fixed draws (doc_weight, W_z, M) come from `seed`.
fn make_task(protocol: &str, docs: usize, seed: u64) -> Task {
    let mut r = rng(seed, 0);
    match protocol {
        "authors" => Task::Authors(Authors::new(docs, &mut r)),
        "projection" => Task::Projection(Projection::new(docs)),
        _ => Task::DotProduct(DotProduct::new(docs, &mut r)),
    }
}

fn depth_of(arch: Arch) -> usize {
    match arch {
        Arch::Lsa { depth } | Arch::GdPlusPlus { depth } => depth,
        _ => 1,
    }
}

/// What the sweeps and studies of one `icor probe` call share: the budget, the first training
/// seed, the device (and the backend's name for the results files), the output folder, and the
/// budget of runs training at once ([`concurrent::Slots`], shared when sweeps run side by side).
#[derive(Clone, Copy)]
pub struct Setup<'a> {
    pub profile: &'a Profile,
    pub base_seed: u64,
    pub backend: &'a str,
    pub device: &'a Device,
    pub out: &'a Path,
    pub slots: &'a concurrent::Slots,
}

/// Runs (or resumes) one sweep, writing `<out>/<sweep>.json` after every run.
///
/// `protocols` keeps only the configurations of those protocols (all when empty); a later
/// call with another filter or none resumes the same file and adds the runs it lacks. Up to
/// the setup's slots of runs train at once ([`concurrent`]); the file lists its runs in the
/// same order whatever the number.
pub fn run_sweep(kind: SweepKind, setup: &Setup<'_>, protocols: &[String]) -> Result<SweepResult> {
    let Setup {
        profile,
        base_seed,
        backend,
        device,
        out,
        slots,
    } = *setup;
    let path = results_path(out, kind.name())?;
    let mut result = resume(
        &path,
        |r: &SweepResult| {
            r.profile.for_sweep(kind) == profile.for_sweep(kind) && r.base_seed == base_seed
        },
        || SweepResult {
            sweep: kind,
            profile: profile.clone(),
            base_seed,
            backend: backend.into(),
            runs: vec![],
            summary: vec![],
        },
    )?;
    // the same budget for this sweep: the file names the profile it now runs under
    result.profile = profile.clone();
    let cfgs: Vec<Config> = configs(kind, profile.name == "quick")
        .into_iter()
        .filter(|c| protocols.is_empty() || protocols.iter().any(|p| p == c.protocol))
        .collect();
    let total = (cfgs.len() * profile.seeds * profile.train.steps) as u64;
    let bar = progress(total, kind.name());
    // every (configuration, seed) in a fixed order: the order of the file's runs
    let all: Vec<(&Config, u64)> = cfgs
        .iter()
        .flat_map(|c| (0..profile.seeds as u64).map(move |s| (c, base_seed + s)))
        .collect();
    let is = |r: &Run, (cfg, seed): (&Config, u64)| {
        r.protocol == cfg.protocol && r.arch == cfg.arch && r.docs == cfg.docs && r.seed == seed
    };
    let todo: Vec<(&Config, u64)> = all
        .iter()
        .copied()
        .filter(|&job| !result.runs.iter().any(|r| is(r, job)))
        .collect();
    bar.inc(((all.len() - todo.len()) * profile.train.steps) as u64);
    let running = std::sync::atomic::AtomicUsize::new(0);
    concurrent::for_each_in(
        &todo,
        slots,
        |&(cfg, seed)| {
            let n = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            bar.set_message(format!(
                "{} {} docs={} seed={seed} ({n} running)",
                cfg.protocol,
                cfg.arch.label(),
                cfg.docs
            ));
            let run = one_run(cfg, profile, seed, device, &bar);
            running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            run
        },
        |_, run| {
            result.runs.push(run);
            let order = |r: &Run| all.iter().position(|&job| is(r, job)).unwrap_or(usize::MAX);
            result.runs.sort_by_key(order);
            result.summary = summarise(&result.runs);
            save(&path, &result)
        },
    )?;
    bar.finish_and_clear();
    result.summary = summarise(&result.runs);
    save(&path, &result)?;
    Ok(result)
}

/// One run of the docs sweep's configuration (depth-1 LSA, `protocol`, `docs` documents) under
/// `profile`, outside any sweep file: for studies of the training budget itself
/// (`examples/plateau.rs`).
pub fn docs_run(
    protocol: &str,
    docs: usize,
    profile: &Profile,
    seed: u64,
    device: &Device,
) -> Result<Run> {
    synthetic_run(
        protocol,
        docs,
        Arch::Lsa { depth: 1 },
        profile,
        seed,
        device,
    )
}

/// One run of any synthetic configuration (`protocol`, `docs` documents, `arch`; the depth
/// rules of the depth sweep apply) under `profile`, outside any sweep file.
pub fn synthetic_run(
    protocol: &str,
    docs: usize,
    arch: Arch,
    profile: &Profile,
    seed: u64,
    device: &Device,
) -> Result<Run> {
    let protocol = PROTOCOLS
        .into_iter()
        .find(|p| *p == protocol)
        .ok_or_else(|| Error::Setting {
            name: "protocol",
            value: protocol.to_string(),
            reason: "not one of authors, projection, dot_product",
        })?;
    let cfg = Config {
        protocol,
        docs,
        arch,
        alphas: vec![],
    };
    one_run(&cfg, profile, seed, device, &ProgressBar::hidden())
}

fn one_run(
    cfg: &Config,
    profile: &Profile,
    seed: u64,
    device: &Device,
    bar: &ProgressBar,
) -> Result<Run> {
    let start = Instant::now();
    let task = make_task(cfg.protocol, cfg.docs, seed);
    let train_alpha = task.train_alpha();
    let gd_steps = depth_of(cfg.arch);
    // The authors fit η on the evaluation set itself; as stated, η is fitted on other tasks.
    let eval = task.sample(&mut rng(seed, 3), profile.eval_tasks, train_alpha);
    let fit_set = if cfg.protocol == "authors" {
        eval.clone()
    } else {
        task.sample(&mut rng(seed, 4), profile.eval_tasks, train_alpha)
    };
    let mut step_size = fit_eta(
        &fit_set,
        gd_steps,
        task.readout(),
        cfg.protocol == "authors",
    );
    if cfg.protocol == "authors" {
        step_size.eta = step_size.grid_eta.unwrap_or(step_size.eta); // exactly the authors' grid scan
    }
    let gd = GdRef {
        eta: step_size.eta,
        steps: gd_steps,
        readout: task.readout(),
    };
    // fresh tasks of the training distribution, not the held-out ones: a restart rests on them
    let curve_batch = task.sample(
        &mut rng(seed, CURVE_STREAM),
        profile.train.curve_tasks,
        train_alpha,
    );
    let train_cfg = profile.synthetic_train(cfg.arch);
    let trained = train_restarting(
        &task,
        cfg.arch,
        &train_cfg,
        profile.restarts,
        seed,
        &gd,
        &curve_batch,
        device,
        |e| tick(bar, e, train_cfg.steps),
    )?;
    let (model, curve) = (trained.model, trained.curve);
    let control_model = Model::init(cfg.arch, eval.d, trained.init_seed, device);
    let mix = task.kv_mix();
    let alphas = if cfg.alphas.is_empty() {
        vec![train_alpha]
    } else {
        cfg.alphas.clone()
    };
    let mut evals = Vec::new();
    for (i, &alpha) in alphas.iter().enumerate() {
        let batch = if alpha == train_alpha {
            eval.clone()
        } else {
            task.sample(&mut rng(seed, 10 + i as u64), profile.eval_tasks, alpha)
        };
        let gd_probe = GdProbe::new(&gd, &batch, device, 2048);
        let trained = compare_with(&model, &gd_probe, mix.as_ref(), device);
        let control = compare_with(&control_model, &gd_probe, mix.as_ref(), device);
        let interp_loss = interpolation_loss(&model, &batch, &task, &gd, device);
        evals.push(Eval {
            alpha,
            trained,
            control,
            interp_loss,
        });
    }
    let mut run = Run {
        protocol: cfg.protocol.into(),
        task: task.label(),
        arch: cfg.arch,
        docs: cfg.docs,
        seed,
        step_size,
        gd_steps,
        train: Some(train_cfg),
        evals,
        curve,
        seconds: start.elapsed().as_secs_f64(),
        convergence: None,
        init_seed: (trained.init_seed != seed).then_some(trained.init_seed),
        restarts: trained.restarts,
    };
    run.convergence = run.convergence();
    Ok(run)
}

/// The RNG stream of a run's curve tasks (fresh tasks of its training distribution).
pub(crate) const CURVE_STREAM: u64 = 5;

/// Advances `bar` by one training step, or lengthens it by a restarted attempt's `steps`.
pub(crate) fn tick(bar: &ProgressBar, event: TrainEvent, steps: usize) {
    match event {
        TrainEvent::Step(_) => bar.inc(1),
        TrainEvent::Restart => bar.inc_length(steps as u64),
    }
}

/// Loss of ½(trained + constructed) LSA weights, where the construction is one fixed weight set.
fn interpolation_loss(
    model: &Model,
    batch: &Batch,
    task: &Task,
    gd: &GdRef,
    device: &Device,
) -> Option<f64> {
    let lsa = model.lsa()?;
    if matches!(task, Task::DotProduct(_)) {
        return None; // w0 = W₂ differs per task: no single constructed weight set
    }
    let dx = batch.dx();
    let constructed = Lsa::gd_construction(
        batch.d,
        lsa.depth,
        gd.eta,
        batch.n(),
        &batch.w0[..dx],
        device,
    );
    let mid = Model::from_lsa(lsa.interpolate(&constructed, 0.5, device));
    Some(model_loss(
        &mid,
        batch,
        task.kv_mix().as_ref(),
        device,
        2048,
    ))
}

/// Mean and CI over the converged seeds, per (protocol, arch, docs, α); every run is judged
/// from its own record ([`Run::stalled`]), so files written before the verdict was stored are
/// summarised the same way.
pub fn summarise(runs: &[Run]) -> Vec<Summary> {
    let mut keys: Vec<(String, String, usize, f64)> = Vec::new();
    for r in runs {
        for e in &r.evals {
            let k = (r.protocol.clone(), r.arch.label(), r.docs, e.alpha);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    keys.into_iter()
        .map(|(protocol, arch, docs, alpha)| {
            let at_alpha: Vec<&Run> = runs
                .iter()
                .filter(|r| r.protocol == protocol && r.arch.label() == arch && r.docs == docs)
                .filter(|r| r.evals.iter().any(|e| e.alpha == alpha))
                .collect();
            let (stalled, converged): (Vec<&Run>, Vec<&Run>) =
                at_alpha.iter().partition(|r| r.stalled());
            let stalled: Vec<u64> = stalled.iter().map(|r| r.seed).collect();
            let restarted = at_alpha
                .iter()
                .filter(|r| !r.restarts.is_empty())
                .map(|r| (r.seed, r.restarts.len()))
                .collect();
            let evals: Vec<&Eval> = converged
                .iter()
                .flat_map(|r| r.evals.iter().filter(|e| e.alpha == alpha))
                .collect();
            let ci =
                |f: &dyn Fn(&Eval) -> f64| Ci::of(&evals.iter().map(|e| f(e)).collect::<Vec<_>>());
            let interp: Vec<f64> = evals.iter().filter_map(|e| e.interp_loss).collect();
            Summary {
                protocol: protocol.clone(),
                arch: arch.clone(),
                docs,
                alpha,
                seeds: at_alpha.len(),
                stalled,
                restarted,
                loss_model: ci(&|e| e.trained.loss_model),
                loss_gd: ci(&|e| e.trained.loss_gd),
                pred_diff: ci(&|e| e.trained.pred_diff),
                sens_cos: ci(&|e| e.trained.sens_cos),
                sens_l2_unit: ci(&|e| e.trained.sens_l2_unit),
                control_sens_cos: ci(&|e| e.control.sens_cos),
                control_pred_diff: ci(&|e| e.control.pred_diff),
                interp_loss: (interp.len() == evals.len() && !interp.is_empty())
                    .then(|| Ci::of(&interp)),
            }
        })
        .collect()
}

/// `<out>/<name>.json`, creating `out` if needed.
pub(crate) fn results_path(out: &Path, name: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(out).map_err(|source| Error::Io {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(out.join(format!("{name}.json")))
}

/// The results at `path` when `same` accepts them (same profile and base seed), else `fresh()`.
pub(crate) fn resume<T: serde::de::DeserializeOwned>(
    path: &Path,
    same: impl Fn(&T) -> bool,
    fresh: impl FnOnce() -> T,
) -> Result<T> {
    Ok(match load::<T>(path)? {
        Some(r) if same(&r) => r,
        _ => fresh(),
    })
}

/// Every sweep's bar, drawn together when sweeps run side by side.
static BARS: std::sync::LazyLock<MultiProgress> = std::sync::LazyLock::new(MultiProgress::new);

/// A progress bar over training steps (one line per sweep in flight).
pub(crate) fn progress(total: u64, prefix: &'static str) -> ProgressBar {
    let bar = BARS.add(ProgressBar::new(total)).with_style(
        ProgressStyle::with_template(
            "{prefix:>9} [{elapsed_precise}] {wide_bar} {pos}/{len} steps ({eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(prefix);
    bar
}

/// Reads a results file (of any sweep's schema) if it exists.
pub fn load<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| Error::Json {
                path: path.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes the results atomically (temp file, then rename).
pub fn save<T: Serialize>(path: &Path, result: &T) -> Result<()> {
    let tmp: PathBuf = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(result).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    std::fs::write(&tmp, text).map_err(|source| Error::Io {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-architecture training rules: lr/√L in the quick profile, the authors' lr/L in
    /// the full one, clip 10 above two layers, the softmax rate, the tabular steps; a profile
    /// written before these settings existed reads back with the authors' rule and none else.
    #[test]
    fn architectures_train_at_their_profile_rates() {
        let mut quick = Profile::quick();
        quick.depth_lr_power = 0.5;
        let deep = quick.synthetic_train(Arch::Lsa { depth: 5 });
        assert!((deep.lr - 1e-2 / 5f64.sqrt()).abs() < 1e-15);
        assert_eq!(deep.clip, 10.0);
        let two = quick.synthetic_train(Arch::Lsa { depth: 2 });
        assert!((two.lr - 1e-2 / 2f64.sqrt()).abs() < 1e-15);
        assert_eq!(two.clip, quick.train.clip);
        let mut fast = quick.clone();
        fast.softmax_lr = Some(2e-2);
        assert_eq!(fast.synthetic_train(Arch::Softmax { heads: 2 }).lr, 2e-2);
        assert_eq!(quick.synthetic_train(Arch::Softmax { heads: 2 }).lr, 1e-2);
        assert_eq!(quick.synthetic_train(Arch::Lsa { depth: 1 }), quick.train);
        assert_eq!(quick.tabular_train().steps, 1500);
        let full = Profile::full();
        assert!((full.synthetic_train(Arch::Lsa { depth: 5 }).lr - 5e-4 / 5.0).abs() < 1e-18);
        assert_eq!(full.synthetic_train(Arch::Softmax { heads: 2 }).lr, 5e-4);
        assert_eq!(full.tabular_train(), full.train);

        let mut old = serde_json::to_value(Profile::quick()).unwrap();
        let map = old.as_object_mut().unwrap();
        for key in ["tabular_steps", "depth_lr_power", "softmax_lr"] {
            map.remove(key);
        }
        let old: Profile = serde_json::from_value(old).unwrap();
        assert_eq!(old.depth_lr_power, 1.0);
        assert_eq!((old.tabular_steps, old.softmax_lr), (None, None));
        assert_ne!(
            old, quick,
            "an old file does not resume under the new budget"
        );
    }
}
