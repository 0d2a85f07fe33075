//! Run profiles: every setting of one `icor rag run`, from the paper's (§5, App. G) to a CI
//! smoke test. Settings are data: each built-in profile is a TOML file in
//! `crates/icor-rag/profiles/` (embedded), and a copy a user edits runs by its path. Unknown
//! keys are refused and the settings are checked against each other on load. The settings
//! are recorded in every artefact's stamp and in the results.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::baselines::prompt_tuning::PromptTuningSettings;
use crate::error::{Error, Result, io_err};
use crate::experiment::methods::FEW_SHOT_IDS;

/// Stage 1: the base retrieval adapter `W_0^ret` (App. G: LoRA r 16, α 32 on Q/K/V; AdamW
/// lr 1e-4, wd 0.01, clip 1.0, grad-accum 4, 3,000 steps).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdapterSettings {
    pub rank: usize,
    pub alpha: f32,
    pub lr: f64,
    pub weight_decay: f64,
    /// Global gradient-norm clip.
    pub clip: f64,
    /// Micro-batches per optimiser step.
    pub grad_accum: usize,
    /// Instances per micro-batch.
    pub micro_batch: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// NQ training-pool questions the adapter is trained on.
    pub train_questions: usize,
    /// Save a resumable checkpoint every this many steps.
    pub checkpoint_every: usize,
    /// Stop when the answer loss on a held-out dev pool stops improving, keeping the best
    /// parameters (the interface study); absent: `steps` steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stop: Option<EarlyStop>,
}

/// Early stopping of `W_0^ret` on a dev pool: the first training pool's questions after
/// `W_0^ret`'s own, never an evaluated or meta-training question.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EarlyStop {
    /// Dev questions.
    pub dev_questions: usize,
    /// Measure the dev loss every this many steps.
    pub eval_every: usize,
    /// Stop after this many measurements without a new best.
    pub patience: usize,
}

/// Stage 2: gradient-step targets `ΔW_GD^(K)(C)` (Eq. 8: η 1e-2, K ∈ {1, 5, 10}, N = 3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    /// Inner learning rate η.
    pub eta: f64,
    /// The K values; the largest is run once and the others are snapshots on the way.
    pub ks: Vec<usize>,
    /// Meta-training contexts per training pool (NQ, TriviaQA, SQuAD).
    pub train_contexts_per_pool: usize,
    /// Held-out contexts per evaluation task (fidelity and collapse checks).
    pub heldout_contexts_per_task: usize,
    /// Meta-training contexts per training pool that get every K (the first ones of each
    /// pool); the others get the smallest K only, which costs one gradient step instead of
    /// K_max. Held-out contexts always get every K. Unset: every context gets every K.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_k_contexts_per_pool: Option<usize>,
    /// Held-out contexts per evaluated set (the first ones) whose K = 1 target is also
    /// computed with the support loss averaged over instances instead of over answer
    /// tokens ([`crate::method::loss::Averaging`]), to measure what that choice changes.
    /// Unset: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub averaging_check: Option<usize>,
}

impl TargetSettings {
    /// The K values, ascending.
    pub fn ks_sorted(&self) -> Vec<usize> {
        let mut ks = self.ks.clone();
        ks.sort_unstable();
        ks
    }

    /// The settings as the stamps of what the targets feed (`g_φ`, HyperTuning, the
    /// evaluation) see them: without `averaging_check`, a diagnostic that changes none of
    /// them.
    pub fn for_stamp(&self) -> Self {
        Self {
            averaging_check: None,
            ..self.clone()
        }
    }

    /// The K values computed for meta-training context `c` of its pool (held-out contexts:
    /// `c = 0`, every K), ascending.
    pub fn ks_for(&self, c: usize, heldout: bool) -> Vec<usize> {
        let ks = self.ks_sorted();
        match self.all_k_contexts_per_pool {
            Some(n) if !heldout && c >= n => ks.into_iter().take(1).collect(),
            _ => ks,
        }
    }
}

/// Stage 3: the predictor `g_φ` and its matching loss (Eq. 9; App. G: MLP 256 → 64, AdamW
/// lr 5e-4, wd 0.01, clip 1.0, λ 0.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PredictorSettings {
    pub hidden: usize,
    pub code: usize,
    /// Rank of the predicted update per (layer, projection) block: the heads emit `R × R`
    /// coefficients in fixed bases of this size fitted to the training targets.
    pub basis_rank: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub clip: f64,
    pub lambda: f64,
    pub steps: usize,
    pub batch: usize,
    /// HyperTuning's optimiser steps (each backpropagates the answer loss of `batch`
    /// contexts' queries through the backbone into `g_φ`).
    #[serde(default)]
    pub hyper_steps: usize,
    /// The learning curve of `g_φ` (RAG-GD at the middle K, log² term): it is retrained on
    /// the first n training contexts for each n here (taken round-robin over the pools) and
    /// checked on the same held-out contexts. Empty: no curve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_curve: Vec<usize>,
}

/// Stage 4: evaluation (Algorithm 1 and the baselines).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvalSettings {
    /// First questions of each evaluated set (FlashRAG takes the first n).
    pub questions: usize,
    /// Support-sampling seeds per query (RAG-GD and TT-SGD).
    pub support_seeds: usize,
    /// Seeds for the ablation rows (per-task mode, signed-log norm term).
    pub ablation_seeds: usize,
    /// Seeds for the K sweep's other K (the middle K, the main row, has `support_seeds`);
    /// 0 means `support_seeds`.
    #[serde(default)]
    pub sweep_seeds: usize,
    /// Questions per set TT-SGD runs on (the first ones; the same subset for every method).
    pub tt_sgd_questions: usize,
    /// Support seeds TT-SGD runs with.
    pub tt_sgd_seeds: usize,
    /// TT-SGD's inner steps (η as for the targets).
    pub tt_sgd_k: usize,
    /// Questions per set on which every method is also timed alone (per-query cost).
    pub cost_questions: usize,
    /// Questions per set the few-shot baselines run on (the first ones; their prompts are
    /// `N + 1` times longer, so their prefill is not shared with the other methods).
    #[serde(default)]
    pub few_shot_questions: usize,
    /// Support seeds the few-shot baselines run with (the same draws as RAG-GD's first seeds).
    #[serde(default)]
    pub few_shot_seeds: usize,
    /// Some few-shot rows extended past `few_shot_questions` after the fact (a run already
    /// evaluated on the smaller subset keeps its records and only adds the missing rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub few_shot_top_up: Option<FewShotTopUp>,
    /// Greedy decoding limit (FlashRAG: 32).
    pub max_new_tokens: usize,
    /// Bootstrap resamples for the CIs.
    pub bootstrap: usize,
}

impl EvalSettings {
    /// Questions per set the few-shot row `method` runs on: the top-up's count where it
    /// names the method, else `few_shot_questions`.
    pub fn few_shot_questions_of(&self, method: &str) -> usize {
        match &self.few_shot_top_up {
            Some(t) if t.methods.iter().any(|m| m == method) => t.questions,
            _ => self.few_shot_questions,
        }
    }

    /// The settings stage 4's stamp reads: without the top-up, which adds rows to finished
    /// records instead of invalidating them (each question's record says which rows it has).
    pub fn for_stamp(&self) -> Self {
        Self {
            few_shot_top_up: None,
            ..self.clone()
        }
    }
}

/// Few-shot rows run on more questions than `few_shot_questions`: on resuming, every record
/// of the first `questions` of a set that lacks one of these rows gets it, with the support
/// draws, prompt and decoding it would have had in the first pass.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FewShotTopUp {
    /// Questions per set (the first ones), at least `few_shot_questions`.
    pub questions: usize,
    /// Method ids of few-shot rows (`vanilla-rag-few-shot`, `base-adapter-few-shot`).
    pub methods: Vec<String>,
}

/// One run's settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The profile's name (a built-in's, or its file's stem); not a key of the file.
    #[serde(default)]
    pub name: String,
    /// Backbone: a catalogue name or a path.
    pub model: String,
    /// Retrievers (`bm25`, `dense`).
    pub retrievers: Vec<String>,
    /// Evaluated sets, `name/split`.
    pub eval_sets: Vec<String>,
    /// Training pools, `name/split`; the first trains `W_0^ret`.
    pub train_pools: Vec<String>,
    /// Retrieved documents per question.
    pub docs: usize,
    /// Token budget per document (its text is cut after this many tokens; 0 = no cut).
    pub doc_tokens: usize,
    /// Support size N.
    pub support: usize,
    /// Support-pool questions per task.
    pub pool_size: usize,
    /// The interface sits on the top `interface_layers` layers (0 = every layer); the
    /// frozen layers below are run once per prompt and shared.
    pub interface_layers: usize,
    pub seed: u64,
    pub adapter: AdapterSettings,
    /// Prompt tuning (the soft-prefix baseline); `None` leaves it out of the comparison.
    #[serde(default)]
    pub prompt_tuning: Option<PromptTuningSettings>,
    pub targets: TargetSettings,
    pub predictor: PredictorSettings,
    pub eval: EvalSettings,
}

/// Profile names.
pub const PROFILES: [&str; 5] = ["smoke", "quick", "decided", "cpu", "paper"];

/// The built-in profiles: data files shipped in `crates/icor-rag/profiles/`, embedded.
const BUILT_IN: [(&str, &str); 5] = [
    ("smoke", include_str!("../../profiles/smoke.toml")),
    ("quick", include_str!("../../profiles/quick.toml")),
    ("decided", include_str!("../../profiles/decided.toml")),
    ("cpu", include_str!("../../profiles/cpu.toml")),
    ("paper", include_str!("../../profiles/paper.toml")),
];

impl Profile {
    /// A built-in profile by name, or a profile file (`*.toml`, named by its file stem).
    pub fn named(name: &str) -> Result<Self> {
        if let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name) {
            let origin = PathBuf::from(format!("crates/icor-rag/profiles/{name}.toml"));
            return Self::parse(text, name, &origin);
        }
        let path = Path::new(name);
        if path.extension().is_some_and(|e| e == "toml") {
            return Self::load(path);
        }
        Err(Error::Config(format!(
            "unknown profile `{name}` (known: {}; or the path of a profile file, `*.toml`, \
             e.g. a copy of one of crates/icor-rag/profiles/)",
            PROFILES.join(", ")
        )))
    }

    /// Reads a profile file; the profile takes the file's stem as its name.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::Config(format!("{}: no file name", path.display())))?;
        Self::parse(&text, &name, path)
    }

    /// Parses and checks the TOML text of a profile (`origin` names it in errors).
    pub fn parse(text: &str, name: &str, origin: &Path) -> Result<Self> {
        let format = |reason: String| Error::Format {
            path: origin.to_path_buf(),
            reason,
        };
        let mut p: Profile = toml::from_str(text).map_err(|e| format(e.to_string()))?;
        if !p.name.is_empty() {
            return Err(format(
                "`name` is not a setting: a profile is named by its file".into(),
            ));
        }
        p.name = name.to_string();
        p.check().map_err(|e| format(e.to_string()))?;
        Ok(p)
    }

    /// The middle K: the main RAG-GD row, the ablations' and HyperTuning's K.
    pub fn mid_k(&self) -> usize {
        let mut ks = self.targets.ks.clone();
        ks.sort_unstable();
        ks.get(ks.len() / 2).copied().unwrap_or(1)
    }

    /// The K of `g_φ`'s learning curve over the number of contexts: the middle K where
    /// every meta-training context has a target at it, else the smallest (which all have).
    pub fn curve_k(&self) -> usize {
        match self.targets.all_k_contexts_per_pool {
            Some(n) if n < self.targets.train_contexts_per_pool => self.targets.ks_sorted()[0],
            _ => self.mid_k(),
        }
    }

    /// The largest K (computed once; smaller K are snapshots).
    pub fn k_max(&self) -> usize {
        self.targets.ks.iter().copied().max().unwrap_or(1)
    }

    /// Checks the settings against each other.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.support == 0 || self.pool_size <= self.support {
            return bad(format!(
                "support {} needs a pool larger than it (pool_size {})",
                self.support, self.pool_size
            ));
        }
        if self.targets.ks.is_empty() || self.targets.ks.contains(&0) {
            return bad("targets.ks must be non-empty and positive".into());
        }
        if let Some(n) = self.targets.all_k_contexts_per_pool
            && (n == 0 || n > self.targets.train_contexts_per_pool)
        {
            return bad(format!(
                "targets.all_k_contexts_per_pool {n} must lie in 1..=train_contexts_per_pool ({})",
                self.targets.train_contexts_per_pool
            ));
        }
        if let Some(n) = self.targets.averaging_check
            && (n == 0
                || n > self.targets.heldout_contexts_per_task
                || !self.targets.ks.contains(&1))
        {
            return bad(format!(
                "targets.averaging_check {n} must lie in 1..=heldout_contexts_per_task ({}) and \
                 needs K = 1 among targets.ks (it compares K = 1 targets)",
                self.targets.heldout_contexts_per_task
            ));
        }
        if self.eval.tt_sgd_questions > self.eval.questions
            || self.eval.cost_questions > self.eval.questions
        {
            return bad("TT-SGD and cost subsets must lie within the evaluated questions".into());
        }
        if self.eval.few_shot_questions > self.eval.questions
            || self.eval.few_shot_seeds > self.eval.support_seeds
            || (self.eval.few_shot_questions > 0 && self.eval.few_shot_seeds == 0)
        {
            return bad(
                "few-shot questions must lie within the evaluated ones, with 1..=support_seeds seeds"
                    .into(),
            );
        }
        if let Some(t) = &self.eval.few_shot_top_up
            && (t.questions < self.eval.few_shot_questions
                || t.questions > self.eval.questions
                || self.eval.few_shot_seeds == 0
                || t.methods.is_empty()
                || t.methods
                    .iter()
                    .any(|m| !FEW_SHOT_IDS.contains(&m.as_str())))
        {
            return bad(format!(
                "eval.few_shot_top_up: {} questions must lie in few_shot_questions ({})..=questions \
                 ({}), with few-shot seeds, and its methods among {FEW_SHOT_IDS:?}",
                t.questions, self.eval.few_shot_questions, self.eval.questions
            ));
        }
        if let Some(pt) = &self.prompt_tuning
            && (pt.virtual_tokens == 0 || pt.questions > self.eval.questions)
        {
            return bad(
                "prompt tuning needs ≥ 1 virtual token and a subset of the questions".into(),
            );
        }
        if self.eval.tt_sgd_seeds > self.eval.support_seeds
            || self.eval.ablation_seeds > self.eval.support_seeds
            || self.eval.sweep_seeds > self.eval.support_seeds
        {
            return bad("tt_sgd_seeds and ablation_seeds must not exceed support_seeds".into());
        }
        if self.retrievers.is_empty() || self.eval_sets.is_empty() || self.train_pools.is_empty() {
            return bad("retrievers, eval_sets and train_pools must be non-empty".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_profile_loads_and_the_quick_one_is_the_committed_runs() {
        for name in PROFILES {
            let p = Profile::named(name).unwrap();
            assert_eq!(p.name, name);
        }
        // The committed quick run was made before the profiles were files: the same settings.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../reports/rag/quick.json");
        let run = crate::experiment::run::load_results(Path::new(path)).unwrap();
        assert_eq!(Profile::named("quick").unwrap(), run.profile);
    }

    /// Every profile file shipped in `profiles/` loads by its path (the built-in ones and the
    /// study profiles passed by path, such as `interface.toml`); the interface study's stops
    /// early, as `icor rag interface` requires.
    #[test]
    fn every_shipped_profile_file_loads() {
        let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/profiles"));
        let mut seen = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "toml") {
                let p = Profile::load(&path).unwrap_or_else(|e| panic!("{e}"));
                seen.push(p.name.clone());
                if p.name == "interface" {
                    assert!(p.adapter.early_stop.is_some());
                }
            }
        }
        seen.sort();
        assert!(seen.contains(&"interface".to_string()), "{seen:?}");
        assert!(
            PROFILES.iter().all(|n| seen.iter().any(|s| s == n)),
            "{seen:?}"
        );
    }

    /// Beyond `all_k_contexts_per_pool` contexts of a pool, targets stop at the smallest K;
    /// held-out contexts always get every K; the setting is checked on load.
    #[test]
    fn a_subset_of_the_contexts_gets_every_k() {
        let mut t = Profile::named("quick").unwrap().targets;
        t.ks = vec![10, 1, 5];
        assert_eq!(t.ks_for(9, false), vec![1, 5, 10]);
        t.all_k_contexts_per_pool = Some(4);
        assert_eq!(t.ks_for(3, false), vec![1, 5, 10]);
        assert_eq!(t.ks_for(4, false), vec![1]);
        assert_eq!(t.ks_for(4, true), vec![1, 5, 10]);
        let mut p = Profile::named("quick").unwrap();
        assert_eq!(p.curve_k(), 5);
        p.targets.all_k_contexts_per_pool = Some(4);
        assert_eq!(p.curve_k(), 1);
        p.targets.all_k_contexts_per_pool = Some(p.targets.train_contexts_per_pool);
        assert_eq!(p.curve_k(), 5);
        p.check().unwrap();
        for bad in [0, p.targets.train_contexts_per_pool + 1] {
            p.targets.all_k_contexts_per_pool = Some(bad);
            assert!(p.check().is_err(), "{bad} accepted");
        }
    }

    /// A few-shot top-up widens only the rows it names, is checked on load, and leaves what
    /// stage 4's stamp reads as it was without it (so finished records stay valid).
    #[test]
    fn a_few_shot_top_up_widens_its_rows_and_not_the_stamp() {
        let p = Profile::named("decided").unwrap();
        let t = p.eval.few_shot_top_up.clone().unwrap();
        assert!(t.questions > p.eval.few_shot_questions);
        assert_eq!(p.eval.few_shot_questions_of(FEW_SHOT_IDS[1]), t.questions);
        assert_eq!(
            p.eval.few_shot_questions_of(FEW_SHOT_IDS[0]),
            p.eval.few_shot_questions
        );
        let mut without = p.clone();
        without.eval.few_shot_top_up = None;
        let stamped = serde_json::to_value(p.eval.for_stamp()).unwrap();
        assert_eq!(stamped, serde_json::to_value(&without.eval).unwrap());
        assert!(stamped.get("few_shot_top_up").is_none());
        assert_ne!(stamped, serde_json::to_value(&p.eval).unwrap());
        let bad = |f: &dyn Fn(&mut FewShotTopUp)| {
            let mut q = p.clone();
            f(q.eval.few_shot_top_up.as_mut().unwrap());
            q.check().is_err()
        };
        assert!(bad(&|t| t.questions = p.eval.few_shot_questions - 1));
        assert!(bad(&|t| t.questions = p.eval.questions + 1));
        assert!(bad(&|t| t.methods = vec!["base-adapter".into()]));
        assert!(bad(&|t| t.methods.clear()));
        assert!(!bad(
            &|t| t.methods = FEW_SHOT_IDS.map(String::from).to_vec()
        ));
    }

    #[test]
    fn a_copied_file_runs_by_its_path_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let quick = BUILT_IN[1].1;
        let mine = dir.path().join("mine.toml");
        std::fs::write(&mine, quick.replace("seed = 0", "seed = 7")).unwrap();
        let p = Profile::named(mine.to_str().unwrap()).unwrap();
        assert_eq!((p.name.as_str(), p.seed), ("mine", 7));
        let err = |text: String| {
            std::fs::write(&mine, text).unwrap();
            Profile::named(mine.to_str().unwrap())
                .unwrap_err()
                .to_string()
        };
        // An unknown key, with its line; a key out of place; `name`; settings that disagree.
        let e = err(quick.replace("docs = 5", "docs = 5\ndocz = 3"));
        assert!(e.contains("mine.toml") && e.contains("docz"), "{e}");
        assert!(e.contains("line"), "{e}");
        let e = err(quick.replace("eta = 0.01", "eta = 0.01\nlambda = 0.1"));
        assert!(e.contains("lambda"), "{e}");
        let e = err(format!("name = \"x\"\n{quick}"));
        assert!(e.contains("named by its file"), "{e}");
        let e = err(quick.replace("pool_size = 20", "pool_size = 2"));
        assert!(e.contains("mine.toml") && e.contains("pool_size 2"), "{e}");
        let e = Profile::named("nope").unwrap_err().to_string();
        assert!(e.contains("smoke") && e.contains(".toml"), "{e}");
    }
}
