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
use crate::experiment::results::{Results, StageTime};
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
    record_time(stages, name, t.elapsed().as_secs_f64());
    Ok(out)
}

/// Prints and records `seconds` as the wall time of stage `name`.
pub(super) fn record_time(stages: &mut Vec<StageTime>, name: String, seconds: f64) {
    eprintln!("  {name}: {seconds:.1} s");
    stages.push(StageTime {
        stage: name,
        seconds,
    });
}

/// What has been measured so far, for the results file written after each retriever: the
/// results record being filled in, and when the run began.
pub(super) struct Progress {
    pub record: Results,
    started: Instant,
}

impl Progress {
    /// `record` as measured so far (nothing but its stage times, at the start).
    pub fn new(record: Results, started: Instant) -> Self {
        Self { record, started }
    }

    /// The record as it stands, with `complete` and the wall time up to now.
    pub fn results(&self, complete: bool) -> Results {
        Results {
            complete,
            total_seconds: self.started.elapsed().as_secs_f64(),
            ..self.record.clone()
        }
    }
}
