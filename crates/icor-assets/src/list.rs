//! `--list`: the state of every asset, each file re-hashed (so corruption shows).

use std::path::{Path, PathBuf};

use crate::catalogue::{Asset, Catalogue};
use crate::error::{Error, Result};
use crate::verify::hash_file;

/// The state of one file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Present with the catalogued size and sha256.
    Present,
    /// Not on disk.
    Missing,
    /// On disk with another size or sha256.
    Corrupt {
        /// Measured size.
        size: u64,
        /// Measured sha256.
        sha256: String,
    },
}

/// One file's state.
#[derive(Debug, Clone)]
pub struct FileStatus {
    /// Catalogue path within the asset.
    pub path: String,
    /// Where it is (or would be) on disk.
    pub local: PathBuf,
    /// Its state.
    pub state: FileState,
}

/// One asset's state.
#[derive(Debug, Clone)]
pub struct AssetStatus<'c> {
    /// The catalogue entry.
    pub asset: &'c Asset,
    /// The asset's folder.
    pub dir: PathBuf,
    /// Its files' states.
    pub files: Vec<FileStatus>,
}

impl AssetStatus<'_> {
    /// `corrupt` if any file is, else `missing` if any file is, else `present`.
    pub fn summary(&self) -> &'static str {
        if self
            .files
            .iter()
            .any(|f| matches!(f.state, FileState::Corrupt { .. }))
        {
            "corrupt"
        } else if self.files.iter().any(|f| f.state == FileState::Missing) {
            "missing"
        } else {
            "present"
        }
    }
}

/// The state of every asset of `catalogue` in the cache at `home`, re-hashing every file.
pub fn list<'c>(home: &Path, catalogue: &'c Catalogue) -> Result<Vec<AssetStatus<'c>>> {
    catalogue
        .assets
        .iter()
        .map(|asset| status(home, asset))
        .collect()
}

/// The state of one asset, re-hashing its files.
pub fn status<'c>(home: &Path, asset: &'c Asset) -> Result<AssetStatus<'c>> {
    let dir = home.join(&asset.name);
    let mut files = Vec::new();
    for spec in &asset.files {
        let local = dir.join(&spec.path);
        let state = match hash_file(&local) {
            Ok((size, sha256)) if size == spec.size && sha256 == spec.sha256 => FileState::Present,
            Ok((size, sha256)) => FileState::Corrupt { size, sha256 },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileState::Missing,
            Err(e) => return Err(Error::io(&asset.name, "read", &local, e)),
        };
        files.push(FileStatus {
            path: spec.path.clone(),
            local,
            state,
        });
    }
    Ok(AssetStatus { asset, dir, files })
}
