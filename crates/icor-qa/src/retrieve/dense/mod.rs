//! Dense retrieval with all-MiniLM-L6-v2: a BERT encoder written in burn ([`bert`]) loaded from
//! the shipped safetensors ([`weights`], [`config`]), its WordPiece `tokenizer.json`, mean
//! pooling and L2 normalisation ([`encoder`], as sentence-transformers' `Transformer → Pooling
//! → Normalize`), passage embeddings cached on disk ([`store`]) and exact inner-product top-k by
//! batched matrix products ([`search`]).

pub mod bert;
pub mod config;
pub mod encoder;
pub mod search;
pub mod store;
pub mod weights;

pub use config::BertConfig;
pub use encoder::{PASSAGE_MAX_TOKENS, QUERY_MAX_TOKENS, SentenceEncoder};
pub use search::DenseRetriever;
pub use store::{BuildOptions, EmbeddingStore};
