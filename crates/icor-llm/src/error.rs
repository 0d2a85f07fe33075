//! One error enum for the crate; each variant names the file, line, tensor or shape at fault.

/// Errors of icor-llm: GGUF files, checkpoints, tokenizers, adapters and model calls.
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
    /// A GGUF file is malformed: truncated, bad magic, unsupported version, bad metadata.
    #[error("{path}: malformed GGUF at byte {offset}: {reason}")]
    GgufFormat {
        path: std::path::PathBuf,
        offset: u64,
        reason: String,
    },
    /// A tensor uses a ggml quantisation type this crate does not dequantise.
    #[error("{path}: tensor `{tensor}` has unsupported ggml type {type_id} ({type_name})")]
    UnknownQuantType {
        path: std::path::PathBuf,
        tensor: String,
        type_id: u32,
        type_name: String,
    },
    /// A tensor's data lies (partly) outside the file, or its size does not match its type.
    #[error("{path}: tensor `{tensor}` data is truncated or misplaced: {reason}")]
    TensorData {
        path: std::path::PathBuf,
        tensor: String,
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
    /// A metadata key is missing or has the wrong type.
    #[error("{path}: metadata `{key}`: {reason}")]
    Metadata {
        path: std::path::PathBuf,
        key: String,
        reason: String,
    },
    /// The checkpoint's architecture is not one the backbone implements.
    #[error("{path}: unknown architecture `{arch}` (supported: llama, qwen2)")]
    UnknownArchitecture {
        path: std::path::PathBuf,
        arch: String,
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
    /// A LoRA adapter or external delta does not fit the model.
    #[error("adapter `{name}`: {reason}")]
    Adapter { name: String, reason: String },
    /// Bad arguments to a model call (empty prompt, position out of range, ...).
    #[error("llm: {0}")]
    Llm(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
