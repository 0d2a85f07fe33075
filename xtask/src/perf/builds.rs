//! The two builds `cargo xtask bench perf` compares: the workspace as it is (burn with its
//! `rayon` and `simd` features, burn-flex with `x86-v4`) and the same sources with those
//! features taken off in the workspace manifest (the "before" of issue 12), built in a folder of their own
//! under `target/perf-scalar/` so the main build folder is untouched. The first scalar build
//! compiles burn once more (~15 min on 2 cores); later runs reuse it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};

/// The example binaries each build provides.
pub const EXAMPLES: [&str; 5] = [
    "lsa_step",
    "encode_speed",
    "llm_bench",
    "lora_step",
    "quant_matmul",
];

/// A build of the benchmark examples.
pub struct Build {
    /// `now` or `scalar`.
    pub name: &'static str,
    /// What it is, for the report.
    pub label: &'static str,
    /// Folder holding the example binaries.
    pub examples: PathBuf,
}

impl Build {
    /// Runs example `example` with `args`; returns its last JSON line.
    pub fn run(
        &self,
        example: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<serde_json::Value> {
        let bin = self.examples.join(example);
        let mut cmd = Command::new(&bin);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        super::json_line(cmd, &format!("{} ({} build)", bin.display(), self.name))
    }
}

fn cargo_build(src: &Path, target: Option<&Path>) -> Result<()> {
    let mut cmd = Command::new(env!("CARGO"));
    // --workspace: the feature set of `cargo test --workspace`, so `now` reuses the test build
    cmd.current_dir(src).args(["build", "--workspace"]);
    for e in EXAMPLES {
        cmd.args(["--example", e]);
    }
    if let Some(t) = target {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    let status = cmd.status().context("running cargo build")?;
    ensure!(
        status.success(),
        "cargo build of the bench examples failed in {}",
        src.display()
    );
    Ok(())
}

/// The workspace's own build.
pub fn now(root: &Path) -> Result<Build> {
    cargo_build(root, None)?;
    Ok(Build {
        name: "now",
        label: "burn with `rayon` + `simd`, gemm's AVX-512 kernels (`x86-v4`)",
        examples: root.join("target/debug/examples"),
    })
}

/// The same sources with burn's `rayon` and `simd` features off.
pub fn scalar(root: &Path) -> Result<Build> {
    let base = root.join("target/perf-scalar");
    let src = base.join("src");
    copy_sources(root, &src)?;
    let manifest = src.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)?;
    let text = patch_line(&manifest, &text, "burn = ", ", \"rayon\", \"simd\"", "")?;
    let text = patch_line(
        &manifest,
        &text,
        "burn-flex = ",
        "features = [\"x86-v4\"]",
        "features = []",
    )?;
    write_if_changed(&manifest, text.as_bytes())?;
    let target = base.join("target");
    eprintln!(
        "bench perf: building the scalar variant in {} (burn without rayon/simd)",
        target.display()
    );
    cargo_build(&src, Some(&target))?;
    check_scalar(&src, &target)?;
    Ok(Build {
        name: "scalar",
        label: "burn without `rayon`, `simd` and `x86-v4` (before)",
        examples: target.join("debug/examples"),
    })
}

/// `text` with `from` replaced by `to` on the line starting with `prefix`; an error naming the
/// manifest when that line is missing or lacks `from`.
fn patch_line(manifest: &Path, text: &str, prefix: &str, from: &str, to: &str) -> Result<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .with_context(|| format!("{}: no `{prefix}` line", manifest.display()))?;
    ensure!(
        line.contains(from),
        "{}: the `{prefix}` line does not contain `{from}` as expected: {line}",
        manifest.display()
    );
    Ok(text.replace(line, &line.replace(from, to)))
}

/// burn-flex must resolve without both features in the scalar copy (nothing else turns them on).
fn check_scalar(src: &Path, target: &Path) -> Result<()> {
    let out = Command::new(env!("CARGO"))
        .current_dir(src)
        .env("CARGO_TARGET_DIR", target)
        .args([
            "tree",
            "--workspace",
            "-e",
            "features",
            "-i",
            "burn-flex",
            "--prefix",
            "none",
        ])
        .output()
        .context("running cargo tree")?;
    ensure!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    for feature in ["rayon", "simd", "x86-v4"] {
        if tree.contains(&format!("burn-flex feature \"{feature}\"")) {
            bail!("the scalar build still turns on burn-flex's `{feature}` feature");
        }
    }
    Ok(())
}

/// Copies the files git tracks or would track (not ignored) into `dest`, rewriting only those
/// whose bytes changed so cargo's fingerprints stay valid between runs.
fn copy_sources(root: &Path, dest: &Path) -> Result<()> {
    let out = Command::new("git")
        .current_dir(root)
        .args(["ls-files", "-co", "--exclude-standard", "-z"])
        .output()
        .context("running git ls-files")?;
    ensure!(out.status.success(), "git ls-files failed");
    for name in out.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let rel = Path::new(std::str::from_utf8(name)?);
        let from = root.join(rel);
        if !from.is_file() {
            continue; // deleted in the work tree
        }
        let to = dest.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        write_if_changed(&to, &std::fs::read(&from)?)?;
    }
    Ok(())
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).ok().as_deref() != Some(bytes) {
        std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
