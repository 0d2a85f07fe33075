//! # icor-rag: RAG-GD on a frozen LLM (§5 of arXiv 2605.26356)
//!
//! The method only; the backbone is `icor-llm`, retrieval, data and metrics are `icor-qa`.
//! Read top-down, the modules follow the paper:
//!
//! | module | paper |
//! |---|---|
//! | [`profile`] | App. G hyper-parameters; smoke / quick / cpu / paper profiles |
//! | [`tasks`], [`retrieval`], [`prompt`] | §5.1–5.2: data roles, the fixed retriever's cache, FlashRAG prompts |
//! | [`frozen`], [`loss`] | the frozen layers run once; the answer-token cross-entropy `L` |
//! | [`params`], [`optim`] | the interface's factors as one vector; AdamW / SGD with global clipping |
//! | [`adapter`], [`checkpoint`] | §5.1: the base retrieval adapter `W_0^ret`; resumable training state |
//! | [`contexts`] | Algorithm 1, phase 1 at training time: meta-training and held-out contexts, drawn per pool |
//! | [`target`], [`factored`] | Eq. 8: `ΔW_GD^(K)(C)`, kept factored; bases |
//! | [`encode`], [`predictor`], [`matching`], [`meta`] | §5.1–5.2: `h̄(C)`, `g_φ`, Eq. 9, meta-training, fidelity |
//! | [`checks`] | target fidelity and the collapse check of any trained predictor |
//! | [`prompt_tuning`] | §4.5: prompt tuning, a trained soft prefix in place of the LoRA |
//! | [`hypertuning`] | §4.5: HyperTuning, the same `g_φ` trained through the answer loss |
//! | [`support`], [`method`], [`eval`] | Algorithm 1 and the baselines (§4.5 of the paper's list) |
//! | [`stats`], [`results`], [`report`] | CIs, paired bootstraps, the results file and `reports/rag.md` |
//! | [`claims`] | §6.5: the paper's claims, each marked holds / does not hold / inconclusive |
//! | [`run`] | `icor rag run`: every stage, resumable |
//! | [`merge`] | `icor rag merge`: one results file from runs over disjoint retrievers or methods |
//! | [`ablation`] | a variant run (e.g. the interface on every layer) against the profile's, paired |
//! | [`mechanism`] | `icor rag mechanism`: in-context demonstrations against one gradient step, with controls |

pub mod ablation;
pub mod adapter;
pub mod checkpoint;
pub mod checks;
pub mod claims;
pub mod contexts;
pub mod encode;
pub mod error;
pub mod eval;
pub mod factored;
pub mod frozen;
pub mod hypertuning;
pub mod loss;
pub mod matching;
pub mod mechanism;
pub mod merge;
pub mod meta;
pub mod method;
pub mod optim;
pub mod params;
pub mod predictor;
pub mod profile;
pub mod prompt;
pub mod prompt_tuning;
pub mod report;
pub mod results;
pub mod retrieval;
pub mod run;
pub mod stats;
pub mod store;
pub mod support;
pub mod target;
pub mod tasks;
pub mod tensors;

pub use error::{Error, Result};
pub use profile::Profile;
