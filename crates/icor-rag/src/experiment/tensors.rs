//! Flat `f32` vectors with metadata in one safetensors file, written atomically: the format of
//! every checkpoint and stored target of the method.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::TensorView;

use crate::error::{Error, Result, io_err};
use crate::experiment::store::{Stamp, write_atomic};

fn fmt_err(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Named vectors and string metadata, with the stamp the file was made under.
#[derive(Debug, Clone, Default)]
pub struct TensorFile {
    pub tensors: BTreeMap<String, Vec<f32>>,
    pub meta: BTreeMap<String, String>,
}

impl TensorFile {
    /// The vector `name`, or an error naming the file.
    pub fn get(&self, name: &str, path: &Path) -> Result<&[f32]> {
        self.tensors
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| fmt_err(path, format!("tensor `{name}` missing")))
    }

    /// Metadata `key` parsed as `T`.
    pub fn meta_parse<T: std::str::FromStr>(&self, key: &str, path: &Path) -> Result<T> {
        self.meta
            .get(key)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| fmt_err(path, format!("metadata `{key}` missing or malformed")))
    }

    /// Writes the file atomically with `stamp` in its metadata.
    pub fn save(&self, path: &Path, stamp: &Stamp) -> Result<()> {
        let bytes: Vec<(String, Vec<u8>, usize)> = self
            .tensors
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    v.len(),
                )
            })
            .collect();
        let views = bytes
            .iter()
            .map(|(k, b, n)| {
                TensorView::new(safetensors::Dtype::F32, vec![*n], b)
                    .map(|v| (k.clone(), v))
                    .map_err(|e| fmt_err(path, e))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut meta: HashMap<String, String> = self.meta.clone().into_iter().collect();
        meta.insert(
            "stamp".into(),
            serde_json::to_string(stamp).map_err(|e| fmt_err(path, e))?,
        );
        let out = safetensors::serialize(views, Some(meta)).map_err(|e| fmt_err(path, e))?;
        write_atomic(path, &out)
    }

    /// Reads a file: `Ok(None)` when absent; `Err(Stale)` when made under another stamp.
    pub fn load(path: &Path, stamp: &Stamp) -> Result<Option<Self>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(path)(e)),
        };
        let (_, header) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| fmt_err(path, e))?;
        let mut meta: BTreeMap<String, String> = header
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let found: Stamp = meta
            .remove("stamp")
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or_else(|| fmt_err(path, "no stamp in metadata"))?;
        if &found != stamp {
            return Err(Error::Stale {
                path: path.to_path_buf(),
                reason: format!(
                    "made for stage `{}` settings {} code {}, expected `{}` {} {}",
                    found.stage,
                    found.config_hash,
                    found.code_version,
                    stamp.stage,
                    stamp.config_hash,
                    stamp.code_version
                ),
            });
        }
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| fmt_err(path, e))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(fmt_err(path, format!("tensor `{name}` is not f32")));
            }
            let v: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            tensors.insert(name, v);
        }
        Ok(Some(Self { tensors, meta }))
    }

    /// Like [`Self::load`], but a stale or unreadable file is removed and reported absent.
    pub fn load_or_rebuild(path: &Path, stamp: &Stamp) -> Result<Option<Self>> {
        match Self::load(path, stamp) {
            Err(e @ (Error::Stale { .. } | Error::Format { .. })) => {
                eprintln!("note: rebuilding {e}");
                std::fs::remove_file(path).map_err(io_err(path))?;
                Ok(None)
            }
            other => other,
        }
    }
}
