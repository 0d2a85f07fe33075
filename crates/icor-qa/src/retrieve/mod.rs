//! Retrievers over a FlashRAG corpus, behind one trait, and the retrieval cache they fill.
//!
//! - [`Retriever`]: top-k passages (corpus rows and scores) for a batch of queries; BM25
//!   ([`bm25`], tantivy postings scored with Pyserini's k1 = 0.9, b = 0.4) and dense
//!   all-MiniLM-L6-v2 ([`dense`], a BERT encoder in burn, exact inner-product search) implement
//!   it; a third (say a user's e5) only needs an encoder.
//! - [`corpus`]: random access to the passages of a jsonl corpus of any size by line offsets.
//! - [`cache`]: the retrieval cache, one jsonl row per question `{id, doc_ids, scores}`.
//! - [`topk`]: deterministic top-k selection (score descending, then corpus row ascending).
//! - [`lazy`]: a retriever opened on its first search (a resumed run with every question
//!   cached never opens it).

pub mod bm25;
pub mod cache;
pub mod corpus;
pub mod dense;
pub mod lazy;
pub mod progress;
pub mod run;
pub mod setup;
pub mod stamp;
pub mod topk;

pub use bm25::{Bm25Params, Bm25Retriever};
pub use cache::{CacheRow, cache_path, read_cache};
pub use corpus::Corpus;
pub use dense::DenseRetriever;
pub use lazy::LazyRetriever;
pub use run::{RunStats, recall, retrieve_all};
pub use setup::{OpenOptions, RetrieverKind, open};
pub use stamp::CorpusStamp;
pub use topk::{ScoredRow, top_k};

use crate::error::Result;

/// A retriever: given queries, the `k` best corpus rows for each, best first.
pub trait Retriever {
    /// Short name used in cache paths and reports (`bm25`, `dense`).
    fn name(&self) -> &'static str;

    /// Top-`k` rows for each query.
    fn search_batch(&self, queries: &[&str], k: usize) -> Result<Vec<Vec<ScoredRow>>>;

    /// Top-`k` rows for one query.
    fn search(&self, query: &str, k: usize) -> Result<Vec<ScoredRow>> {
        Ok(self.search_batch(&[query], k)?.pop().unwrap_or_default())
    }

    /// Makes the retriever ready to search (a [`LazyRetriever`] opens), so that a timed
    /// search measures the search alone.
    fn warm(&self) -> Result<()> {
        Ok(())
    }
}
