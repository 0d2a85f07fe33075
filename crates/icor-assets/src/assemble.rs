//! Writing one catalogued file from its parts: concatenated in order into a `.partial-*` file
//! next to the destination, hashed while written, checked against the catalogued size and
//! sha256, and only then renamed into place (with its sidecar record).

use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use indicatif::ProgressBar;

use crate::catalogue::{FileSpec, Part};
use crate::error::{Error, Result};
use crate::progress::ProgressWriter;
use crate::store;
use crate::verify::{HashingWriter, Record, sidecar_path};

/// Why producing a part failed: fetching or reading it, or writing it out.
#[derive(Debug)]
pub enum PartError {
    /// Fetching or reading the part failed (boxed: the error is large, this path is cold).
    Fetch(Box<Error>),
    /// Writing to the destination failed.
    Write(io::Error),
}

impl From<Error> for PartError {
    fn from(e: Error) -> Self {
        PartError::Fetch(Box::new(e))
    }
}

/// A failure of [`copy`]: on the reading or on the writing side.
#[derive(Debug)]
pub enum CopyError {
    /// Reading failed.
    Read(io::Error),
    /// Writing failed.
    Write(io::Error),
}

impl CopyError {
    /// Maps a read failure to an error, keeps write failures as such.
    pub fn map_read(self, f: impl FnOnce(io::Error) -> Error) -> PartError {
        match self {
            CopyError::Read(e) => PartError::Fetch(Box::new(f(e))),
            CopyError::Write(e) => PartError::Write(e),
        }
    }
}

/// Copies `reader` to `writer` in 256 KiB chunks, telling read from write failures.
pub fn copy(reader: &mut dyn Read, writer: &mut dyn Write) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        writer.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
}

/// Writes `spec` to `dest` from its parts, produced in order by `produce_part` into the sink.
///
/// On any failure (including a size or sha256 mismatch) the partial file is removed and nothing
/// at `dest` changes; on success `dest` and `dest.sha256` are in place.
pub fn assemble_file(
    asset: &str,
    spec: &FileSpec,
    dest: &Path,
    bar: &ProgressBar,
    mut produce_part: impl FnMut(&Part, &mut dyn Write) -> Result<u64, PartError>,
) -> Result<()> {
    let tmp = store::new_partial(asset, dest)?;
    let write_err = |e: io::Error| Error::io(asset, "write", tmp.path(), e);
    let file = tmp
        .as_file()
        .try_clone()
        .map_err(|e| Error::io(asset, "open", tmp.path(), e))?;
    let mut sink = HashingWriter::new(ProgressWriter::new(
        BufWriter::with_capacity(1 << 20, file),
        bar.clone(),
    ));
    for part in &spec.parts {
        match produce_part(part, &mut sink) {
            Ok(_) => {}
            Err(PartError::Fetch(e)) => return Err(*e),
            Err(PartError::Write(e)) => return Err(write_err(e)),
        }
    }
    sink.flush().map_err(write_err)?;
    let (writer, size, sha256) = sink.finish();
    drop(writer.into_inner());
    if size != spec.size || sha256 != spec.sha256 {
        return Err(Error::ChecksumMismatch {
            asset: asset.to_owned(),
            file: spec.path.clone(),
            expected_size: spec.size,
            expected_sha256: spec.sha256.clone(),
            actual_size: size,
            actual_sha256: sha256,
        });
    }
    let sidecar = sidecar_path(dest);
    let _ = std::fs::remove_file(&sidecar);
    store::commit(asset, tmp, dest)?;
    let record = Record::of(dest, &sha256).map_err(|e| Error::io(asset, "stat", dest, e))?;
    store::write_atomic(asset, &sidecar, record.to_text().as_bytes())
}
