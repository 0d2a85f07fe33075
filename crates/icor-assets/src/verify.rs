//! Streaming sha256 and the sidecar record written next to every verified file.
//!
//! Policy: a file counts as present without re-hashing when its sidecar `<file>.sha256` records
//! the catalogued sha256 and the file still has the recorded size and modification time. Only a
//! verified file ever gets a sidecar, and files are only ever replaced by an atomic rename, so
//! this catches truncation, replacement and ordinary edits at the cost of one `stat`, and keeps
//! `ensure` instant (re-hashing all assets, ~600 MB, costs several seconds on two cores each
//! time a command starts). `icor fetch --list` and `--verify` re-hash every file.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

/// Suffix of the sidecar record.
pub const SIDECAR_SUFFIX: &str = ".sha256";

/// A writer that hashes and counts everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The inner writer, the byte count and the lower-case hex sha256.
    pub fn finish(self) -> (W, u64, String) {
        let digest = self.hasher.finalize();
        (self.inner, self.written, hex::encode(digest.as_slice()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Size and lower-case hex sha256 of a file, read in 1 MiB chunks.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize().as_slice())))
}

/// The path of the sidecar record of `file`.
pub fn sidecar_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(SIDECAR_SUFFIX);
    PathBuf::from(name)
}

/// What the sidecar remembers about a verified file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Lower-case hex sha256.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: u128,
}

impl Record {
    /// The record of `file` as it is now on disk, with the given sha256.
    pub fn of(file: &Path, sha256: &str) -> io::Result<Self> {
        let meta = std::fs::metadata(file)?;
        Ok(Self {
            sha256: sha256.to_owned(),
            size: meta.len(),
            mtime_ns: mtime_ns(&meta),
        })
    }

    /// Text form: `sha256 HEX`, `size N`, `mtime_ns N`, one per line.
    pub fn to_text(&self) -> String {
        format!(
            "sha256 {}\nsize {}\nmtime_ns {}\n",
            self.sha256, self.size, self.mtime_ns
        )
    }

    /// Parses [`Record::to_text`]; `None` if anything is off.
    pub fn parse(text: &str) -> Option<Self> {
        let mut sha256 = None;
        let mut size = None;
        let mut mtime_ns = None;
        for line in text.lines() {
            match line.split_once(' ')? {
                ("sha256", v) => sha256 = Some(v.to_owned()),
                ("size", v) => size = Some(v.parse().ok()?),
                ("mtime_ns", v) => mtime_ns = Some(v.parse().ok()?),
                _ => return None,
            }
        }
        Some(Self {
            sha256: sha256?,
            size: size?,
            mtime_ns: mtime_ns?,
        })
    }
}

/// Modification time in nanoseconds since the epoch (0 where the platform has none).
fn mtime_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

/// Whether `file` can be trusted without re-hashing: its sidecar names `sha256` and the file has
/// the catalogued `size` and the recorded modification time.
pub fn trusted(file: &Path, sha256: &str, size: u64) -> bool {
    let Ok(text) = std::fs::read_to_string(sidecar_path(file)) else {
        return false;
    };
    let Some(record) = Record::parse(&text) else {
        return false;
    };
    match Record::of(file, sha256) {
        Ok(now) => record == now && now.size == size,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_writer_matches_known_digest() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (inner, n, hex) = w.finish();
        assert_eq!(inner, b"abc");
        assert_eq!(n, 3);
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn record_round_trips_and_rejects_garbage() {
        let r = Record {
            sha256: "ab".into(),
            size: 7,
            mtime_ns: 42,
        };
        assert_eq!(Record::parse(&r.to_text()), Some(r));
        assert_eq!(Record::parse("sha256 ab\nsize x\nmtime_ns 1\n"), None);
        assert_eq!(Record::parse("sha256 ab\n"), None);
    }

    #[test]
    fn trust_requires_matching_sidecar_size_and_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").unwrap();
        let (size, sha) = hash_file(&file).unwrap();
        assert!(!trusted(&file, &sha, size), "no sidecar yet");
        std::fs::write(
            sidecar_path(&file),
            Record::of(&file, &sha).unwrap().to_text(),
        )
        .unwrap();
        assert!(trusted(&file, &sha, size));
        assert!(!trusted(&file, &"0".repeat(64), size), "other sha");
        assert!(!trusted(&file, &sha, size + 1), "other size");
        std::fs::write(&file, b"ab").unwrap();
        assert!(!trusted(&file, &sha, size), "truncated");
    }
}
