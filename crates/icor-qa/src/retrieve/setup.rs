//! Opening a retriever over a corpus with everything it needs built or loaded from the asset
//! cache: the BM25 index or the passage embeddings live under
//! `<home>/prepared/indexes/<corpus stem>-<hash of its path>/`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::tensor::Device;

use super::Retriever;
use super::bm25::{Bm25Index, Bm25Params, Bm25Retriever};
use super::dense::{
    BuildOptions, DenseRetriever, EmbeddingStore, PASSAGE_MAX_TOKENS, SentenceEncoder,
};
use super::progress::bar;
use crate::data::{ReadOptions, prepared_root};
use crate::error::{Error, Result};

/// Which retriever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetrieverKind {
    /// BM25 (tantivy index, Pyserini parameters).
    Bm25,
    /// all-MiniLM-L6-v2 embeddings, exact inner product.
    Dense,
}

impl RetrieverKind {
    /// The name used on the command line and in cache paths.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bm25 => "bm25",
            Self::Dense => "dense",
        }
    }
}

impl FromStr for RetrieverKind {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        match text {
            "bm25" => Ok(Self::Bm25),
            "dense" => Ok(Self::Dense),
            other => Err(Error::UnknownName {
                kind: "retriever",
                name: other.into(),
                known: "bm25, dense".into(),
            }),
        }
    }
}

/// Asset holding the dense model.
pub const DENSE_MODEL_ASSET: &str = "minilm-l6-v2";

/// Where the derived artefacts (index, embeddings) of `corpus` live.
pub fn artefact_dir(home: &Path, corpus: &Path) -> PathBuf {
    let canonical = std::fs::canonicalize(corpus).unwrap_or_else(|_| corpus.to_path_buf());
    // FNV-1a of the path: stable across runs and platforms, enough to keep two corpora with the
    // same file name apart.
    let hash = canonical
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let stem = corpus
        .file_stem()
        .map_or_else(|| "corpus".into(), |s| s.to_string_lossy().into_owned());
    prepared_root(home)
        .parent()
        .unwrap_or(home)
        .join("indexes")
        .join(format!("{stem}-{:08x}", hash as u32))
}

/// Options for opening a retriever.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Asset cache.
    pub home: PathBuf,
    /// Malformed corpus lines: skip instead of failing.
    pub read: ReadOptions,
    /// Show progress bars.
    pub progress: bool,
    /// BM25 parameters.
    pub bm25: Bm25Params,
    /// Passages per forward pass when encoding the corpus.
    pub encode_batch: usize,
    /// Where the dense model is (default: the `minilm-l6-v2` asset).
    pub model_dir: Option<PathBuf>,
}

impl OpenOptions {
    /// Defaults for `home`.
    pub fn new(home: &Path) -> Self {
        Self {
            home: home.to_path_buf(),
            read: ReadOptions::default(),
            progress: true,
            bm25: Bm25Params::default(),
            encode_batch: 32,
            model_dir: None,
        }
    }
}

/// Opens (building when needed) the BM25 index of `corpus`.
pub fn open_bm25(corpus: &Path, passages: usize, options: &OpenOptions) -> Result<Bm25Retriever> {
    let dir = artefact_dir(&options.home, corpus).join("bm25");
    let progress = bar("bm25 index", passages as u64, "passages", options.progress);
    let index = Bm25Index::open_or_build(&dir, corpus, options.read, |n| progress.set_position(n))?;
    progress.finish_and_clear();
    Ok(Bm25Retriever::new(index, options.bm25))
}

/// Loads the dense encoder.
pub fn load_encoder(options: &OpenOptions, device: &Device) -> Result<SentenceEncoder> {
    let dir = match &options.model_dir {
        Some(dir) => dir.clone(),
        None => icor_assets::ensure(&options.home, DENSE_MODEL_ASSET)?,
    };
    SentenceEncoder::load(&dir, device)
}

/// Opens (encoding the corpus when needed) the dense retriever of `corpus`.
pub fn open_dense(
    corpus: &Path,
    passages: usize,
    options: &OpenOptions,
    device: &Device,
) -> Result<DenseRetriever> {
    let encoder = load_encoder(options, device)?;
    // One embedding cache per model folder (the shipped MiniLM's folder is `minilm-l6-v2`).
    let model = encoder
        .dir()
        .file_name()
        .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    let base = artefact_dir(&options.home, corpus).join(format!("dense-{model}"));
    let progress = bar(
        "dense encode",
        passages as u64,
        "passages",
        options.progress,
    );
    let store = EmbeddingStore::load_or_build(
        &base,
        corpus,
        &encoder,
        PASSAGE_MAX_TOKENS,
        options.encode_batch,
        options.read,
        BuildOptions::default(),
        |n| progress.set_position(n as u64),
    )?;
    progress.finish_and_clear();
    Ok(DenseRetriever::new(encoder, &store, device))
}

/// Opens either retriever behind the trait.
pub fn open(
    kind: RetrieverKind,
    corpus: &Path,
    passages: usize,
    options: &OpenOptions,
) -> Result<Box<dyn Retriever>> {
    Ok(match kind {
        RetrieverKind::Bm25 => Box::new(open_bm25(corpus, passages, options)?),
        RetrieverKind::Dense => Box::new(open_dense(corpus, passages, options, &Device::flex())?),
    })
}
