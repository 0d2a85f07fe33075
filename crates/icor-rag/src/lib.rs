//! # icor-rag: the method at LLM scale (RAG-GD, §5 of arXiv 2605.26356)
//!
//! Modules are owned by topic: `data`, `retrieve`, `metrics` (QA data, retrievers, EM/F1) and
//! `gguf`, `llm` (frozen backbone, tokenizer, LoRA interface).

pub mod data;
pub mod error;
pub mod gguf;
pub mod llm;
pub mod metrics;
pub mod retrieve;

pub use error::{Error, Result};
