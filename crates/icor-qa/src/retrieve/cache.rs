//! The retrieval cache: for one retriever, corpus and data set, one jsonl row per question,
//! `{"id": <question id>, "doc_ids": [...], "scores": [...]}`, best first. The method keeps the
//! retriever fixed, so every later stage reads passages from here instead of re-retrieving.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::{DatasetSpec, JsonlReader, ReadOptions, prepared_root};
use crate::error::Result;

/// One cached retrieval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheRow {
    /// Question id (the data set's `id`).
    pub id: String,
    /// Passage ids, best first.
    pub doc_ids: Vec<String>,
    /// Their scores.
    pub scores: Vec<f32>,
}

/// Where the cache of `retriever` over `corpus_name` for a data set lives:
/// `<home>/prepared/retrieval/<retriever>/<corpus>/<name>/<split>.jsonl`.
pub fn cache_path(home: &Path, retriever: &str, corpus_name: &str, spec: &DatasetSpec) -> PathBuf {
    prepared_root(home)
        .parent()
        .unwrap_or(home)
        .join("retrieval")
        .join(retriever)
        .join(corpus_name)
        .join(spec.name)
        .join(format!("{}.jsonl", spec.split))
}

/// Reads a whole cache file.
pub fn read_cache(path: &Path) -> Result<Vec<CacheRow>> {
    JsonlReader::<CacheRow>::open(path, ReadOptions::default())?.collect()
}
