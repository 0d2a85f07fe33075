//! The nonlinear study (§4.3) and the feature-distribution study (beyond the paper).
//!
//! - `nonlinear`: MLP(width) + LSA on the dot-product interface over real tables (California,
//!   Bike, Wine white, Abalone, Diamonds) × input-side normalisation (z-score, min–max, rank,
//!   tanh); contexts are retrieved corpus rows ([`crate::task::retrieved`]).
//! - `features`: the same pipeline on synthetic tables whose features share one variance but
//!   differ in shape (uniform, Gaussian, Laplace, Student-t(3), log-normal), z-score input.
//!   Its results file also holds, for the synthetic and the real configurations together
//!   (the real ones read from `nonlinear.json`), each feature statistic of [`Shape`] against the
//!   alignment (sensitivity cosine of the trained model to GD) and their Spearman ρ.
//!
//! Results are written after every run (atomically) and a sweep resumes where it stopped.

use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::concurrent;
use crate::converge::Convergence;
use crate::error::{Error, Result};
use crate::metrics::{Comparison, GdProbe, GdRef, compare_with};
use crate::model::{Arch, Model};
use crate::reference::{StepSize, fit_eta};
use crate::stats::{Ci, spearman, spearman_p};
use crate::sweep::{
    CURVE_STREAM, Profile, Setup, load, progress, results_path, resume, save, tick,
};
use crate::tabular::shape::Shape;
use crate::tabular::{Dataset, Distribution, Norm, Table};
use crate::task::retrieved::shapes;
use crate::task::{Readout, Retrieved, Task, rng, shuffle};
use crate::train::{Curve, Restart, TrainConfig, train_restarting};

/// Context rows retrieved per query (N of §4.1).
pub const CONTEXT_ROWS: usize = 10;
/// Largest retrieval corpus (Diamonds has 48k training rows; the paper's sets ≤ 16.6k).
pub const MAX_CORPUS: usize = 16_000;
/// Share of each table held out as test queries.
pub const TEST_SHARE: f64 = 0.1;
/// Rows and features of a synthetic table.
pub const SYNTHETIC_ROWS: usize = 8_000;
pub const SYNTHETIC_FEATURES: usize = 8;
/// Seed of the train/test splits and synthetic tables: a property of the data, not of the
/// training seed, so every seed sees the same split.
pub const DATA_SEED: u64 = 2605;

/// Which of the two studies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Study {
    Nonlinear,
    Features,
}

impl Study {
    /// File stem and CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Study::Nonlinear => "nonlinear",
            Study::Features => "features",
        }
    }
}

/// Where a table comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Real(Dataset),
    Synthetic(Distribution),
}

impl Source {
    /// Table name.
    pub fn name(self) -> &'static str {
        match self {
            Source::Real(d) => d.name(),
            Source::Synthetic(d) => d.name(),
        }
    }
    /// "real" or "synthetic".
    pub fn kind(self) -> &'static str {
        match self {
            Source::Real(_) => "real",
            Source::Synthetic(_) => "synthetic",
        }
    }
}

/// One trained model on one table under one normalisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TabularRun {
    /// "real" or "synthetic".
    pub kind: String,
    /// Table name.
    pub source: String,
    pub norm: Norm,
    pub arch: Arch,
    pub seed: u64,
    /// Corpus rows, test queries, features.
    pub n_train: usize,
    pub n_test: usize,
    pub features: usize,
    /// Statistics of the test queries' features as the model sees them (after g).
    pub shape: Shape,
    /// Statistics of the corpus features (the raw table's shape: z-scoring keeps it).
    pub corpus_shape: Shape,
    pub step_size: StepSize,
    pub train: TrainConfig,
    /// Trained model against GD on the test queries.
    pub trained: Comparison,
    /// The same architecture untrained (same seed) against GD: the control.
    pub control: Comparison,
    pub curve: Curve,
    pub seconds: f64,
    /// Whether training left the initial plateau ([`crate::converge`]), as judged when the run
    /// was written; files written before this field have none. Summaries judge every run afresh
    /// with [`TabularRun::convergence`].
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

impl TabularRun {
    /// The run judged from its own record: final loss against its untrained control and GD on
    /// the test queries, and its curve.
    pub fn convergence(&self) -> Convergence {
        Convergence::of(&self.trained, &self.control, &self.curve)
    }
}

/// Mean and 95% CI over the converged seeds of one (table, normalisation, architecture).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TabularSummary {
    pub kind: String,
    pub source: String,
    pub norm: Norm,
    pub arch: String,
    /// Seeds run (converged and stalled).
    pub seeds: usize,
    /// Seeds whose run stalled ([`crate::converge`]): left out of every mean and CI of the row,
    /// whose `n` is the converged count.
    #[serde(default)]
    pub stalled: Vec<u64>,
    /// (seed, restarts) of the seeds trained again before one attempt left the plateau.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarted: Vec<(u64, usize)>,
    pub shape: Shape,
    pub corpus_shape: Shape,
    pub loss_model: Ci,
    pub loss_gd: Ci,
    pub pred_diff: Ci,
    pub sens_cos: Ci,
    pub sens_l2_unit: Ci,
    pub control_sens_cos: Ci,
    pub control_pred_diff: Ci,
}

/// One point of the statistic-vs-alignment scatter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    pub kind: String,
    pub source: String,
    pub norm: Norm,
    pub arch: String,
    /// Statistics of the query features (after g), then of the corpus features.
    pub query: Shape,
    pub corpus: Shape,
    /// Alignment: mean sensitivity cosine of the trained model to GD.
    pub sens_cos: f64,
    pub control_sens_cos: f64,
    /// Test loss of the trained model (z-scored target): how much of y the features explain.
    #[serde(default)]
    pub loss_model: f64,
}

/// Spearman ρ between one statistic and the alignment over a set of points.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Correlation {
    /// `query.<statistic>` or `corpus.<statistic>` (see [`Shape::NAMES`]).
    pub statistic: String,
    /// "all", "real" or "synthetic": one point per (table, normalisation); "tables": one point
    /// per table (cosine averaged over its normalisations; corpus statistics only, since they
    /// do not change with the normalisation — the four points of a table are not independent).
    pub points: String,
    pub arch: String,
    pub n: usize,
    /// Spearman ρ(statistic, sensitivity cosine): negative = the statistic predicts the break;
    /// NaN (`null` in JSON) where the statistic is the same at every point.
    #[serde(deserialize_with = "crate::stats::nan_if_null")]
    pub rho: f64,
    /// Two-sided permutation p-value of ρ (10,000 seeded shuffles).
    #[serde(deserialize_with = "crate::stats::nan_if_null")]
    pub p_value: f64,
}

/// Everything one study produced (schema of `nonlinear.json` / `features.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TabularResult {
    pub sweep: Study,
    pub profile: Profile,
    pub base_seed: u64,
    pub backend: String,
    pub runs: Vec<TabularRun>,
    pub summary: Vec<TabularSummary>,
    /// Features study only: scatter points and rank correlations over synthetic + real.
    #[serde(default)]
    pub statistics: Vec<Point>,
    #[serde(default)]
    pub correlations: Vec<Correlation>,
}

/// The architectures of the studies: the paper's MLP + attention at two widths (it gives none).
pub fn archs() -> Vec<Arch> {
    vec![Arch::Mlp { width: 32 }, Arch::Mlp { width: 128 }]
}

/// The (source, normalisation) configurations of a study.
pub fn configs(study: Study) -> Vec<(Source, Norm)> {
    match study {
        Study::Nonlinear => Dataset::ALL
            .iter()
            .flat_map(|&d| Norm::ALL.iter().map(move |&n| (Source::Real(d), n)))
            .collect(),
        Study::Features => Distribution::ALL
            .iter()
            .map(|&d| (Source::Synthetic(d), Norm::ZScore))
            .collect(),
    }
}

/// Loads (real) or draws (synthetic) a table and splits it into corpus and test queries.
pub fn split(source: Source, home: &Path, max_test: usize) -> Result<(Table, Table)> {
    let table = match source {
        Source::Real(d) => d.load(home)?,
        Source::Synthetic(d) => {
            d.table(SYNTHETIC_ROWS, SYNTHETIC_FEATURES, &mut rng(DATA_SEED, 100))
        }
    };
    let n = table.n();
    let mut idx: Vec<usize> = (0..n).collect();
    shuffle(&mut idx, &mut rng(DATA_SEED, 101));
    let n_test = ((n as f64 * TEST_SHARE).round() as usize).clamp(1, max_test.max(1));
    let (test, rest) = idx.split_at(n_test);
    let train = &rest[..rest.len().min(MAX_CORPUS)];
    if train.len() < CONTEXT_ROWS + 1 {
        return Err(Error::Data {
            path: table.name.clone().into(),
            reason: format!("{n} rows: too few for {CONTEXT_ROWS} retrieved rows per query"),
        });
    }
    Ok((table.select(train), table.select(test)))
}

/// Runs (or resumes) one study, writing `<out>/<study>.json` after every run. `home` is the
/// asset cache for the real tables. Up to the setup's slots of runs train at once
/// ([`crate::concurrent`]); the file lists its runs in the same order whatever the number.
pub fn run_study(study: Study, setup: &Setup<'_>, home: &Path) -> Result<TabularResult> {
    let Setup {
        profile,
        base_seed,
        backend,
        device,
        out,
        slots,
    } = *setup;
    let path = results_path(out, study.name())?;
    let mut result = resume(
        &path,
        |r: &TabularResult| {
            r.profile.for_tabular() == profile.for_tabular() && r.base_seed == base_seed
        },
        || TabularResult {
            sweep: study,
            profile: profile.clone(),
            base_seed,
            backend: backend.into(),
            runs: vec![],
            summary: vec![],
            statistics: vec![],
            correlations: vec![],
        },
    )?;
    // the same budget for this study: the file names the profile it now runs under
    result.profile = profile.clone();
    let cfgs = configs(study);
    let arch_list = archs();
    let per_run = profile.tabular_train().steps as u64;
    let total = (cfgs.len() * arch_list.len() * profile.seeds) as u64 * per_run;
    let bar = progress(total, study.name());
    // every (table, normalisation, architecture, seed) in a fixed order: the order of the runs
    let is = |r: &TabularRun, (source, norm, arch, seed): (Source, Norm, Arch, u64)| {
        r.source == source.name() && r.norm == norm && r.arch == arch && r.seed == seed
    };
    let mut all = Vec::new();
    let mut tasks = Vec::new();
    for (source, norm) in cfgs {
        let group: Vec<(Source, Norm, Arch, u64)> = arch_list
            .iter()
            .flat_map(|&a| (0..profile.seeds as u64).map(move |s| (source, norm, a, base_seed + s)))
            .collect();
        all.extend(group.iter().copied());
        let todo = group
            .iter()
            .filter(|&&job| !result.runs.iter().any(|r| is(r, job)))
            .count();
        bar.inc(per_run * (group.len() - todo) as u64);
        let (train_t, test_t) = split(source, home, profile.eval_tasks)?;
        // the statistics are a property of the data: refresh them in finished runs too, so a
        // statistic added later needs no retraining
        let (query_shape, corpus_shape) = shapes(&train_t, &test_t, norm);
        for r in result
            .runs
            .iter_mut()
            .filter(|r| r.source == source.name() && r.norm == norm)
        {
            r.shape = query_shape;
            r.corpus_shape = corpus_shape;
        }
        if todo > 0 {
            bar.set_message(format!("{} {}: retrieving", source.name(), norm.name()));
            tasks.push((
                source,
                norm,
                Retrieved::new(&train_t, &test_t, norm, CONTEXT_ROWS),
            ));
        }
    }
    let todo: Vec<(Source, Norm, Arch, u64)> = all
        .iter()
        .copied()
        .filter(|&job| !result.runs.iter().any(|r| is(r, job)))
        .collect();
    let running = std::sync::atomic::AtomicUsize::new(0);
    concurrent::for_each_in(
        &todo,
        slots,
        |&(source, norm, arch, seed)| {
            let task = tasks
                .iter()
                .find(|(s, n, _)| *s == source && *n == norm)
                .map(|(_, _, t)| t)
                .ok_or_else(|| Error::Setting {
                    name: "table",
                    value: format!("{} {}", source.name(), norm.name()),
                    reason: "no retrieved task was built for it",
                })?;
            let n = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            bar.set_message(format!(
                "{} {} {} seed={seed} ({n} running)",
                source.name(),
                norm.name(),
                arch.label()
            ));
            let run = one_run(source, task, arch, profile, seed, device, &bar);
            running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            run
        },
        |_, run| {
            result.runs.push(run);
            let order =
                |r: &TabularRun| all.iter().position(|&job| is(r, job)).unwrap_or(usize::MAX);
            result.runs.sort_by_key(order);
            result.summary = summarise(&result.runs);
            save(&path, &result)
        },
    )?;
    bar.finish_and_clear();
    result.summary = summarise(&result.runs);
    if study == Study::Features {
        let real = load::<TabularResult>(&out.join("nonlinear.json"))
            .ok()
            .flatten()
            .map(|r| r.summary)
            .unwrap_or_default();
        let all: Vec<TabularSummary> = result.summary.iter().cloned().chain(real).collect();
        result.statistics = points(&all);
        result.correlations = correlations(&result.statistics);
    }
    save(&path, &result)?;
    Ok(result)
}

fn one_run(
    source: Source,
    task: &Retrieved,
    arch: Arch,
    profile: &Profile,
    seed: u64,
    device: &Device,
    bar: &ProgressBar,
) -> Result<TabularRun> {
    let start = Instant::now();
    let eval = task.test_batch(profile.eval_tasks);
    // η on training queries (held out from the test queries), never on the evaluation set
    let fit_set = task.sample(&mut rng(seed, 4), profile.eval_tasks);
    let step_size = fit_eta(&fit_set, 1, Readout::WithBase, false);
    let gd = GdRef {
        eta: step_size.eta,
        steps: 1,
        readout: Readout::WithBase,
    };
    // training queries, not the test queries: a restart rests on them
    let curve_batch = task.sample(&mut rng(seed, CURVE_STREAM), profile.train.curve_tasks);
    let wrapped = Task::Retrieved(task.clone());
    let train_cfg = profile.tabular_train();
    let trained = train_restarting(
        &wrapped,
        arch,
        &train_cfg,
        profile.restarts,
        seed,
        &gd,
        &curve_batch,
        device,
        |e| tick(bar, e, train_cfg.steps),
    )?;
    let (model, curve, init_seed) = (trained.model, trained.curve, trained.init_seed);
    let trained_restarts = trained.restarts;
    let control_model = Model::init(arch, eval.d, init_seed, device);
    let gd_probe = GdProbe::new(&gd, &eval, device, 2048);
    let trained = compare_with(&model, &gd_probe, None, device);
    let control = compare_with(&control_model, &gd_probe, None, device);
    Ok(TabularRun {
        kind: source.kind().into(),
        source: source.name().into(),
        norm: task.norm(),
        arch,
        seed,
        n_train: task.n_corpus(),
        n_test: eval.b,
        features: task.p(),
        shape: task.query_shape(),
        corpus_shape: task.corpus_shape(),
        step_size,
        train: train_cfg,
        trained,
        control,
        convergence: Some(Convergence::of(&trained, &control, &curve)),
        curve,
        seconds: start.elapsed().as_secs_f64(),
        init_seed: (init_seed != seed).then_some(init_seed),
        restarts: trained_restarts,
    })
}

/// Mean and CI over the converged seeds per (source, normalisation, architecture), in run
/// order; every run is judged from its own record ([`TabularRun::convergence`]).
pub fn summarise(runs: &[TabularRun]) -> Vec<TabularSummary> {
    let mut keys: Vec<(String, Norm, String)> = Vec::new();
    for r in runs {
        let k = (r.source.clone(), r.norm, r.arch.label());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(source, norm, arch)| {
            let rs: Vec<&TabularRun> = runs
                .iter()
                .filter(|r| r.source == source && r.norm == norm && r.arch.label() == arch)
                .collect();
            let (stalled, converged): (Vec<&TabularRun>, Vec<&TabularRun>) =
                rs.iter().partition(|r| r.convergence().stalled);
            let ci = |f: &dyn Fn(&TabularRun) -> f64| {
                Ci::of(&converged.iter().map(|r| f(r)).collect::<Vec<_>>())
            };
            TabularSummary {
                kind: rs[0].kind.clone(),
                source,
                norm,
                arch,
                seeds: rs.len(),
                stalled: stalled.iter().map(|r| r.seed).collect(),
                restarted: rs
                    .iter()
                    .filter(|r| !r.restarts.is_empty())
                    .map(|r| (r.seed, r.restarts.len()))
                    .collect(),
                shape: rs[0].shape,
                corpus_shape: rs[0].corpus_shape,
                loss_model: ci(&|r| r.trained.loss_model),
                loss_gd: ci(&|r| r.trained.loss_gd),
                pred_diff: ci(&|r| r.trained.pred_diff),
                sens_cos: ci(&|r| r.trained.sens_cos),
                sens_l2_unit: ci(&|r| r.trained.sens_l2_unit),
                control_sens_cos: ci(&|r| r.control.sens_cos),
                control_pred_diff: ci(&|r| r.control.pred_diff),
            }
        })
        .collect()
}

/// Scatter points, one per summary row with a converged seed.
pub fn points(summary: &[TabularSummary]) -> Vec<Point> {
    summary
        .iter()
        .filter(|s| s.sens_cos.n > 0)
        .map(|s| Point {
            kind: s.kind.clone(),
            source: s.source.clone(),
            norm: s.norm,
            arch: s.arch.clone(),
            query: s.shape,
            corpus: s.corpus_shape,
            sens_cos: s.sens_cos.mean,
            control_sens_cos: s.control_sens_cos.mean,
            loss_model: s.loss_model.mean,
        })
        .collect()
}

/// Spearman ρ of every statistic against the alignment, per architecture, over all points and
/// over the real and the synthetic ones separately.
pub fn correlations(points: &[Point]) -> Vec<Correlation> {
    let mut archs: Vec<String> = Vec::new();
    for p in points {
        if !archs.contains(&p.arch) {
            archs.push(p.arch.clone());
        }
    }
    let mut out = Vec::new();
    for arch in &archs {
        for set in ["all", "real", "synthetic"] {
            let sel: Vec<&Point> = points
                .iter()
                .filter(|p| &p.arch == arch && (set == "all" || p.kind == set))
                .collect();
            if sel.len() < 3 {
                continue;
            }
            let cos: Vec<f64> = sel.iter().map(|p| p.sens_cos).collect();
            // not a feature statistic: the part of the target the trained model cannot explain
            let loss: Vec<f64> = sel.iter().map(|p| p.loss_model).collect();
            out.push(Correlation {
                statistic: "trained_loss".into(),
                points: set.into(),
                arch: arch.clone(),
                n: sel.len(),
                rho: spearman(&loss, &cos),
                p_value: spearman_p(&loss, &cos, 10_000, 0),
            });
            for side in ["query", "corpus"] {
                for (k, name) in Shape::NAMES.iter().enumerate() {
                    let stat: Vec<f64> = sel
                        .iter()
                        .map(|p| {
                            let shape = if side == "query" { p.query } else { p.corpus };
                            shape.values()[k]
                        })
                        .collect();
                    out.push(Correlation {
                        statistic: format!("{side}.{name}"),
                        points: set.into(),
                        arch: arch.clone(),
                        n: sel.len(),
                        rho: spearman(&stat, &cos),
                        p_value: spearman_p(&stat, &cos, 10_000, 0),
                    });
                }
            }
        }
    }
    for arch in &archs {
        let mut tables: Vec<(&str, Shape, Vec<f64>)> = Vec::new();
        for p in points.iter().filter(|p| &p.arch == arch) {
            match tables.iter_mut().find(|t| t.0 == p.source) {
                Some(t) => t.2.push(p.sens_cos),
                None => tables.push((&p.source, p.corpus, vec![p.sens_cos])),
            }
        }
        if tables.len() < 3 {
            continue;
        }
        let cos: Vec<f64> = tables
            .iter()
            .map(|t| t.2.iter().sum::<f64>() / t.2.len() as f64)
            .collect();
        for (k, name) in Shape::NAMES.iter().enumerate() {
            let stat: Vec<f64> = tables.iter().map(|t| t.1.values()[k]).collect();
            out.push(Correlation {
                statistic: format!("corpus.{name}"),
                points: "tables".into(),
                arch: arch.clone(),
                n: tables.len(),
                rho: spearman(&stat, &cos),
                p_value: spearman_p(&stat, &cos, 10_000, 0),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A statistic that is the same at every point (one table's corpus under four
    /// normalisations, as a checkpoint can hold) has no rank correlation: NaN, which
    /// serde_json writes as `null`; the results file must read back, or a resumed sweep stops.
    #[test]
    fn a_correlation_with_a_constant_statistic_reads_back_as_nan() {
        let rho = spearman(&[1385.5; 4], &[0.12, 0.11, 0.13, 0.15]);
        assert!(rho.is_nan());
        let c = Correlation {
            statistic: "corpus.kurtosis".into(),
            points: "real".into(),
            arch: "MLP(32) + LSA".into(),
            n: 4,
            rho,
            p_value: 0.5,
        };
        let json = serde_json::to_string(&c).expect("serialises");
        assert!(json.contains("\"rho\":null"), "{json}");
        let back: Correlation = serde_json::from_str(&json).expect("reads back");
        assert!(back.rho.is_nan());
        assert_eq!(back.p_value, 0.5);
    }
}
