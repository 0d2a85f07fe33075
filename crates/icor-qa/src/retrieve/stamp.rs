//! What a derived artefact (BM25 index, passage embeddings) was built from: the corpus path,
//! size and a 64-bit FNV-1a hash of its bytes. Content, not modification time, decides: running
//! `icor data prepare` again rewrites an identical corpus and must not force a rebuild.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The identity of a corpus file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusStamp {
    /// Corpus file (absolute).
    pub corpus: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// FNV-1a (64-bit) of its bytes, as 16 hex digits.
    pub fnv64: String,
}

/// FNV-1a over `bytes`, continuing from `hash`.
pub fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// FNV-1a's offset basis.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

impl CorpusStamp {
    /// The stamp of `corpus` as it is on disk now (reads the whole file once).
    pub fn of(corpus: &Path) -> Result<Self> {
        let io = |source| Error::Io {
            path: corpus.to_path_buf(),
            source,
        };
        let path = std::fs::canonicalize(corpus).map_err(io)?;
        let mut file = std::fs::File::open(&path).map_err(io)?;
        let (mut hash, mut bytes) = (FNV_OFFSET, 0u64);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hash = fnv1a(hash, &buf[..n]);
            bytes += n as u64;
        }
        Ok(Self {
            corpus: path,
            bytes,
            fnv64: format!("{hash:016x}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_follows_content_not_time() {
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        std::fs::write(&path, "x\n").unwrap();
        let first = CorpusStamp::of(&path).unwrap();
        std::fs::write(&path, "x\n").unwrap();
        assert_eq!(CorpusStamp::of(&path).unwrap(), first);
        std::fs::write(&path, "y\n").unwrap();
        assert_ne!(CorpusStamp::of(&path).unwrap(), first);
    }
}
