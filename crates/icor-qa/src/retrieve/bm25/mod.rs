//! BM25 over a FlashRAG corpus: a persisted tantivy index ([`index`]) analysed like Pyserini's
//! default English analyser ([`analyzer`]), scored with Lucene's BM25 at Pyserini's defaults
//! k1 = 0.9, b = 0.4 ([`score`]; tantivy's own scorer fixes k1 = 1.2, b = 0.75).

pub mod analyzer;
pub mod index;
pub mod score;

pub use index::{Bm25Index, IndexStats};
pub use score::{Bm25Params, Bm25Retriever};
