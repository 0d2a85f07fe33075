//! The comparison the paper runs (§5.1–5.2, Algorithm 1, App. G), end to end:
//!
//! | module | what |
//! |---|---|
//! | [`profile`] | App. G hyper-parameters; smoke / quick / cpu / paper profiles, as data files |
//! | [`tasks`], [`contexts`] | data roles and pools; meta-training and held-out contexts, drawn per pool |
//! | [`retrieval`], [`prompt`] | the fixed retriever's cache; FlashRAG prompts |
//! | [`methods`], [`eval`] | the methods compared; Algorithm 1 and the baselines on every question |
//! | [`run`] | `icor rag run`: every stage, resumable |
//! | [`results`], [`store`], [`tensors`] | the results file; stamped, atomic artefacts |

pub mod contexts;
pub mod eval;
pub mod methods;
pub mod profile;
pub mod prompt;
pub mod results;
pub mod retrieval;
pub mod run;
pub mod store;
pub mod tasks;
pub mod tensors;
