//! What every stage of one retriever's pass reads ([`Ctx`]), the stamp of its artefacts,
//! and the results measured so far ([`Progress`]).

use std::path::PathBuf;
use std::time::Instant;

use icor_llm::Llm;
use serde::Serialize;

use super::RunOptions;
use crate::error::Result;
use crate::experiment::methods::Method;
use crate::experiment::profile::Profile;
use crate::experiment::prompt::Prompter;
use crate::experiment::results::{
    AdapterSummary, CollapseSummary, CurvePoint, PredictorSummary, Results, SetRecord, StageTime,
    TargetSummary,
};
use crate::experiment::store::Stamp;
use crate::experiment::tasks::Splits;
use crate::method::params::LoraLayout;

/// Settings a stage depends on, for its stamp.
#[derive(Serialize)]
struct StageKey<'a> {
    profile_model: &'a str,
    interface_layers: usize,
    docs: usize,
    doc_tokens: usize,
    retriever: &'a str,
    seed: u64,
    /// [`crate::experiment::tasks::SPLITS_VERSION`]: which questions fill the pools.
    splits: u32,
    stage: serde_json::Value,
}

/// The run's fixed inputs, as one retriever's stages see them.
pub(super) struct Ctx<'a> {
    pub options: &'a RunOptions,
    pub p: &'a Profile,
    pub model: &'a Llm,
    pub prompter: &'a Prompter<'a>,
    pub layout: &'a LoraLayout,
    pub methods: &'a [Method],
    pub splits: &'a Splits,
    pub rname: &'a str,
    pub model_sha256: &'a str,
}

impl Ctx<'_> {
    /// The stamp of `stage`'s artefacts: its own settings and everything every stage reads.
    pub fn key(&self, stage: &str, settings: &impl Serialize) -> Stamp {
        let p = self.p;
        Stamp::new(
            stage,
            &StageKey {
                profile_model: &p.model,
                interface_layers: p.interface_layers,
                docs: p.docs,
                doc_tokens: p.doc_tokens,
                retriever: self.rname,
                seed: p.seed,
                splits: crate::experiment::tasks::SPLITS_VERSION,
                stage: serde_json::to_value(settings).unwrap_or(serde_json::Value::Null),
            },
            self.model_sha256,
        )
    }

    /// `<run folder>/<name>`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.options.out.join(name)
    }
}

/// Runs `f` as the stage `name`, printing and recording its wall time.
pub(super) fn timed<T>(
    stages: &mut Vec<StageTime>,
    name: String,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let t = Instant::now();
    let out = f()?;
    let seconds = t.elapsed().as_secs_f64();
    eprintln!("  {name}: {seconds:.1} s");
    stages.push(StageTime {
        stage: name,
        seconds,
    });
    Ok(out)
}

/// What has been measured so far, for the results file written after each retriever.
pub(super) struct Progress<'a> {
    pub p: &'a Profile,
    pub model_path: String,
    pub model_sha256: String,
    pub backend: String,
    pub methods: Vec<Method>,
    pub stages: Vec<StageTime>,
    pub adapters: Vec<AdapterSummary>,
    pub prompts: Vec<AdapterSummary>,
    pub targets: Vec<TargetSummary>,
    pub predictors: Vec<PredictorSummary>,
    pub collapse: Vec<CollapseSummary>,
    pub context_curve: Vec<CurvePoint>,
    pub sets: Vec<SetRecord>,
    pub started: Instant,
}

impl<'a> Progress<'a> {
    /// Nothing measured yet but the stages timed so far.
    pub fn new(
        p: &'a Profile,
        model_path: String,
        model_sha256: String,
        backend: String,
        methods: Vec<Method>,
        stages: Vec<StageTime>,
        started: Instant,
    ) -> Self {
        Self {
            p,
            model_path,
            model_sha256,
            backend,
            methods,
            stages,
            adapters: Vec::new(),
            prompts: Vec::new(),
            targets: Vec::new(),
            predictors: Vec::new(),
            collapse: Vec::new(),
            context_curve: Vec::new(),
            sets: Vec::new(),
            started,
        }
    }

    pub fn results(&self, complete: bool) -> Results {
        Results {
            profile: self.p.clone(),
            complete,
            model_path: self.model_path.clone(),
            model_sha256: self.model_sha256.clone(),
            backend: self.backend.clone(),
            // burn's CPU kernels run on rayon's pool: RAYON_NUM_THREADS when set, else every
            // core.
            threads: std::env::var("RAYON_NUM_THREADS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            code_version: env!("CARGO_PKG_VERSION").into(),
            splits: crate::experiment::tasks::SPLITS_VERSION,
            methods: self.methods.clone(),
            stages: self.stages.clone(),
            adapters: self.adapters.clone(),
            prompts: self.prompts.clone(),
            targets: self.targets.clone(),
            predictors: self.predictors.clone(),
            collapse: self.collapse.clone(),
            context_curve: self.context_curve.clone(),
            sets: self.sets.clone(),
            total_seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}
