//! QA data sets and retrieval corpora in FlashRAG's jsonl formats.
//!
//! - [`record`]: the two row types, `{id, question, golden_answers, metadata}` and
//!   `{id, contents}` with `contents = "\"Title\"\ntext"`;
//! - [`jsonl`]: streaming readers for any such file (a 14 GB wiki-18 corpus is never loaded
//!   whole) with file:line errors and an optional skip-bad-lines mode, and an atomic writer;
//! - [`pylist`]: the Python list literals of the Pyserini topic files;
//! - [`topics`]: the shipped topic files (TAB-separated CSV or DPR jsonl) → FlashRAG rows;
//! - [`wiki`]: the shipped Wikipedia summaries → FlashRAG corpus rows;
//! - [`catalog`]: which data set is which file, its expected size and its role in the method;
//! - [`prepare`]: `icor data prepare`, converting everything into the asset cache.

pub mod catalog;
pub mod jsonl;
pub mod prepare;
pub mod pylist;
pub mod record;
pub mod topics;
pub mod wiki;

pub use catalog::{
    CORPUS_NAME, CORPUS_ROWS, DATASETS, DatasetSpec, Role, SourceFormat, corpus_path, dataset_path,
    find_dataset, prepared_root,
};
pub use jsonl::{JsonlReader, ReadOptions, read_all, write_atomic};
pub use prepare::{PreparedFile, ensure_prepared, is_prepared, prepare_all, prepare_from_assets};
pub use record::{Passage, QaExample};
