//! `cargo xtask …`: regenerates the reports under `reports/` from what the code measures.
//!
//! - `cargo xtask verify-report [--check]`: `reports/verify.md`, the identity table of
//!   `icor verify --cases 2000 --seed 0`. `--check` fails when the committed file is stale
//!   (the error digits are masked there: they depend on the CPU's FMA use, the rest must match).
//! - `cargo xtask retrieval-report [--limit N] [--skip-st]`: `reports/retrieval.md`, recall@k
//!   and speed of the BM25 and dense retrievers (see `retrieval_report.rs`).
//! - `cargo xtask probe-report [--check]`: `reports/probe-tables.md` from `reports/probe/*.json`.
//! - `cargo xtask figures [--check]`: `reports/figures/*.{svg,png}`, the probe figures, from
//!   `reports/probe/*.json` (see `figures.rs`); `--check` fails when a committed figure is stale.
//! - `cargo xtask rag-report [--check]`: `reports/rag-<profile>.md` from
//!   `reports/rag/<profile>.json` (written by `icor rag run`).
//! - `cargo xtask mechanism-report [--check]`: `reports/mechanism.md` from
//!   `reports/mechanism/*.json` (written by `icor rag mechanism`).
//! - `cargo xtask features`: `cargo run -p icor`, `cargo xtask` and `cargo test --workspace`
//!   resolve the same features, so burn is compiled once per build folder (see `features.rs`).
//! - `cargo xtask reports-index [--check]`: `reports/README.md`, every report linked with its
//!   headline results (the index `icor reproduce` writes for its own folder).
//! - `cargo xtask fn-lengths [--check]`: the longest functions of icor-rag; `--check` fails
//!   over 150 lines (see `fn_lengths.rs` for how a function is measured).
//! - `cargo xtask check`: `features` and the `--check` of verify-report, probe-report,
//!   rag-report, mechanism-report, figures and reports-index; `reports/perf.md` matches
//!   `reports/perf.json`; no icor-rag function over 150 lines.
//! - `cargo xtask bench perf [--probe] [--no-scalar]`: `reports/perf.md`, icor's speed with and
//!   without burn's rayon/simd against JAX, sentence-transformers, PyTorch, llama.cpp and the
//!   machine's memcpy/sgemm limits, in one run (see `perf/`).
//! - `cargo xtask bench [-- criterion args]`: runs the criterion benches and writes
//!   `reports/bench-linear.md` with LSA/GD time ratios measured in the same run.

mod bench;
mod features;
mod figures;
mod fn_lengths;
mod machine;
mod mechanism_report;
mod perf;
mod probe_report;
mod rag_report;
mod reports_index;
mod retrieval_report;
mod verify_report;

use anyhow::{Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root()?;
    match args.first().map(String::as_str) {
        Some("verify-report") => verify_report::run(&root, args.iter().any(|a| a == "--check")),
        Some("bench") if args.get(1).map(String::as_str) == Some("perf") => {
            perf::run(&root, &args[2..])
        }
        Some("bench") => bench::run(&root, &args[1..]),
        Some("features") => features::run(&root),
        Some("check") => features::run(&root)
            .and_then(|_| verify_report::run(&root, true))
            .and_then(|_| probe_report::run(&root, true))
            .and_then(|_| rag_report::run(&root, true))
            .and_then(|_| mechanism_report::run(&root, true))
            .and_then(|_| figures::run(&root, true))
            .and_then(|_| reports_index::run(&root, true))
            .and_then(|_| perf::check(&root))
            .and_then(|_| fn_lengths::run(&root, true)),
        Some("fn-lengths") => fn_lengths::run(&root, args.iter().any(|a| a == "--check")),
        Some("reports-index") => reports_index::run(&root, args.iter().any(|a| a == "--check")),
        Some("probe-report") => probe_report::run(&root, args.iter().any(|a| a == "--check")),
        Some("rag-report") => rag_report::run(&root, args.iter().any(|a| a == "--check")),
        Some("mechanism-report") => {
            mechanism_report::run(&root, args.iter().any(|a| a == "--check"))
        }
        Some("figures") => figures::run(&root, args.iter().any(|a| a == "--check")),
        Some("retrieval-report") => retrieval_report::run(&root, &args[1..]),
        _ => bail!(
            "usage: cargo xtask <features | verify-report [--check] | bench [criterion args] | bench perf [--probe] [--no-scalar] | check | retrieval-report [--limit N] [--skip-st] | probe-report [--check] | rag-report [--check] | mechanism-report [--check] | figures [--check] | reports-index [--check] | fn-lengths [--check]>"
        ),
    }
}

/// The workspace root: the parent of this crate's folder.
fn workspace_root() -> Result<std::path::PathBuf> {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    Ok(here
        .parent()
        .ok_or_else(|| anyhow::anyhow!("xtask has no parent folder"))?
        .to_path_buf())
}
