//! A memory-mapped GGUF file: header plus on-demand dequantised tensors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::dequant::dequantize;
use super::ggml_type::GgmlType;
use super::header::{GgufHeader, TensorInfo, parse_header};
use super::metadata::MetaValue;
use crate::{Error, Result};

/// An open GGUF checkpoint.
pub struct GgufFile {
    path: PathBuf,
    map: memmap2::Mmap,
    header: GgufHeader,
    index: HashMap<String, usize>,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.header.version)
            .field("tensors", &self.header.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Maps `path` and parses its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(&path).map_err(io)?;
        // SAFETY: the map is read-only; the checkpoint is not modified while it is open (the
        // asset cache writes files atomically and never rewrites them in place).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let header = parse_header(&map, &path)?;
        let mut index = HashMap::with_capacity(header.tensors.len());
        for (i, t) in header.tensors.iter().enumerate() {
            if index.insert(t.name.clone(), i).is_some() {
                return Err(Error::GgufFormat {
                    path,
                    offset: 0,
                    reason: format!("duplicate tensor name `{}`", t.name),
                });
            }
        }
        Ok(Self {
            path,
            map,
            header,
            index,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn header(&self) -> &GgufHeader {
        &self.header
    }

    /// A metadata value, or an error naming the key.
    pub fn meta(&self, key: &str) -> Result<&MetaValue> {
        self.header
            .metadata
            .get(key)
            .ok_or_else(|| Error::Metadata {
                path: self.path.clone(),
                key: key.to_string(),
                reason: "missing".into(),
            })
    }

    /// A metadata value if present.
    pub fn meta_opt(&self, key: &str) -> Option<&MetaValue> {
        self.header.metadata.get(key)
    }

    fn meta_err(&self, key: &str, want: &str, v: &MetaValue) -> Error {
        Error::Metadata {
            path: self.path.clone(),
            key: key.to_string(),
            reason: format!("expected {want}, found {v:?}"),
        }
    }

    pub fn meta_str(&self, key: &str) -> Result<&str> {
        let v = self.meta(key)?;
        v.as_str().ok_or_else(|| self.meta_err(key, "a string", v))
    }

    pub fn meta_u64(&self, key: &str) -> Result<u64> {
        let v = self.meta(key)?;
        v.as_u64()
            .ok_or_else(|| self.meta_err(key, "an unsigned integer", v))
    }

    pub fn meta_f64(&self, key: &str) -> Result<f64> {
        let v = self.meta(key)?;
        v.as_f64().ok_or_else(|| self.meta_err(key, "a number", v))
    }

    pub fn meta_array(&self, key: &str) -> Result<&[MetaValue]> {
        let v = self.meta(key)?;
        v.as_array()
            .ok_or_else(|| self.meta_err(key, "an array", v))
    }

    /// An array of strings (vocabulary, merges).
    pub fn meta_strings(&self, key: &str) -> Result<Vec<&str>> {
        self.meta_array(key)?
            .iter()
            .map(|v| v.as_str().ok_or_else(|| self.meta_err(key, "strings", v)))
            .collect()
    }

    /// The tensor directory entry for `name`.
    pub fn tensor_info(&self, name: &str) -> Result<&TensorInfo> {
        self.index
            .get(name)
            .map(|&i| &self.header.tensors[i])
            .ok_or_else(|| Error::MissingTensor {
                path: self.path.clone(),
                tensor: name.to_string(),
            })
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The raw bytes and type of tensor `name`, checked to lie inside the file.
    pub fn tensor_bytes(&self, name: &str) -> Result<(GgmlType, &[u8], &TensorInfo)> {
        let info = self.tensor_info(name)?;
        let ty = GgmlType::from_id(info.type_id).map_err(|type_name| Error::UnknownQuantType {
            path: self.path.clone(),
            tensor: name.to_string(),
            type_id: info.type_id,
            type_name: type_name.to_string(),
        })?;
        let bad = |reason: String| Error::TensorData {
            path: self.path.clone(),
            tensor: name.to_string(),
            reason,
        };
        let n = info.n_elements();
        let len = ty.bytes_for(n).ok_or_else(|| {
            bad(format!(
                "{n} elements is not a multiple of the {} block size {}",
                ty.name(),
                ty.block_elems()
            ))
        })?;
        let start = self
            .header
            .data_offset
            .checked_add(info.offset)
            .ok_or_else(|| bad(format!("offset {} overflows", info.offset)))?;
        let end = start
            .checked_add(len)
            .ok_or_else(|| bad(format!("offset {} + {len} bytes overflows", info.offset)))?;
        if end > self.map.len() as u64 {
            return Err(bad(format!(
                "bytes {start}..{end} lie beyond the end of the file ({} bytes): truncated file?",
                self.map.len()
            )));
        }
        Ok((ty, &self.map[start as usize..end as usize], info))
    }

    /// Tensor `name` dequantised to f32, with its row-major (PyTorch-order) shape.
    pub fn tensor_f32(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>)> {
        let (ty, bytes, info) = self.tensor_bytes(name)?;
        let data = dequantize(ty, bytes, info.n_elements() as usize);
        Ok((data, info.shape()))
    }
}
