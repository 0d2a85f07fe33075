//! Run profiles: every setting of one `icor rag run`, from the paper's (§5, App. G) to a CI
//! smoke test. The settings are recorded in every artefact's stamp and in the results.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::prompt_tuning::PromptTuningSettings;

/// Stage 1: the base retrieval adapter `W_0^ret` (App. G: LoRA r 16, α 32 on Q/K/V; AdamW
/// lr 1e-4, wd 0.01, clip 1.0, grad-accum 4, 3,000 steps).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
}

/// Stage 2: gradient-step targets `ΔW_GD^(K)(C)` (Eq. 8: η 1e-2, K ∈ {1, 5, 10}, N = 3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetSettings {
    /// Inner learning rate η.
    pub eta: f64,
    /// The K values; the largest is run once and the others are snapshots on the way.
    pub ks: Vec<usize>,
    /// Meta-training contexts per training pool (NQ, TriviaQA, SQuAD).
    pub train_contexts_per_pool: usize,
    /// Held-out contexts per evaluation task (fidelity and collapse checks).
    pub heldout_contexts_per_task: usize,
}

/// Stage 3: the predictor `g_φ` and its matching loss (Eq. 9; App. G: MLP 256 → 64, AdamW
/// lr 5e-4, wd 0.01, clip 1.0, λ 0.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
}

/// Stage 4: evaluation (Algorithm 1 and the baselines).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
    /// Greedy decoding limit (FlashRAG: 32).
    pub max_new_tokens: usize,
    /// Bootstrap resamples for the CIs.
    pub bootstrap: usize,
}

/// One run's settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Profile {
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
pub const PROFILES: [&str; 4] = ["smoke", "quick", "cpu", "paper"];

const EVAL_SETS: [&str; 4] = [
    "nq/test",
    "triviaqa/test",
    "web_questions/test",
    "curatedtrec/test",
];
const TRAIN_POOLS: [&str; 3] = ["nq/dev", "triviaqa/dev", "squad/dev"];

impl Profile {
    /// The named profile.
    pub fn named(name: &str) -> Result<Self> {
        let paper_adapter = AdapterSettings {
            rank: 16,
            alpha: 32.0,
            lr: 1e-4,
            weight_decay: 0.01,
            clip: 1.0,
            grad_accum: 4,
            micro_batch: 1,
            steps: 3000,
            train_questions: 8000,
            checkpoint_every: 100,
        };
        let paper_predictor = PredictorSettings {
            hidden: 256,
            code: 64,
            basis_rank: 32,
            lr: 5e-4,
            weight_decay: 0.01,
            clip: 1.0,
            lambda: 0.1,
            steps: 3000,
            batch: 4,
            hyper_steps: 3000,
        };
        let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = match name {
            "smoke" => Profile {
                name: name.into(),
                model: "smollm2-135m".into(),
                retrievers: strs(&["bm25"]),
                eval_sets: strs(&["nq/test", "web_questions/test"]),
                train_pools: strs(&TRAIN_POOLS),
                docs: 3,
                doc_tokens: 24,
                support: 2,
                pool_size: 6,
                interface_layers: 2,
                seed: 0,
                adapter: AdapterSettings {
                    steps: 4,
                    grad_accum: 2,
                    micro_batch: 2,
                    train_questions: 16,
                    checkpoint_every: 2,
                    lr: 1e-3,
                    ..paper_adapter
                },
                prompt_tuning: Some(PromptTuningSettings {
                    virtual_tokens: 4,
                    train: AdapterSettings {
                        steps: 2,
                        grad_accum: 1,
                        micro_batch: 2,
                        train_questions: 16,
                        checkpoint_every: 1,
                        lr: 1e-2,
                        ..paper_adapter
                    },
                    questions: 2,
                }),
                targets: TargetSettings {
                    eta: 1e-2,
                    ks: vec![1, 2],
                    train_contexts_per_pool: 3,
                    heldout_contexts_per_task: 2,
                },
                predictor: PredictorSettings {
                    steps: 30,
                    hyper_steps: 6,
                    basis_rank: 8,
                    ..paper_predictor
                },
                eval: EvalSettings {
                    questions: 3,
                    support_seeds: 2,
                    ablation_seeds: 1,
                    sweep_seeds: 0,
                    tt_sgd_questions: 2,
                    tt_sgd_seeds: 1,
                    few_shot_questions: 2,
                    few_shot_seeds: 1,
                    tt_sgd_k: 2,
                    cost_questions: 1,
                    max_new_tokens: 8,
                    bootstrap: 200,
                },
            },
            "quick" => Profile {
                name: name.into(),
                model: "smollm2-135m".into(),
                retrievers: strs(&["bm25", "dense"]),
                eval_sets: strs(&EVAL_SETS),
                train_pools: strs(&TRAIN_POOLS),
                docs: 5,
                doc_tokens: 24,
                support: 3,
                pool_size: 20,
                interface_layers: 2,
                seed: 0,
                // 40 steps at lr 1e-3 on 80 questions (the first quick run) left SmolLM2
                // answering in sentences (loss 4.40 → 3.69, EM ≈ 0 for every method); twice the
                // questions and steps at twice the rate teach the short-answer format.
                adapter: AdapterSettings {
                    steps: 80,
                    micro_batch: 4,
                    grad_accum: 1,
                    train_questions: 160,
                    checkpoint_every: 10,
                    lr: 2e-3,
                    ..paper_adapter
                },
                // W_0^ret's instances and budget (80 steps of 4), at ten times its rate as in
                // the cpu profile: the prefix starts from vocabulary embeddings, far from a
                // useful point, where the LoRA starts at B = 0. The prefix changes every layer,
                // so each step runs all 30 layers forward and backward and its evaluation
                // shares no prefill (the dearest baseline of this profile after TT-SGD).
                prompt_tuning: Some(PromptTuningSettings {
                    virtual_tokens: 20,
                    train: AdapterSettings {
                        steps: 80,
                        micro_batch: 4,
                        grad_accum: 1,
                        train_questions: 160,
                        checkpoint_every: 10,
                        lr: 2e-2,
                        ..paper_adapter
                    },
                    // The first 50 of each set: every question prefills all 30 layers behind
                    // the prefix (~5 s here), so the 100 would add ~35 min per retriever.
                    questions: 50,
                }),
                targets: TargetSettings {
                    eta: 1e-2,
                    ks: vec![1, 5, 10],
                    train_contexts_per_pool: 10,
                    heldout_contexts_per_task: 3,
                },
                predictor: PredictorSettings {
                    steps: 400,
                    hyper_steps: 150,
                    ..paper_predictor
                },
                eval: EvalSettings {
                    questions: 100,
                    support_seeds: 3,
                    ablation_seeds: 1,
                    sweep_seeds: 1,
                    tt_sgd_questions: 10,
                    tt_sgd_seeds: 1,
                    few_shot_questions: 20,
                    few_shot_seeds: 1,
                    tt_sgd_k: 5,
                    cost_questions: 2,
                    max_new_tokens: 16,
                    bootstrap: 2000,
                },
            },
            "cpu" => Profile {
                name: name.into(),
                model: "qwen2.5-0.5b".into(),
                retrievers: strs(&["bm25", "dense"]),
                eval_sets: strs(&EVAL_SETS),
                train_pools: strs(&TRAIN_POOLS),
                docs: 5,
                doc_tokens: 64,
                support: 3,
                pool_size: 100,
                interface_layers: 8,
                seed: 0,
                adapter: AdapterSettings {
                    steps: 300,
                    train_questions: 1200,
                    lr: 5e-4,
                    checkpoint_every: 20,
                    ..paper_adapter
                },
                prompt_tuning: Some(PromptTuningSettings {
                    virtual_tokens: 20,
                    train: AdapterSettings {
                        steps: 300,
                        train_questions: 1200,
                        lr: 5e-3,
                        checkpoint_every: 20,
                        ..paper_adapter
                    },
                    questions: 100,
                }),
                targets: TargetSettings {
                    eta: 1e-2,
                    ks: vec![1, 5, 10],
                    train_contexts_per_pool: 60,
                    heldout_contexts_per_task: 10,
                },
                predictor: PredictorSettings {
                    steps: 2000,
                    hyper_steps: 1000,
                    ..paper_predictor
                },
                eval: EvalSettings {
                    questions: 300,
                    support_seeds: 3,
                    ablation_seeds: 3,
                    sweep_seeds: 0,
                    tt_sgd_questions: 50,
                    tt_sgd_seeds: 3,
                    few_shot_questions: 100,
                    few_shot_seeds: 3,
                    tt_sgd_k: 5,
                    cost_questions: 10,
                    max_new_tokens: 32,
                    bootstrap: 2000,
                },
            },
            "paper" => Profile {
                name: name.into(),
                model: "qwen2.5-0.5b".into(),
                retrievers: strs(&["bm25", "dense"]),
                eval_sets: strs(&EVAL_SETS),
                train_pools: strs(&TRAIN_POOLS),
                docs: 5,
                doc_tokens: 0,
                support: 3,
                pool_size: 1000,
                interface_layers: 0,
                seed: 0,
                adapter: paper_adapter.clone(),
                prompt_tuning: Some(PromptTuningSettings {
                    virtual_tokens: 20,
                    train: AdapterSettings {
                        lr: 3e-2,
                        ..paper_adapter
                    },
                    questions: 1000,
                }),
                targets: TargetSettings {
                    eta: 1e-2,
                    ks: vec![1, 5, 10],
                    train_contexts_per_pool: 4000,
                    heldout_contexts_per_task: 100,
                },
                predictor: paper_predictor,
                eval: EvalSettings {
                    questions: 1000,
                    support_seeds: 3,
                    ablation_seeds: 3,
                    sweep_seeds: 0,
                    tt_sgd_questions: 1000,
                    tt_sgd_seeds: 3,
                    few_shot_questions: 1000,
                    few_shot_seeds: 3,
                    tt_sgd_k: 5,
                    cost_questions: 50,
                    max_new_tokens: 32,
                    bootstrap: 2000,
                },
            },
            other => {
                return Err(Error::Config(format!(
                    "unknown profile `{other}` (known: {})",
                    PROFILES.join(", ")
                )));
            }
        };
        Ok(p)
    }

    /// The middle K: the main RAG-GD row, the ablations' and HyperTuning's K.
    pub fn mid_k(&self) -> usize {
        let mut ks = self.targets.ks.clone();
        ks.sort_unstable();
        ks.get(ks.len() / 2).copied().unwrap_or(1)
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
