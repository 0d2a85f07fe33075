//! One error enum for the method crate; each variant names the stage, file or tensor at fault.

use std::path::PathBuf;

/// Errors of icor-rag.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The backbone, its tokenizer or an adapter failed.
    #[error(transparent)]
    Llm(Box<icor_llm::Error>),
    /// Data, retrieval or metrics failed.
    #[error(transparent)]
    Qa(Box<icor_qa::Error>),
    /// An asset could not be fetched or verified.
    #[error(transparent)]
    Asset(Box<icor_assets::Error>),
    /// Reading or writing a file failed. The reason is the `source()`, not part of this
    /// message, so a chain printed with `{:#}` names it once.
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A stored artefact could not be parsed.
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    /// A stored artefact was made from another model, configuration or code version.
    #[error("{path}: stale ({reason})")]
    Stale { path: PathBuf, reason: String },
    /// A loss or a parameter became NaN or infinite.
    #[error("{stage}: non-finite {what} at step {step}, batch {batch}")]
    NonFinite {
        stage: &'static str,
        step: usize,
        batch: usize,
        what: String,
    },
    /// A configuration or argument is inconsistent.
    #[error("config: {0}")]
    Config(String),
}

impl From<icor_llm::Error> for Error {
    fn from(e: icor_llm::Error) -> Self {
        Error::Llm(Box::new(e))
    }
}

impl From<icor_qa::Error> for Error {
    fn from(e: icor_qa::Error) -> Self {
        Error::Qa(Box::new(e))
    }
}

impl From<icor_assets::Error> for Error {
    fn from(e: icor_assets::Error) -> Self {
        Error::Asset(Box::new(e))
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Wraps an I/O error with its path.
pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message and every source below it, as `{:#}` prints them.
    fn chain(e: &dyn std::error::Error) -> String {
        let mut parts = vec![e.to_string()];
        let mut s = e.source();
        while let Some(x) = s {
            parts.push(x.to_string());
            s = x.source();
        }
        parts.join(": ")
    }

    #[test]
    fn an_io_error_names_its_path_and_its_reason_once_in_every_crate() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "the reason");
        let path = std::path::PathBuf::from("/some/file");
        let errors = [
            Error::Io {
                path: path.clone(),
                source: io(),
            },
            Error::from(icor_llm::Error::Io {
                path: path.clone(),
                source: io(),
            }),
            Error::from(icor_qa::Error::Io {
                path: path.clone(),
                source: io(),
            }),
        ];
        for e in &errors {
            let c = chain(e);
            assert_eq!(c.matches("the reason").count(), 1, "{c}");
            assert_eq!(c.matches("/some/file").count(), 1, "{c}");
        }
    }
}
