//! The results file of a run (`reports/rag/<profile>.json`): raw per-question scores of every
//! method and seed, per-query cost samples, stage times and the training, fidelity and
//! collapse summaries. Every number in `reports/rag*.md` is computed from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::experiment::methods::Method;
use crate::experiment::profile::Profile;

/// One evaluated question: per method, one `[EM, F1]` per support seed (one for methods
/// without support), and the decoded answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QuestionRecord {
    pub id: String,
    /// A golden answer occurs in the top-k documents (FlashRAG's recall rule), read whole.
    pub gold_in_docs: bool,
    /// A golden answer occurs in the top-k documents as the prompt shows them, each cut to
    /// the profile's `doc_tokens` (the same rule): the questions whose evidence the model
    /// can read. `None` in records made before 2026-12-07, which did not measure it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold_in_prompt: Option<bool>,
    pub scores: BTreeMap<String, Vec<[f64; 2]>>,
    pub predictions: BTreeMap<String, Vec<String>>,
}

/// Seconds one query spent in each part of a method, timed alone (batch 1).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CostSample {
    pub method: String,
    pub retrieval: f64,
    /// Encoding the N demonstrations (frozen LLM + `W_0^ret`).
    pub encode: f64,
    /// `g_φ` forward and building the update.
    pub predictor: f64,
    /// TT-SGD's gradient steps.
    pub sgd: f64,
    pub generation: f64,
}

impl CostSample {
    pub fn total(&self) -> f64 {
        self.retrieval + self.encode + self.predictor + self.sgd + self.generation
    }
}

/// One evaluated set under one retriever.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SetRecord {
    pub retriever: String,
    pub set: String,
    pub held_out: bool,
    pub pool: String,
    pub questions: Vec<QuestionRecord>,
    pub costs: Vec<CostSample>,
    /// One-off cost of the per-task update (encode + predict), seconds.
    pub per_task_once: f64,
    /// Wall time of evaluating every question, summed over the processes that did (`None`:
    /// some questions were evaluated before this was recorded).
    #[serde(default)]
    pub seconds: Option<f64>,
    /// Where that wall time went (`None`: some questions were evaluated before this was
    /// recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<EvalSplit>,
}

/// The parts of one set's evaluation time, seconds summed over the processes that ran it; what
/// `seconds` holds beyond their sum is the rest (answer scoring, records, checkpoints).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct EvalSplit {
    /// Query-only answers (their own prompt, decoded one question at a time).
    pub query_only: f64,
    /// Prompt tuning's answers (its own prefill of the soft prefix and the RAG prompt).
    pub prompt_tuning: f64,
    /// Per-query updates: h̄ of the support demonstrations and the predictor (RAG-GD per
    /// query, HyperTuning).
    pub updates: f64,
    /// Test-time SGD on the support demonstrations.
    pub tt_sgd: f64,
    /// Every row that shares the RAG prompt, decoded as one batch (prefill and decode).
    pub decode_rag: f64,
    /// The few-shot prompts' rows, decoded as one batch.
    pub decode_few_shot: f64,
    /// The per-query cost samples: each method run alone and cold on the first questions.
    pub cost_samples: f64,
}

impl EvalSplit {
    /// Adds `other` part by part.
    pub fn add(&mut self, other: &EvalSplit) {
        self.query_only += other.query_only;
        self.prompt_tuning += other.prompt_tuning;
        self.updates += other.updates;
        self.tt_sgd += other.tt_sgd;
        self.decode_rag += other.decode_rag;
        self.decode_few_shot += other.decode_few_shot;
        self.cost_samples += other.cost_samples;
    }

    /// (name, seconds) of every part, in the order above.
    pub fn parts(&self) -> [(&'static str, f64); 7] {
        [
            ("query only", self.query_only),
            ("prompt tuning", self.prompt_tuning),
            ("per-query updates", self.updates),
            ("TT-SGD", self.tt_sgd),
            ("RAG rows (batched decode)", self.decode_rag),
            ("few-shot rows (batched decode)", self.decode_few_shot),
            ("cost samples", self.cost_samples),
        ]
    }
}

/// Wall time of one stage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageTime {
    pub stage: String,
    pub seconds: f64,
}

/// `W_0^ret` training.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AdapterSummary {
    pub retriever: String,
    pub steps: usize,
    pub instances: usize,
    /// Mean loss of the first and last tenth of the steps.
    pub loss_start: f64,
    pub loss_end: f64,
    pub curve: Vec<f32>,
    /// Training wall time summed over the processes that ran its steps (`None`: not recorded).
    #[serde(default)]
    pub seconds: Option<f64>,
    /// Wall time of each optimiser step alone (no dev loss, no checkpoint); empty in results
    /// from before 2026-12-07, and shorter than the curve where such a run was resumed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_seconds: Vec<f32>,
    /// With early stopping: `(step, dev loss)` of every measurement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dev_curve: Vec<(usize, f32)>,
    /// With early stopping: the kept parameters' greedy answers on the dev questions, and the
    /// bare backbone's on the same prompts (the interface study's dev EM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_answers: Option<crate::method::dev_answers::DevAnswers>,
    /// Whether the dev prompts carried their retrieved documents. Runs before 2026-12-07
    /// did not retrieve for the dev questions, so their dev prompts had no documents: their
    /// dev loss, the step early stopping kept, and their dev EM measure answers without
    /// evidence (`false` when absent from a results file).
    #[serde(default)]
    pub dev_with_docs: bool,
}

/// Stage-2 targets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetSummary {
    pub retriever: String,
    pub train_contexts: usize,
    pub heldout_contexts: usize,
    /// Mean support loss `L(W^(t); C)` at t = 0..K_max over the contexts with every K.
    pub support_loss: Vec<f64>,
    /// Mean block norm ‖ΔW*‖ per K.
    pub mean_norm: BTreeMap<String, f64>,
    /// Contexts (training and held-out) with a target at each K; empty in runs from before
    /// `targets.all_k_contexts_per_pool`, where every context had every K.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub contexts_per_k: BTreeMap<String, usize>,
    pub seconds_per_context: f64,
    /// The support loss averaged over instances instead of answer tokens, on the contexts
    /// `targets.averaging_check` names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub averaging: Option<AveragingCheck>,
}

/// What the support loss's averaging changes, per checked context: `L(W_0^ret; C)` as the
/// mean over answer tokens and as the mean over instances, and how the K = 1 targets of the
/// two compare (mean block cosine; ratio of total norms, instances over tokens).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AveragingCheck {
    #[serde(deserialize_with = "nans_if_null")]
    pub loss_tokens: Vec<f64>,
    #[serde(deserialize_with = "nans_if_null")]
    pub loss_instances: Vec<f64>,
    #[serde(deserialize_with = "nans_if_null")]
    pub cosine: Vec<f64>,
    #[serde(deserialize_with = "nans_if_null")]
    pub norm_ratio: Vec<f64>,
}

/// One trained predictor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PredictorSummary {
    pub retriever: String,
    pub method: String,
    pub k: usize,
    pub term: String,
    pub params: usize,
    pub naive_head_params: usize,
    pub backbone_params: usize,
    pub blocks: usize,
    pub basis_rank: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub loss_start: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub loss_end: f64,
    /// Held-out contexts: per-context mean block cosine, median norm ratio, basis ceiling.
    #[serde(deserialize_with = "nans_if_null")]
    pub heldout_cosine: Vec<f64>,
    #[serde(deserialize_with = "nans_if_null")]
    pub heldout_norm_ratio: Vec<f64>,
    #[serde(deserialize_with = "nans_if_null")]
    pub heldout_ceiling: Vec<f64>,
    /// The control: per held-out context, the same cosine for the training targets' mean, a
    /// predictor that ignores the context (`meta::mean_target_cosine`). Empty in results
    /// made before it was measured.
    #[serde(default, deserialize_with = "nans_if_null")]
    pub heldout_mean_cosine: Vec<f64>,
    /// The same on the training contexts.
    #[serde(deserialize_with = "nans_if_null")]
    pub train_cosine: Vec<f64>,
    pub seconds: f64,
}

/// One point of `g_φ`'s learning curve: trained on `contexts` training contexts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CurvePoint {
    pub contexts: usize,
    pub summary: PredictorSummary,
}

/// Collapse check for one retriever and K.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CollapseSummary {
    pub retriever: String,
    pub method: String,
    /// Mean pairwise block cosine over held-out contexts of the same task / of different tasks.
    #[serde(deserialize_with = "nan_if_null")]
    pub predicted_within: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub predicted_across: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub target_within: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub target_across: f64,
    /// The same for the deployed per-query updates (seed 0), per evaluated set.
    #[serde(deserialize_with = "nan_values_if_null")]
    pub deployed_within: BTreeMap<String, f64>,
    /// NaN until stage 4 has deployed the updates.
    #[serde(deserialize_with = "nan_if_null")]
    pub deployed_across: f64,
}

/// A number that JSON wrote as `null` (serde_json writes NaN so) read back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// [`nan_if_null`] for every value of a map.
fn nan_values_if_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, f64>, D::Error> {
    let m = BTreeMap::<String, Option<f64>>::deserialize(d)?;
    Ok(m.into_iter()
        .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
        .collect())
}

/// [`nan_if_null`] for every element of a list.
fn nans_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let v = Vec::<Option<f64>>::deserialize(d)?;
    Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
}

fn splits_v1() -> u32 {
    1
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Results {
    pub profile: Profile,
    /// Every retriever finished (a run writes the file after each retriever).
    pub complete: bool,
    pub model_path: String,
    pub model_sha256: String,
    pub backend: String,
    pub threads: usize,
    pub code_version: String,
    /// The split scheme the pools were cut with ([`crate::experiment::tasks::SPLITS_VERSION`]); files
    /// from before it was recorded were cut with scheme 1.
    #[serde(default = "splits_v1")]
    pub splits: u32,
    pub methods: Vec<Method>,
    pub stages: Vec<StageTime>,
    pub adapters: Vec<AdapterSummary>,
    /// Prompt tuning's training (steps, loss curve), per retriever.
    #[serde(default)]
    pub prompts: Vec<AdapterSummary>,
    pub targets: Vec<TargetSummary>,
    pub predictors: Vec<PredictorSummary>,
    pub collapse: Vec<CollapseSummary>,
    /// `g_φ` retrained on fewer training contexts ([`crate::experiment::profile::PredictorSettings::context_curve`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_curve: Vec<CurvePoint>,
    pub sets: Vec<SetRecord>,
    pub total_seconds: f64,
}

impl Results {
    /// A run of `profile` on `model_path` (sha256 `model_sha256`) with `backend`, registering
    /// `methods`, that has measured nothing yet but `stages`; burn's CPU kernels run on rayon's
    /// pool, so the thread count is RAYON_NUM_THREADS when set, else every core.
    pub fn new(
        profile: Profile,
        model_path: String,
        model_sha256: String,
        backend: String,
        methods: Vec<Method>,
        stages: Vec<StageTime>,
    ) -> Self {
        Self {
            profile,
            complete: false,
            model_path,
            model_sha256,
            backend,
            threads: std::env::var("RAYON_NUM_THREADS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            code_version: env!("CARGO_PKG_VERSION").into(),
            splits: crate::experiment::tasks::SPLITS_VERSION,
            methods,
            stages,
            adapters: Vec::new(),
            prompts: Vec::new(),
            targets: Vec::new(),
            predictors: Vec::new(),
            collapse: Vec::new(),
            context_curve: Vec::new(),
            sets: Vec::new(),
            total_seconds: 0.0,
        }
    }

    /// A test fixture: a run of `profile` registering `methods`, on `m.gguf` (sha `abc`),
    /// `flex` with 2 threads, that has measured nothing yet.
    #[cfg(test)]
    pub(crate) fn fixture(profile: Profile, methods: Vec<Method>) -> Self {
        Self {
            threads: 2,
            code_version: "0.1.0".into(),
            ..Self::new(
                profile,
                "m.gguf".into(),
                "abc".into(),
                "flex".into(),
                methods,
                Vec::new(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A collapse check written before stage 4 deployed anything (NaN, which JSON writes as
    /// `null`) reads back, NaN again; so does a NaN cosine of a predictor.
    #[test]
    fn nan_measurements_survive_json() {
        let c = CollapseSummary {
            retriever: "bm25".into(),
            method: "rag-gd-k1".into(),
            predicted_within: 0.5,
            predicted_across: f64::NAN,
            target_within: 0.25,
            target_across: 0.125,
            deployed_within: BTreeMap::new(),
            deployed_across: f64::NAN,
        };
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"deployed_across\":null"), "{json}");
        let back: CollapseSummary = serde_json::from_str(&json).unwrap();
        assert!(back.deployed_across.is_nan() && back.predicted_across.is_nan());
        assert_eq!((back.predicted_within, back.target_across), (0.5, 0.125));
        let v: Vec<f64> =
            nans_if_null(&mut serde_json::Deserializer::from_str("[1.5, null]")).unwrap();
        assert_eq!(v[0], 1.5);
        assert!(v[1].is_nan());
    }
}
