//! crates.io through `cargo vendor` in a throwaway project (nothing is compiled).
//!
//! cargo has no `download` command; a throwaway manifest depending on exactly `NAME = "=VERSION"`
//! with `default-features = false` and `cargo vendor --versioned-dirs` unpacks just that crate
//! (and any non-optional dependencies) into a folder we choose, checksums verified by cargo.
//! It runs in the scratch folder so no project's `.cargo/config.toml` interferes.

use std::ffi::OsString;
use std::path::Path;

use super::{Downloaded, RegistryClient, ToolCommand, classify_failure, not_found};
use crate::catalogue::Package;
use crate::error::{Error, Result};

/// Markers of an unreachable registry in cargo's output.
const NETWORK: &[&str] = &[
    "Couldn't resolve host",
    "Could not resolve host",
    "failed to download",
    "spurious network error",
    "network failure",
    "Connection refused",
    "failed to query replaced source",
    "unable to update registry",
    "download of config.json failed",
];

/// Markers of a crate version the registry does not serve.
const NOT_SERVED: &[&str] = &[
    "failed to select a version",
    "no matching package named",
    "candidate versions found which didn't match",
    "yanked",
];

/// Fix hint when cargo is missing.
const HINT: &str = "install Rust's cargo (rustup) or set ICOR_CARGO to the cargo program";

/// The cargo registry client.
#[derive(Debug, Clone)]
pub struct Cargo {
    command: ToolCommand,
}

impl Cargo {
    /// cargo as configured: `ICOR_CARGO`, else `$CARGO` (set under `cargo run`), else `cargo`.
    pub fn from_env() -> Self {
        let fallback = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        Self::new(ToolCommand::from_env_or("ICOR_CARGO", &[fallback.as_str()]))
    }

    /// cargo run as `command` (tests pass a fake).
    pub fn new(command: ToolCommand) -> Self {
        Self { command }
    }
}

impl RegistryClient for Cargo {
    fn download(&self, asset: &str, package: &Package, dest: &Path) -> Result<Downloaded> {
        let manifest = dest.join("Cargo.toml");
        let text = format!(
            "[package]\nname = \"icor-asset-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             [lib]\npath = \"lib.rs\"\n[dependencies]\n\"{}\" = {{ version = \"={}\", default-features = false }}\n\
             [workspace]\n",
            package.name, package.version
        );
        std::fs::write(&manifest, text).map_err(|e| Error::io(asset, "write", &manifest, e))?;
        let lib = dest.join("lib.rs");
        std::fs::write(&lib, "").map_err(|e| Error::io(asset, "write", &lib, e))?;
        let vendor = dest.join("vendor");
        let args: Vec<OsString> = vec![
            "vendor".into(),
            "--quiet".into(),
            "--versioned-dirs".into(),
            "--manifest-path".into(),
            manifest.into_os_string(),
            vendor.clone().into_os_string(),
        ];
        let output = self
            .command
            .run(&args, dest)
            .map_err(|e| not_found(asset, &self.command, package, &e, HINT))?;
        if !output.status.success() {
            return Err(classify_failure(
                asset,
                &self.command,
                package,
                &output,
                NETWORK,
                NOT_SERVED,
            ));
        }
        let dir = vendor.join(format!("{}-{}", package.name, package.version));
        if dir.is_dir() {
            Ok(Downloaded::Dir(dir))
        } else {
            Err(Error::ToolFailed {
                asset: asset.to_owned(),
                tool: self.command.display(),
                package: package.to_string(),
                status: output.status.to_string(),
                detail: format!("it did not unpack {}", dir.display()),
            })
        }
    }
}
