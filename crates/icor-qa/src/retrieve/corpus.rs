//! Random access to a FlashRAG corpus jsonl of any size: one streaming pass records each
//! line's byte offset and the passage ids; contents are read back on demand (`pread`).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::data::Passage;
use crate::error::{Error, Result};

/// A corpus file with its line offsets.
pub struct Corpus {
    path: PathBuf,
    file: File,
    /// Start of each passage line, then the end of the last one.
    offsets: Vec<u64>,
    /// Line number (1-based) of each passage, for error messages.
    lines: Vec<u64>,
    ids: Vec<String>,
    skipped: u64,
}

#[derive(serde::Deserialize)]
struct IdOnly {
    id: String,
}

impl Corpus {
    /// Scans `path` (ids only; contents stay on disk). Malformed lines fail with file:line unless
    /// `skip_bad_lines`; `on_bytes` is told how far the scan got (for a progress bar).
    pub fn open(path: &Path, skip_bad_lines: bool, mut on_bytes: impl FnMut(u64)) -> Result<Self> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let mut reader = BufReader::with_capacity(1 << 20, file.try_clone().map_err(io)?);
        let (mut offsets, mut lines, mut ids) = (Vec::new(), Vec::new(), Vec::new());
        let (mut offset, mut line, mut skipped) = (0u64, 0u64, 0u64);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let read = reader.read_until(b'\n', &mut buf).map_err(io)? as u64;
            if read == 0 {
                break;
            }
            line += 1;
            let text = buf.trim_ascii();
            if !text.is_empty() {
                match serde_json::from_slice::<IdOnly>(text) {
                    Ok(row) => {
                        offsets.push(offset);
                        lines.push(line);
                        ids.push(row.id);
                    }
                    Err(_) if skip_bad_lines => skipped += 1,
                    Err(err) => {
                        return Err(Error::BadLine {
                            path: path.to_path_buf(),
                            line,
                            reason: err.to_string(),
                        });
                    }
                }
            }
            offset += read;
            if line % 4096 == 0 {
                on_bytes(offset);
            }
        }
        on_bytes(offset);
        offsets.push(offset);
        Ok(Self {
            path: path.to_path_buf(),
            file,
            offsets,
            lines,
            ids,
            skipped,
        })
    }

    /// Number of passages.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the corpus has no passage.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Malformed lines skipped when opening.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The corpus file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Id of passage `row`.
    pub fn id(&self, row: usize) -> &str {
        &self.ids[row]
    }

    /// Passage `row`, read from disk.
    pub fn get(&self, row: usize) -> Result<Passage> {
        let start = self.offsets[row];
        // The line ends at most where the next recorded line starts (skipped lines between
        // them only follow the newline, which the parser ignores as trailing whitespace).
        let end = self.offsets[row + 1];
        let mut buf = vec![0u8; (end - start) as usize];
        self.file
            .read_exact_at(&mut buf, start)
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                source,
            })?;
        let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
        serde_json::from_slice(&buf[..line_end]).map_err(|e| Error::BadLine {
            path: self.path.clone(),
            line: self.lines[row],
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_access_and_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        std::fs::write(&path, "{\"id\":\"a\",\"contents\":\"\\\"A\\\"\\none\"}\nnot json\n\n{\"id\":\"b\",\"contents\":\"\\\"B\\\"\\ntwo\"}").unwrap();
        let err = Corpus::open(&path, false, |_| {})
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("c.jsonl:2:"), "{err}");
        let corpus = Corpus::open(&path, true, |_| {}).unwrap();
        assert_eq!((corpus.len(), corpus.skipped()), (2, 1));
        assert_eq!(corpus.id(1), "b");
        assert_eq!(corpus.get(0).unwrap().text(), "one");
        assert_eq!(corpus.get(1).unwrap().title(), "B");
    }
}
