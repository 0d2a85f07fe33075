//! Reading members out of packages: wheels (zip), nested zips (a jar in a wheel) and unpacked
//! crate folders.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use zip::ZipArchive;
use zip::result::ZipError;

use crate::assemble::{PartError, copy};
use crate::catalogue::Package;
use crate::error::Error;

/// Something members can be read from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Archive {
    /// A zip file on disk (wheel, jar, zip).
    Zip(PathBuf),
    /// A folder (an unpacked crate).
    Dir(PathBuf),
}

/// Which member of which package is being read, for error messages.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The asset being fetched.
    pub asset: &'a str,
    /// The package the member ships in.
    pub package: &'a Package,
    /// The full member path (nested archives joined with `!/`).
    pub member: &'a str,
}

impl Origin<'_> {
    fn missing(&self) -> Error {
        Error::MemberMissing {
            asset: self.asset.to_owned(),
            package: self.package.to_string(),
            member: self.member.to_owned(),
        }
    }

    fn bad(&self, detail: impl ToString) -> Error {
        Error::BadArchive {
            asset: self.asset.to_owned(),
            package: self.package.to_string(),
            member: self.member.to_owned(),
            detail: detail.to_string(),
        }
    }
}

/// Copies member `name` of `archive` into `sink`; returns the number of bytes copied.
///
/// The zip reader checks each member's CRC-32; a damaged member is an [`Error::BadArchive`].
pub fn copy_member(
    origin: Origin<'_>,
    archive: &Archive,
    name: &str,
    sink: &mut dyn Write,
) -> Result<u64, PartError> {
    match archive {
        Archive::Zip(path) => {
            let file = File::open(path).map_err(|e| Error::io(origin.asset, "open", path, e))?;
            let mut zip = ZipArchive::new(BufReader::new(file)).map_err(|e| origin.bad(e))?;
            let mut member = match zip.by_name(name) {
                Ok(m) => m,
                Err(ZipError::FileNotFound) => return Err(origin.missing().into()),
                Err(e) => return Err(origin.bad(e).into()),
            };
            copy(&mut member, sink).map_err(|e| e.map_read(|e| origin.bad(e)))
        }
        Archive::Dir(root) => {
            let path = safe_join(root, name).ok_or_else(|| origin.missing())?;
            let mut file = match File::open(&path) {
                Ok(f) if path.is_file() => f,
                Ok(_) => return Err(origin.missing().into()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(origin.missing().into());
                }
                Err(e) => return Err(Error::io(origin.asset, "open", &path, e).into()),
            };
            copy(&mut file as &mut dyn Read, sink)
                .map_err(|e| e.map_read(|e| Error::io(origin.asset, "read", &path, e)))
        }
    }
}

/// `root/name` if `name` is a plain relative path (no `..`, not absolute).
fn safe_join(root: &Path, name: &str) -> Option<PathBuf> {
    let rel = Path::new(name);
    rel.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| root.join(rel))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Registry;
    use zip::write::SimpleFileOptions;

    fn package() -> Package {
        Package {
            registry: Registry::Pypi,
            name: "p".into(),
            version: "1".into(),
        }
    }

    fn zip_with(path: &Path, members: &[(&str, &[u8])]) {
        let mut w = zip::ZipWriter::new(File::create(path).unwrap());
        for (name, data) in members {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap();
    }

    #[test]
    fn reads_zip_members_and_reports_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let whl = dir.path().join("p.whl");
        zip_with(&whl, &[("a/b.txt", b"hello")]);
        let p = package();
        let origin = Origin {
            asset: "t",
            package: &p,
            member: "a/b.txt",
        };
        let mut out = Vec::new();
        let n = copy_member(origin, &Archive::Zip(whl.clone()), "a/b.txt", &mut out).unwrap();
        assert_eq!((n, out.as_slice()), (5, b"hello".as_slice()));
        let err = copy_member(origin, &Archive::Zip(whl), "nope", &mut Vec::new()).unwrap_err();
        assert!(matches!(err, PartError::Fetch(e) if matches!(*e, Error::MemberMissing { .. })));
    }

    #[test]
    fn not_a_zip_is_a_bad_archive() {
        let dir = tempfile::tempdir().unwrap();
        let whl = dir.path().join("p.whl");
        std::fs::write(&whl, b"<html>not a wheel</html>").unwrap();
        let p = package();
        let origin = Origin {
            asset: "t",
            package: &p,
            member: "x",
        };
        let err = copy_member(origin, &Archive::Zip(whl), "x", &mut Vec::new()).unwrap_err();
        assert!(matches!(err, PartError::Fetch(e) if matches!(*e, Error::BadArchive { .. })));
    }

    #[test]
    fn folder_members_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let p = package();
        let origin = Origin {
            asset: "t",
            package: &p,
            member: "../f",
        };
        let root = Archive::Dir(dir.path().join("sub"));
        let err = copy_member(origin, &root, "../f", &mut Vec::new()).unwrap_err();
        assert!(matches!(err, PartError::Fetch(e) if matches!(*e, Error::MemberMissing { .. })));
        let mut out = Vec::new();
        copy_member(origin, &Archive::Dir(dir.path().into()), "f", &mut out).unwrap();
        assert_eq!(out, b"x");
    }
}
