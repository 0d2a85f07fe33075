//! BM25 scoring over the tantivy postings with adjustable k1 and b, as Lucene's
//! `BM25Similarity` (which Pyserini runs): for each query term t (weighted by its count in the
//! query, as Pyserini's bag-of-words query does),
//!
//! ```text
//! idf(t) = ln(1 + (N - n_t + 0.5) / (n_t + 0.5))
//! score(d) += count(t) · idf(t) · tf / (tf + k1 · (1 - b + b · |d| / avgdl))
//! ```
//!
//! with N the number of passages, n_t those containing t, |d| the (lossily encoded, as in
//! Lucene) length of d and avgdl the mean length.

use std::collections::BTreeMap;

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::Postings;
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocSet, TERMINATED, Term};

use super::analyzer::{analyzer, terms};
use super::index::Bm25Index;
use crate::error::{Error, Result};
use crate::retrieve::Retriever;
use crate::retrieve::topk::{ScoredRow, top_k};

/// BM25 parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Bm25Params {
    /// Term-frequency saturation.
    pub k1: f32,
    /// Length normalisation.
    pub b: f32,
}

impl Default for Bm25Params {
    /// Pyserini's defaults (k1 = 0.9, b = 0.4).
    fn default() -> Self {
        Self { k1: 0.9, b: 0.4 }
    }
}

/// BM25 retrieval over an open index.
pub struct Bm25Retriever {
    index: Bm25Index,
    params: Bm25Params,
    analyzer: std::sync::Mutex<TextAnalyzer>,
}

impl Bm25Retriever {
    /// A retriever over `index`.
    pub fn new(index: Bm25Index, params: Bm25Params) -> Self {
        Self {
            index,
            params,
            analyzer: std::sync::Mutex::new(analyzer()),
        }
    }

    /// The index.
    pub fn index(&self) -> &Bm25Index {
        &self.index
    }

    /// Scores of every passage (by corpus row) for `query`.
    pub fn score_all(&self, query: &str) -> Result<Vec<f32>> {
        let err = |reason: String| Error::Index {
            path: self.index.dir.clone(),
            reason,
        };
        let query_terms = {
            let mut analyzer = self
                .analyzer
                .lock()
                .map_err(|_| err("analyser lock poisoned".into()))?;
            terms(&mut analyzer, query)
        };
        let mut counts: BTreeMap<String, f32> = BTreeMap::new();
        for term in query_terms {
            *counts.entry(term).or_default() += 1.0;
        }
        let searcher = self.index.reader.searcher();
        let field = self.index.contents;
        let (mut docs, mut tokens) = (0u64, 0u64);
        for segment in searcher.segment_readers() {
            docs += u64::from(segment.max_doc());
            tokens += segment
                .inverted_index(field)
                .map_err(|e| err(e.to_string()))?
                .total_num_tokens();
        }
        let mut scores = vec![0f32; docs as usize];
        if docs == 0 {
            return Ok(scores);
        }
        let avgdl = tokens as f32 / docs as f32;
        let Bm25Params { k1, b } = self.params;
        let norm: Vec<f32> = (0..=255u8)
            .map(|id| k1 * (1.0 - b + b * FieldNormReader::id_to_fieldnorm(id) as f32 / avgdl))
            .collect();
        for (text, count) in &counts {
            let term = Term::from_field_text(field, text);
            let n = searcher.doc_freq(&term).map_err(|e| err(e.to_string()))?;
            if n == 0 {
                continue;
            }
            let idf = (1.0 + (docs as f32 - n as f32 + 0.5) / (n as f32 + 0.5)).ln();
            let weight = count * idf;
            for segment in searcher.segment_readers() {
                let inverted = segment
                    .inverted_index(field)
                    .map_err(|e| err(e.to_string()))?;
                let Some(mut postings) = inverted
                    .read_postings(&term, IndexRecordOption::WithFreqs)
                    .map_err(|e| err(e.to_string()))?
                else {
                    continue;
                };
                let fieldnorms = segment
                    .get_fieldnorms_reader(field)
                    .map_err(|e| err(e.to_string()))?;
                let rows = segment
                    .fast_fields()
                    .u64("row")
                    .map_err(|e| err(e.to_string()))?;
                let mut doc = postings.doc();
                while doc != TERMINATED {
                    let tf = postings.term_freq() as f32;
                    let row = rows
                        .first(doc)
                        .ok_or_else(|| err(format!("document {doc} has no row")))?;
                    let slot = scores
                        .get_mut(row as usize)
                        .ok_or_else(|| err(format!("row {row} outside the {docs} passages")))?;
                    *slot += weight * tf / (tf + norm[fieldnorms.fieldnorm_id(doc) as usize]);
                    doc = postings.advance();
                }
            }
        }
        Ok(scores)
    }
}

impl Retriever for Bm25Retriever {
    fn name(&self) -> &'static str {
        "bm25"
    }

    fn search_batch(&self, queries: &[&str], k: usize) -> Result<Vec<Vec<ScoredRow>>> {
        queries
            .iter()
            .map(|q| {
                let scores = self.score_all(q)?;
                // Passages sharing no term with the query are not results (as in Lucene).
                Ok(top_k(&scores, k)
                    .into_iter()
                    .filter(|r| r.score > 0.0)
                    .collect())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Passage, ReadOptions, write_atomic};

    fn corpus(dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("corpus.jsonl");
        let passages = [
            ("Paris", "Paris is the capital and largest city of France."),
            ("Lyon", "Lyon is a city in France, known for food."),
            ("Berlin", "Berlin is the capital of Germany."),
            ("Cats", "Cats are small carnivorous mammals."),
        ];
        let rows = passages
            .iter()
            .enumerate()
            .map(|(i, (t, x))| Passage::from_title_text(i.to_string(), t, x));
        write_atomic(&path, rows).unwrap();
        path
    }

    #[test]
    fn bm25_ranks_by_hand_computed_scores() {
        let dir = tempfile::tempdir().unwrap();
        let path = corpus(dir.path());
        let index = Bm25Index::open_or_build(
            &dir.path().join("idx"),
            &path,
            ReadOptions::default(),
            |_| {},
        )
        .unwrap();
        assert_eq!(index.stats.passages, 4);
        let retriever = Bm25Retriever::new(index, Bm25Params::default());
        let hits = retriever.search("capital of France", 3).unwrap();
        assert_eq!(
            hits.iter().map(|h| h.row).collect::<Vec<_>>(),
            vec![0, 2, 1]
        );
        // "cats" occurs in one passage of 4: idf = ln(1 + 3.5/1.5).
        let hits = retriever.search("cats", 10).unwrap();
        assert_eq!(hits.len(), 1);
        let scores = retriever.score_all("cats").unwrap();
        let idf = (1.0f32 + 3.5 / 1.5).ln();
        assert!(scores[3] > 0.3 * idf && scores[3] < idf, "{}", scores[3]);
        assert!(retriever.search("zebra", 5).unwrap().is_empty());
        // Re-opening reuses the index (same corpus stamp).
        let again = Bm25Index::open_or_build(
            &dir.path().join("idx"),
            &path,
            ReadOptions::default(),
            |_| panic!(),
        )
        .unwrap();
        assert_eq!(again.stats.passages, 4);
    }
}
