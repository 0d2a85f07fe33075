//! `cargo xtask features`: the README's two commands build burn once.
//!
//! Cargo unifies features over the packages one command builds, so `cargo run -p icor`,
//! `cargo xtask` and `cargo test --workspace` can resolve different features for a crate deep
//! in burn's tree, and every crate above it is then compiled again into the same folder (a
//! fresh `.ci/run` compiled burn four times). `crates/icor-hack` asks for the test build's
//! features up front; this check fails, naming each crate and feature, when a dependency
//! change makes the sets drift apart again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

type Features = BTreeMap<String, BTreeSet<String>>;

/// Crate (name and version) → features, as `cargo tree` resolves them for `args`.
fn resolve(root: &Path, args: &[&str]) -> Result<Features> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root)
        .args(["tree", "--prefix", "none", "-f", "{p}|{f}"])
        .args(args)
        .output()
        .context("running cargo tree")?;
    if !out.status.success() {
        bail!(
            "cargo tree {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut map = Features::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((pkg, feats)) = line.split_once('|') else {
            continue;
        };
        // `name vX.Y.Z (path) (*)`: keep name and version.
        let key = pkg.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        let feats = feats.trim_end_matches(" (*)");
        map.entry(key).or_default().extend(
            feats
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_string),
        );
    }
    Ok(map)
}

pub fn run(root: &Path) -> Result<()> {
    let tests = resolve(root, &["--workspace", "-e", "normal,build,dev"])?;
    let mut drift = Vec::new();
    for (what, args) in [
        ("cargo run -p icor", ["-p", "icor", "-e", "normal,build"]),
        ("cargo xtask", ["-p", "xtask", "-e", "normal,build"]),
    ] {
        for (krate, feats) in resolve(root, &args)? {
            let Some(all) = tests.get(&krate) else {
                continue;
            };
            if all != &feats {
                let extra: Vec<_> = all.difference(&feats).cloned().collect();
                let missing: Vec<_> = feats.difference(all).cloned().collect();
                drift.push(format!(
                    "{krate}: `{what}` lacks [{}] and adds [{}] against `cargo test --workspace`",
                    extra.join(", "),
                    missing.join(", ")
                ));
            }
        }
    }
    if !drift.is_empty() {
        bail!(
            "feature sets drift apart, so burn would be compiled more than once per build folder; ask for these features in crates/icor-hack/Cargo.toml:\n  {}",
            drift.join("\n  ")
        );
    }
    println!(
        "features: `cargo run -p icor`, `cargo xtask` and `cargo test --workspace` resolve the same features"
    );
    Ok(())
}
