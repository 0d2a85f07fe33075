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
    /// Seconds the encoding took (summed over the processes that encoded its shards).
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

/// How a build runs: passages per shard, and (tests) where to stop as a killed build would.
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    /// Passages per shard (each shard is encoded, then written atomically).
    pub shard_rows: usize,
    /// Stop with [`Error::Interrupted`] after encoding this many shards in this call.
    pub stop_after: Option<usize>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            shard_rows: CHUNK,
            stop_after: None,
        }
    }
}

/// What a partial build has finished: its source (shards made from another source are
/// deleted) and the compute time of the finished shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Progress {
    source: StoreMeta,
    shard_rows: usize,
    shards: usize,
    seconds: f64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` atomically (a temporary file in the same folder, then renamed).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(parent)
        .map_err(io(parent))?;
    temp.write_all(bytes).map_err(io(path))?;
    temp.persist(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// Deletes the temporary files a killed process left in `dir` (`tempfile`'s `.tmp…` and this
/// module's `.partial-…`); a running build's own temporary file lives only for one write.
fn remove_stale_temporaries(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if (name.starts_with(".tmp") || name.starts_with(".partial-")) && e.path().is_file() {
            std::fs::remove_file(e.path()).map_err(io(&e.path()))?;
        }
    }
    Ok(())
}

impl EmbeddingStore {
    /// Loads the cache at `base` (`base.f32` + `base.json`) if it matches `corpus` and the
    /// encoder; otherwise encodes the corpus in shards of `options.shard_rows` passages
    /// (`batch` passages per forward pass, `on_done(n)` after each chunk), each shard written
    /// atomically to `base.shards/`, so a killed build resumes at its first missing shard.
    /// The finished cache is written atomically and the shards removed; temporary files a
    /// killed build left behind are deleted.
    #[allow(clippy::too_many_arguments)]
    pub fn load_or_build(
        base: &Path,
        corpus: &Path,
        encoder: &SentenceEncoder,
        max_tokens: usize,
        batch: usize,
        options: ReadOptions,
        build: BuildOptions,
        mut on_done: impl FnMut(usize),
    ) -> Result<Self> {
        let weights = encoder.dir().join("model.safetensors");
        let model_bytes = std::fs::metadata(&weights).map_err(io(&weights))?.len();
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
            // A build killed after writing the cache but before removing its shards.
            let shards = base.with_extension("shards");
            if shards.is_dir() {
                std::fs::remove_dir_all(&shards).map_err(io(&shards))?;
            }
            return Self::read(&data_path, meta);
        }
        let parent = base.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        remove_stale_temporaries(parent)?;
        let shard_dir = base.with_extension("shards");
        std::fs::create_dir_all(&shard_dir).map_err(io(&shard_dir))?;
        remove_stale_temporaries(&shard_dir)?;
        let progress_path = shard_dir.join("progress.json");
        let shard_rows = build.shard_rows.max(1);
        let mut progress = match std::fs::read_to_string(&progress_path)
            .ok()
            .and_then(|t| serde_json::from_str::<Progress>(&t).ok())
        {
            Some(p) if same_source(&p.source, &wanted) && p.shard_rows == shard_rows => p,
            _ => {
                // Another source (or none): start over.
                std::fs::remove_dir_all(&shard_dir).map_err(io(&shard_dir))?;
                std::fs::create_dir_all(&shard_dir).map_err(io(&shard_dir))?;
                Progress {
                    source: wanted.clone(),
                    shard_rows,
                    shards: 0,
                    seconds: 0.0,
                }
            }
        };
        let shard_path = |i: usize| shard_dir.join(format!("{i:06}.f32"));
        let dim = encoder.dim();
        let mut reader = JsonlReader::<Passage>::open(corpus, options)?;
        let mut data = Vec::new();
        let (mut rows, mut shard, mut encoded) = (0usize, 0usize, 0usize);
        loop {
            let chunk = reader
                .by_ref()
                .take(shard_rows)
                .collect::<Result<Vec<Passage>>>()?;
            if chunk.is_empty() {
                break;
            }
            let path = shard_path(shard);
            let stored = (shard < progress.shards)
                .then(|| std::fs::read(&path).ok())
                .flatten()
                .filter(|b| b.len() == chunk.len() * dim * 4);
            match stored {
                Some(bytes) => data.extend(
                    bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                ),
                None => {
                    if build.stop_after.is_some_and(|n| encoded >= n) {
                        return Err(Error::Interrupted {
                            path: shard_dir.clone(),
                            done: shard,
                        });
                    }
                    let started = Instant::now();
                    let texts: Vec<&str> = chunk.iter().map(|p| p.contents.as_str()).collect();
                    let embedded =
                        encoder.encode(&texts, max_tokens, batch, |n| on_done(rows + n))?;
                    let bytes: Vec<u8> = embedded.iter().flat_map(|v| v.to_le_bytes()).collect();
                    write_atomic(&path, &bytes)?;
                    data.extend_from_slice(&embedded);
                    progress.shards = shard + 1;
                    progress.seconds += started.elapsed().as_secs_f64();
                    let text = serde_json::to_vec_pretty(&progress).map_err(|e| Error::Io {
                        path: progress_path.clone(),
                        source: e.into(),
                    })?;
                    write_atomic(&progress_path, &text)?;
                    encoded += 1;
                }
            }
            rows += chunk.len();
            on_done(rows);
            shard += 1;
        }
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        write_atomic(&data_path, &bytes)?;
        let meta = StoreMeta {
            rows,
            seconds: progress.seconds,
            ..wanted
        };
        let text = serde_json::to_string_pretty(&meta).map_err(|e| Error::Io {
            path: meta_path.clone(),
            source: e.into(),
        })?;
        write_atomic(&meta_path, text.as_bytes())?;
        std::fs::remove_dir_all(&shard_dir).map_err(io(&shard_dir))?;
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
