//! Registry clients: the programs that bring a pinned package onto disk.
//!
//! Python's `pip` is used only here, as the client of PyPI; `cargo` is the client of crates.io.
//! Both are run as configurable commands (`ICOR_PIP`, `ICOR_CARGO`), so tests substitute fakes.

pub mod cargo;
pub mod pip;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::catalogue::Package;
use crate::error::{Error, Result};

/// What a registry client left on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Downloaded {
    /// A zip archive (a wheel).
    Zip(PathBuf),
    /// An unpacked source tree (a crate).
    Dir(PathBuf),
}

/// Brings one pinned package into an empty scratch folder.
pub trait RegistryClient {
    /// Downloads `package` (for `asset`, named in errors) into `dest`, an empty folder.
    fn download(&self, asset: &str, package: &Package, dest: &Path) -> Result<Downloaded>;
}

/// A command line to run: a program and leading arguments, e.g. `python3 -m pip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCommand {
    argv: Vec<OsString>,
}

impl ToolCommand {
    /// A command from its words; `None` if empty.
    pub fn new<I, S>(argv: I) -> Option<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
        (!argv.is_empty()).then_some(Self { argv })
    }

    /// The command in environment variable `var` (split at white space), else `default`.
    pub fn from_env_or(var: &str, default: &[&str]) -> Self {
        std::env::var(var)
            .ok()
            .and_then(|v| Self::new(v.split_whitespace()))
            .or_else(|| Self::new(default.iter().copied()))
            .unwrap_or(Self {
                argv: vec![OsString::from(default.first().copied().unwrap_or("false"))],
            })
    }

    /// The command as the user would type it.
    pub fn display(&self) -> String {
        self.argv
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs the command with extra `args`, in `cwd`, output captured, no standard input.
    pub fn run(&self, args: &[OsString], cwd: &Path) -> std::io::Result<Output> {
        let (program, lead) = self.argv.split_first().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command")
        })?;
        Command::new(program)
            .args(lead)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
    }
}

/// The last few non-empty lines of a command's output, for error messages.
pub fn tail(output: &Output) -> String {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(3);
    lines[start..].join(" | ")
}

/// Turns a failed client run into the matching error from markers in its output.
///
/// Order matters: pip reports an unreachable registry as retries followed by "No matching
/// distribution", so network markers are checked first.
pub fn classify_failure(
    asset: &str,
    tool: &ToolCommand,
    package: &Package,
    output: &Output,
    network_markers: &[&str],
    not_served_markers: &[&str],
) -> Error {
    let all = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let has = |markers: &[&str]| markers.iter().any(|m| all.contains(m));
    let detail = tail(output);
    let package_s = package.to_string();
    if all.contains("No space left on device") {
        Error::DiskFull {
            asset: asset.to_owned(),
            path: PathBuf::from(format!("the scratch folder of `{}`", tool.display())),
        }
    } else if has(network_markers) {
        Error::RegistryUnreachable {
            asset: asset.to_owned(),
            package: package_s,
            detail,
        }
    } else if has(not_served_markers) {
        Error::NotServed {
            asset: asset.to_owned(),
            package: package_s,
            detail,
        }
    } else {
        Error::ToolFailed {
            asset: asset.to_owned(),
            tool: tool.display(),
            package: package_s,
            status: output.status.to_string(),
            detail,
        }
    }
}

/// The error for a client that could not be started.
pub fn not_found(
    asset: &str,
    tool: &ToolCommand,
    package: &Package,
    err: &std::io::Error,
    hint: &str,
) -> Error {
    Error::ToolNotFound {
        asset: asset.to_owned(),
        tool: tool.display(),
        package: package.to_string(),
        detail: err.to_string(),
        hint: hint.to_owned(),
    }
}
