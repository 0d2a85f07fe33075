//! The fixed external retriever `R` and its cache (§5.2): one retrieval per question and
//! retriever, shared by every method and stage, stored in the run folder keyed by data set and
//! question id and stamped with the corpus contents, so another corpus is never reused.

use std::collections::BTreeMap;
use std::path::Path;

use icor_qa::data::{Passage, QaExample};
use icor_qa::retrieve::{Corpus, Retriever};

use crate::error::{Error, Result};
use crate::experiment::prompt::Item;
use crate::experiment::store::{Stamp, load_or_rebuild, save_json};

/// Top-k corpus rows per `"<set>:<id>"`.
pub type RetrievalMap = BTreeMap<String, Vec<u32>>;

/// The cache key of a question.
pub fn key(set: &str, id: &str) -> String {
    format!("{set}:{id}")
}

/// Retrieves every `(set, question)` not yet in the cache at `path`, saving as it goes.
pub fn retrieve_missing(
    retriever: &dyn Retriever,
    wanted: &[(String, &QaExample)],
    k: usize,
    path: &Path,
    stamp: &Stamp,
    progress: bool,
) -> Result<RetrievalMap> {
    let mut map: RetrievalMap = load_or_rebuild(path, stamp)?.unwrap_or_default();
    let missing: Vec<&(String, &QaExample)> = wanted
        .iter()
        .filter(|(set, q)| !map.contains_key(&key(set, &q.id)))
        .collect();
    if missing.is_empty() {
        return Ok(map);
    }
    let bar = icor_qa::retrieve::progress::bar(
        &format!("retrieve ({})", retriever.name()),
        missing.len() as u64,
        "questions",
        progress,
    );
    for chunk in missing.chunks(64) {
        let queries: Vec<&str> = chunk.iter().map(|(_, q)| q.question.as_str()).collect();
        let hits = retriever.search_batch(&queries, k)?;
        for ((set, q), rows) in chunk.iter().zip(hits) {
            map.insert(key(set, &q.id), rows.iter().map(|r| r.row).collect());
        }
        bar.inc(chunk.len() as u64);
        save_json(path, stamp, &map)?;
    }
    bar.finish_and_clear();
    Ok(map)
}

/// Questions with their retrieved passages.
pub struct Items<'a> {
    pub corpus: &'a Corpus,
    pub map: &'a RetrievalMap,
}

impl Items<'_> {
    /// The item of question `q` of `set` (its top-k passages from the cache).
    /// A question the run did not retrieve for is an error, never an item without documents.
    pub fn item(&self, set: &str, q: &QaExample) -> Result<Item> {
        let rows = self.map.get(&key(set, &q.id)).cloned().ok_or_else(|| {
            Error::Config(format!(
                "question {} of {set} has no retrieved documents (not among the questions \
                 the run retrieves for)",
                q.id
            ))
        })?;
        let docs = rows
            .iter()
            .map(|&r| self.corpus.get(r as usize))
            .collect::<std::result::Result<Vec<Passage>, _>>()?;
        Ok(Item {
            id: q.id.clone(),
            question: q.question.clone(),
            answers: q.golden_answers.clone(),
            docs,
        })
    }
}
