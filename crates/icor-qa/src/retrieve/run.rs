//! Retrieval over a whole data set into the cache, and recall@k of a cache.

use std::time::Instant;

use serde::Serialize;

use super::Retriever;
use super::cache::CacheRow;
use super::corpus::Corpus;
use super::progress::bar;
use crate::data::QaExample;
use crate::error::Result;
use crate::metrics::{AnswerPattern, HitRule, RecallAtK};

/// Queries per call to the retriever.
const BATCH: usize = 64;

/// How a data-set retrieval went.
#[derive(Debug, Clone, Serialize)]
pub struct RunStats {
    /// Questions retrieved for.
    pub questions: usize,
    /// Seconds spent retrieving (query encoding and search; not index building).
    pub seconds: f64,
    /// Questions per second.
    pub queries_per_second: f64,
}

/// Retrieves the top `k` passages of every question.
pub fn retrieve_all(
    retriever: &dyn Retriever,
    corpus: &Corpus,
    questions: &[QaExample],
    k: usize,
    progress: bool,
) -> Result<(Vec<CacheRow>, RunStats)> {
    let bar = bar(
        retriever.name(),
        questions.len() as u64,
        "questions",
        progress,
    );
    let started = Instant::now();
    let mut rows = Vec::with_capacity(questions.len());
    for chunk in questions.chunks(BATCH) {
        let texts: Vec<&str> = chunk.iter().map(|q| q.question.as_str()).collect();
        for (question, hits) in chunk.iter().zip(retriever.search_batch(&texts, k)?) {
            rows.push(CacheRow {
                id: question.id.clone(),
                doc_ids: hits
                    .iter()
                    .map(|h| corpus.id(h.row as usize).to_owned())
                    .collect(),
                scores: hits.iter().map(|h| h.score).collect(),
            });
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let stats = RunStats {
        questions: questions.len(),
        seconds,
        queries_per_second: if seconds > 0.0 {
            questions.len() as f64 / seconds
        } else {
            0.0
        },
    };
    Ok((rows, stats))
}

/// Recall at `ks` of cached retrievals (`rows[i]` for `questions[i]`): a hit when a golden
/// answer occurs in a top-k passage under `rule` (regex answers when `regex`).
pub fn recall(
    corpus: &Corpus,
    questions: &[QaExample],
    rows: &[CacheRow],
    ks: &[usize],
    regex: bool,
    rule: HitRule,
) -> Result<RecallAtK> {
    let by_id: std::collections::HashMap<&str, usize> =
        (0..corpus.len()).map(|row| (corpus.id(row), row)).collect();
    let mut recall = RecallAtK::new(ks, rule);
    let limit = recall.ks.last().copied().unwrap_or(0);
    for (question, row) in questions.iter().zip(rows) {
        let answers = AnswerPattern::all(&question.golden_answers, regex)?;
        let passages = row
            .doc_ids
            .iter()
            .take(limit)
            .filter_map(|id| by_id.get(id.as_str()))
            .map(|&r| corpus.get(r).map(|p| p.contents))
            .collect::<Result<Vec<String>>>()?;
        let refs: Vec<&str> = passages.iter().map(String::as_str).collect();
        recall.add(&refs, &answers);
    }
    Ok(recall)
}
