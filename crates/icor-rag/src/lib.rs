//! # icor-rag: RAG-GD on a frozen LLM (§5 of arXiv 2605.26356)
//!
//! The method only; the backbone is `icor-llm`, retrieval, data and metrics are `icor-qa`.
//! The modules are grouped by role:
//!
//! | group | what |
//! |---|---|
//! | [`method`] | RAG-GD itself: the interface's factors, `W_0^ret`, the gradient-step targets (Eq. 8), `h̄(C)` and `g_φ` with its matching loss (Eq. 9) |
//! | [`baselines`] | the trained baselines beside it: prompt tuning and HyperTuning (§4.5) |
//! | [`experiment`] | the comparison: profiles, data roles and pools, retrieval, prompts, the methods compared, evaluation, `icor rag run` and its artefacts |
//! | [`analysis`] | what the results say: CIs, fidelity and collapse checks, the paper's claims, the reports, merges and ablations |
//! | [`mechanism`] | `icor rag mechanism`: in-context demonstrations against one gradient step, with controls |

pub mod analysis;
pub mod baselines;
pub mod error;
pub mod experiment;
pub mod mechanism;
pub mod method;

pub use error::{Error, Result};
pub use experiment::profile::Profile;
