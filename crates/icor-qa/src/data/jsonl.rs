//! Streaming jsonl: one JSON value per line, read lazily with file:line errors; written
//! atomically (temporary file in the same folder, then rename).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// How a reader treats lines it cannot parse.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Skip malformed lines (counted in [`JsonlReader::skipped`]) instead of failing on the first.
    pub skip_bad_lines: bool,
}

/// A lazy reader of a jsonl file of `T` rows; blank lines are ignored.
pub struct JsonlReader<T> {
    path: PathBuf,
    lines: std::io::Lines<BufReader<File>>,
    line: u64,
    skipped: u64,
    options: ReadOptions,
    _row: PhantomData<T>,
}

impl<T: DeserializeOwned> JsonlReader<T> {
    /// Opens `path`.
    pub fn open(path: &Path, options: ReadOptions) -> Result<Self> {
        let file = File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            lines: BufReader::with_capacity(1 << 20, file).lines(),
            line: 0,
            skipped: 0,
            options,
            _row: PhantomData,
        })
    }

    /// Malformed lines skipped so far (only with `skip_bad_lines`).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn bad(&self, reason: String) -> Error {
        Error::BadLine {
            path: self.path.clone(),
            line: self.line,
            reason,
        }
    }
}

impl<T: DeserializeOwned> Iterator for JsonlReader<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            let text = self.lines.next()?;
            self.line += 1;
            let parsed = match text {
                // Invalid UTF-8 is a bad line too (the reader stays usable afterwards).
                Err(err) if err.kind() == std::io::ErrorKind::InvalidData => {
                    Err(self.bad(format!("not UTF-8: {err}")))
                }
                Err(source) => {
                    return Some(Err(Error::Io {
                        path: self.path.clone(),
                        source,
                    }));
                }
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => {
                    serde_json::from_str::<T>(&text).map_err(|err| self.bad(err.to_string()))
                }
            };
            match parsed {
                Err(_) if self.options.skip_bad_lines => self.skipped += 1,
                other => return Some(other),
            }
        }
    }
}

/// Reads every row of `path`; returns the rows and the number of malformed lines skipped.
pub fn read_all<T: DeserializeOwned>(path: &Path, options: ReadOptions) -> Result<(Vec<T>, u64)> {
    let mut reader = JsonlReader::open(path, options)?;
    let rows = reader.by_ref().collect::<Result<Vec<T>>>()?;
    Ok((rows, reader.skipped()))
}

/// Writes `rows` as jsonl to `path` atomically (readers never see a half-written file);
/// returns the number of rows written. Creates the parent folder.
pub fn write_atomic<T: Serialize>(path: &Path, rows: impl IntoIterator<Item = T>) -> Result<usize> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io)?;
    let temp = tempfile::NamedTempFile::new_in(parent).map_err(io)?;
    let mut out = BufWriter::new(temp);
    let mut count = 0usize;
    for row in rows {
        serde_json::to_writer(&mut out, &row).map_err(|e| io(e.into()))?;
        out.write_all(b"\n").map_err(io)?;
        count += 1;
    }
    let temp = out.into_inner().map_err(|e| io(e.into_error()))?;
    temp.as_file().sync_all().map_err(io)?;
    temp.persist(path).map_err(|e| io(e.error))?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::record::QaExample;

    fn write(dir: &Path, text: &[u8]) -> PathBuf {
        let path = dir.join("rows.jsonl");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = r#"{"id":"0","question":"q","golden_answers":["a"],"metadata":{}}"#;
        let path = write(
            dir.path(),
            format!("{good}\n\n{{\"id\": 1\n{good}\n").as_bytes(),
        );
        let err = read_all::<QaExample>(&path, ReadOptions::default()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("rows.jsonl:3:"), "{message}");
        let (rows, skipped) = read_all::<QaExample>(
            &path,
            ReadOptions {
                skip_bad_lines: true,
            },
        )
        .unwrap();
        assert_eq!((rows.len(), skipped), (2, 1));
    }

    #[test]
    fn invalid_utf8_is_a_bad_line_not_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), b"{\"id\":\"1\",\"contents\":\"x\"}\n\xff\xfe\n");
        let err = read_all::<crate::data::Passage>(&path, ReadOptions::default()).unwrap_err();
        assert!(err.to_string().contains(":2: not UTF-8"), "{err}");
        let (rows, skipped) = read_all::<crate::data::Passage>(
            &path,
            ReadOptions {
                skip_bad_lines: true,
            },
        )
        .unwrap();
        assert_eq!((rows.len(), skipped), (1, 1));
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("out.jsonl");
        let rows = vec![QaExample::new(
            "test_0".into(),
            "q?".into(),
            vec!["ä \"x\"".into()],
        )];
        assert_eq!(write_atomic(&path, &rows).unwrap(), 1);
        let (back, _) = read_all::<QaExample>(&path, ReadOptions::default()).unwrap();
        assert_eq!(back, rows);
        // No temporary file is left next to it.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }
}
