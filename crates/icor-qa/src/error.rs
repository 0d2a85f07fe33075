//! One error enum for the crate; each variant names the file, line, tensor or shape at fault.

/// Errors of icor-qa: data files, retrieval indexes, the dense encoder and answer patterns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An asset could not be fetched or verified.
    #[error(transparent)]
    Asset(#[from] icor_assets::Error),
    /// Reading or writing a file failed. The reason is the `source()`, not part of this
    /// message, so a chain printed with `{:#}` names it once.
    #[error("{path}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    // --- data / retrieve / metrics (QA data sets, retrievers, EM/F1) ---
    /// A line (or row) of a data file could not be parsed.
    #[error("{path}:{line}: {reason}")]
    BadLine {
        path: std::path::PathBuf,
        line: u64,
        reason: String,
    },
    /// A prepared file has a different number of rows than the catalogue says.
    #[error("{path}: {found} rows, expected {expected}")]
    RowCount {
        path: std::path::PathBuf,
        expected: usize,
        found: usize,
    },
    /// A golden-answer regular expression does not compile.
    #[error("answer pattern `{pattern}`: {source}")]
    BadPattern {
        pattern: String,
        #[source]
        source: regex::Error,
    },
    /// A data set, corpus or retriever name is not known.
    #[error("unknown {kind} `{name}` (known: {known})")]
    UnknownName {
        kind: &'static str,
        name: String,
        known: String,
    },
    /// Building, opening or searching a retrieval index failed.
    #[error("{path}: index: {reason}")]
    Index {
        path: std::path::PathBuf,
        reason: String,
    },
    /// A stored artefact (index, embedding cache) does not match what it should have been built
    /// from (other corpus, model or format).
    #[error("{path}: stale: {reason}")]
    Stale {
        path: std::path::PathBuf,
        reason: String,
    },
    /// A build stopped on request (tests) after `done` shards; rerunning resumes it.
    #[error("{path}: build stopped after {done} shards (rerun to resume)")]
    Interrupted {
        path: std::path::PathBuf,
        done: usize,
    },
    // --- the dense encoder (BERT weights, its config and tokenizer) ---
    /// A metadata key is missing or has the wrong type.
    #[error("{path}: metadata `{key}`: {reason}")]
    Metadata {
        path: std::path::PathBuf,
        key: String,
        reason: String,
    },
    /// A required tensor is missing from a checkpoint.
    #[error("{path}: tensor `{tensor}` not found")]
    MissingTensor {
        path: std::path::PathBuf,
        tensor: String,
    },
    /// A tensor's shape disagrees with the model configuration.
    #[error("{path}: tensor `{tensor}` has shape {found:?}, the config expects {expected:?}")]
    ShapeMismatch {
        path: std::path::PathBuf,
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A safetensors file could not be parsed.
    #[error("{path}: safetensors: {reason}")]
    Safetensors {
        path: std::path::PathBuf,
        reason: String,
    },
    /// Building or running the tokenizer failed.
    #[error("tokenizer ({source_name}): {reason}")]
    Tokenizer { source_name: String, reason: String },
    /// Running the dense encoder failed (reading results back from the device, ...).
    #[error("encoder: {0}")]
    Encoder(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
