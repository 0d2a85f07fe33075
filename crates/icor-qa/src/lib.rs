//! # icor-qa: the retrieval side of RAG (§5 of arXiv 2605.26356): QA data, retrievers, metrics
//!
//! | module | paper |
//! |---|---|
//! | [`data`] | the QA benchmarks and the corpus in FlashRAG's formats (§5.1 of the paper) |
//! | [`retrieve`] | the fixed external retriever `R` (BM25, dense) and its shared cache (§5.2) |
//! | [`metrics`] | SQuAD-style EM and F1, recall@k |

pub mod data;
pub mod error;
pub mod metrics;
pub mod retrieve;

pub use error::{Error, Result};
