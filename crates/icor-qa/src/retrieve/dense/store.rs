//! Passage embeddings cached on disk: `<name>.f32` (row-major little-endian f32, one row per
//! corpus passage) and `<name>.json` (what they were computed from: corpus stamp, model,
//! token budget, shape, seconds taken). A cache whose record no longer matches is recomputed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::encoder::SentenceEncoder;
use crate::data::{JsonlReader, Passage, ReadOptions};
use crate::error::{Error, Result};
use crate::retrieve::stamp::CorpusStamp;

/// Passages encoded per call to the encoder while building (bounded memory for any corpus).
const CHUNK: usize = 512;
/// Version of the cache layout.
const FORMAT: u32 = 1;

/// What a cache was computed from and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreMeta {
    /// Layout version.
    pub format: u32,
    /// The corpus file as it was.
    pub corpus: CorpusStamp,
    /// The model folder.
    pub model: PathBuf,
    /// Size of its weights file in bytes (a different checkpoint changes it).
    pub model_bytes: u64,
    /// Token budget per passage.
    pub max_tokens: usize,
    /// Passages (rows).
    pub rows: usize,
    /// Embedding width.
    pub dim: usize,
    /// Seconds the encoding took.
    pub seconds: f64,
}

/// Passage embeddings in memory.
pub struct EmbeddingStore {
    /// What they were computed from.
    pub meta: StoreMeta,
    /// Row-major `rows × dim`.
    pub data: Vec<f32>,
}

fn same_source(a: &StoreMeta, b: &StoreMeta) -> bool {
    (a.format, &a.corpus, &a.model, a.model_bytes, a.max_tokens)
        == (b.format, &b.corpus, &b.model, b.model_bytes, b.max_tokens)
}

impl EmbeddingStore {
    /// Loads the cache at `base` (`base.f32` + `base.json`) if it matches `corpus` and the
    /// encoder; otherwise encodes the corpus (streaming, `batch` passages per forward pass,
    /// `on_done(n)` after each chunk) and writes the cache atomically.
    pub fn load_or_build(
        base: &Path,
        corpus: &Path,
        encoder: &SentenceEncoder,
        max_tokens: usize,
        batch: usize,
        options: ReadOptions,
        mut on_done: impl FnMut(usize),
    ) -> Result<Self> {
        let weights = encoder.dir().join("model.safetensors");
        let model_bytes = std::fs::metadata(&weights)
            .map_err(|source| Error::Io {
                path: weights.clone(),
                source,
            })?
            .len();
        let wanted = StoreMeta {
            format: FORMAT,
            corpus: CorpusStamp::of(corpus)?,
            model: encoder.dir().to_path_buf(),
            model_bytes,
            max_tokens,
            rows: 0,
            dim: encoder.dim(),
            seconds: 0.0,
        };
        let (meta_path, data_path) = (base.with_extension("json"), base.with_extension("f32"));
        if let Ok(text) = std::fs::read_to_string(&meta_path)
            && let Ok(meta) = serde_json::from_str::<StoreMeta>(&text)
            && same_source(&meta, &wanted)
        {
            return Self::read(&data_path, meta);
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io {
                path: path.clone(),
                source,
            }
        };
        let started = Instant::now();
        let parent = base.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        let temp = tempfile::NamedTempFile::new_in(parent).map_err(io(parent))?;
        let mut out = std::io::BufWriter::new(temp);
        let mut reader = JsonlReader::<Passage>::open(corpus, options)?;
        let mut data = Vec::new();
        let mut rows = 0usize;
        loop {
            let chunk = reader
                .by_ref()
                .take(CHUNK)
                .collect::<Result<Vec<Passage>>>()?;
            if chunk.is_empty() {
                break;
            }
            let texts: Vec<&str> = chunk.iter().map(|p| p.contents.as_str()).collect();
            let embedded = encoder.encode(&texts, max_tokens, batch, |n| on_done(rows + n))?;
            for value in &embedded {
                out.write_all(&value.to_le_bytes())
                    .map_err(io(&data_path))?;
            }
            data.extend_from_slice(&embedded);
            rows += chunk.len();
        }
        let temp = out.into_inner().map_err(|e| Error::Io {
            path: data_path.clone(),
            source: e.into_error(),
        })?;
        temp.persist(&data_path).map_err(|e| Error::Io {
            path: data_path.clone(),
            source: e.error,
        })?;
        let meta = StoreMeta {
            rows,
            seconds: started.elapsed().as_secs_f64(),
            ..wanted
        };
        let text = serde_json::to_string_pretty(&meta).map_err(|e| Error::Io {
            path: meta_path.clone(),
            source: e.into(),
        })?;
        std::fs::write(&meta_path, text).map_err(io(&meta_path))?;
        Ok(Self { meta, data })
    }

    fn read(path: &Path, meta: StoreMeta) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if bytes.len() != meta.rows * meta.dim * 4 {
            return Err(Error::Stale {
                path: path.to_path_buf(),
                reason: format!(
                    "{} bytes, expected {} rows × {} × 4",
                    bytes.len(),
                    meta.rows,
                    meta.dim
                ),
            });
        }
        let data = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Self { meta, data })
    }
}
