//! One error enum for the crate.

/// Errors of the boundary study.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Training produced a non-finite loss.
    #[error("training diverged at step {step} (seed {seed}, model {model}): loss = {loss}")]
    Diverged {
        step: usize,
        seed: u64,
        model: String,
        loss: f32,
    },
    /// A requested backend is not compiled in or has no adapter.
    #[error("backend {0:?} is not available: {1}")]
    Backend(String, String),
    /// A configuration value is out of range.
    #[error("invalid setting {name} = {value}: {reason}")]
    Setting {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
    /// The linear theory rejected its inputs.
    #[error(transparent)]
    Linear(#[from] icor_linear::Error),
    /// A data file is missing or malformed (the path may end in `:line`).
    #[error("{path}: {reason}")]
    Data {
        path: std::path::PathBuf,
        reason: String,
    },
    /// Reading or writing a results file failed.
    #[error("{path}: cannot read or write")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A results file is not valid JSON of the expected schema.
    #[error(
        "{path}: not a sweep results file of this version (move it away to start the sweep afresh)"
    )]
    Json {
        path: std::path::PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
