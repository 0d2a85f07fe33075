//! The GGUF header: magic, version, metadata key/values, tensor directory, data offset.

use std::collections::BTreeMap;
use std::path::Path;

use super::cursor::{Cursor, ReadError, ReadResult};
use super::metadata::MetaValue;
use crate::{Error, Result};

/// `"GGUF"` read as a little-endian u32.
const MAGIC: u32 = 0x4655_4747;
/// Default alignment of the data section (`general.alignment` overrides it).
const DEFAULT_ALIGNMENT: u64 = 32;
/// Largest number of dimensions ggml supports.
const MAX_DIMS: u32 = 4;

/// One entry of the tensor directory.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// Dimensions as stored, fastest-varying first (ggml `ne`): a PyTorch `[out, in]` weight
    /// is stored as `[in, out]`.
    pub dims: Vec<u64>,
    /// Raw ggml type id (validated only when the tensor is read).
    pub type_id: u32,
    /// Offset relative to the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Shape in row-major (PyTorch) order: the reverse of `dims`.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }
}

/// A parsed header.
#[derive(Debug, Clone)]
pub struct GgufHeader {
    pub version: u32,
    pub metadata: BTreeMap<String, MetaValue>,
    pub tensors: Vec<TensorInfo>,
    /// Absolute offset of the data section in the file.
    pub data_offset: u64,
}

/// Parses the header of a GGUF file held in `bytes`; `path` names the file in errors.
///
/// Never panics and never allocates more than the input could describe: every length is
/// checked against the bytes that remain.
pub fn parse_header(bytes: &[u8], path: &Path) -> Result<GgufHeader> {
    parse(bytes).map_err(|e| Error::GgufFormat {
        path: path.to_path_buf(),
        offset: e.offset,
        reason: e.reason,
    })
}

fn parse(bytes: &[u8]) -> ReadResult<GgufHeader> {
    let mut cur = Cursor::new(bytes);
    let magic = cur.u32("magic")?;
    if magic != MAGIC {
        return Err(ReadError {
            offset: 0,
            reason: format!("bad magic {magic:#010x}, not a GGUF file"),
        });
    }
    let version = cur.u32("version")?;
    if !(2..=3).contains(&version) {
        return Err(cur.error(format!(
            "unsupported GGUF version {version} (2 and 3 are read)"
        )));
    }
    let n_tensors = cur.u64("tensor count")?;
    let n_kv = cur.u64("metadata count")?;
    // Each key/value takes at least 8 (key len) + 4 (type) + 1 bytes; each tensor at least
    // 8 + 4 + 4 + 8 bytes.
    if (n_kv as u128) * 13 > cur.remaining() as u128 {
        return Err(cur.error(format!("truncated: {n_kv} metadata entries cannot fit")));
    }
    if (n_tensors as u128) * 24 > cur.remaining() as u128 {
        return Err(cur.error(format!("truncated: {n_tensors} tensor entries cannot fit")));
    }

    let mut metadata = BTreeMap::new();
    for _ in 0..n_kv {
        let key_at = cur.pos();
        let key = cur.string("metadata key")?;
        let type_id = cur.u32("metadata value type")?;
        let value = MetaValue::read(&mut cur, type_id, 4)?;
        if metadata.insert(key.clone(), value).is_some() {
            return Err(ReadError {
                offset: key_at as u64,
                reason: format!("duplicate metadata key `{key}`"),
            });
        }
    }

    let mut tensors = Vec::with_capacity(n_tensors as usize);
    for _ in 0..n_tensors {
        let name = cur.string("tensor name")?;
        let n_dims = cur.u32("tensor n_dims")?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(cur.error(format!("tensor `{name}` has {n_dims} dims (1..=4 allowed)")));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(cur.u64("tensor dim")?);
        }
        if dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .is_none()
        {
            return Err(cur.error(format!("tensor `{name}` dims {dims:?} overflow")));
        }
        let type_id = cur.u32("tensor type")?;
        let offset = cur.u64("tensor offset")?;
        tensors.push(TensorInfo {
            name,
            dims,
            type_id,
            offset,
        });
    }

    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(v) => match v.as_u64() {
            Some(a) if a > 0 && a.is_power_of_two() => a,
            _ => return Err(cur.error(format!("general.alignment {v:?} is not a power of two"))),
        },
    };
    let end = cur.pos() as u64;
    let data_offset = end.div_ceil(alignment) * alignment;
    Ok(GgufHeader {
        version,
        metadata,
        tensors,
        data_offset,
    })
}
