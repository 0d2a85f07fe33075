//! The boundary study's wall time (`bench perf --probe`): `icor probe all --quick` as the
//! README runs it, and one sweep run three ways to choose between intra-op threads and
//! concurrent runs: `docs` on the authors' protocol (4 document counts × 3 seeds = 12 runs).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

/// Runs `icor probe <args>` into a fresh folder; its wall seconds.
fn timed(icor: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<f64> {
    let out = tempfile::tempdir()?;
    let mut cmd = Command::new(icor);
    cmd.arg("probe").args(args).arg("--out").arg(out.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let status = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .with_context(|| format!("running icor probe {}", args.join(" ")))?;
    ensure!(status.success(), "icor probe {} failed", args.join(" "));
    Ok(started.elapsed().as_secs_f64())
}

pub fn measure(root: &Path, step: &dyn Fn(&str)) -> Result<Value> {
    let status = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["build", "-q", "-p", "icor"])
        .status()?;
    ensure!(status.success(), "cargo build -p icor failed");
    let icor = root.join("target/debug/icor");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = cores.to_string();
    let sweep = ["docs", "--quick", "--protocol", "authors"];
    fn with<'a>(sweep: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        sweep.iter().chain(extra).copied().collect()
    }
    step("probe docs (authors): one run at a time, one thread");
    let serial_one_thread = timed(
        &icor,
        &with(&sweep, &["--jobs", "1"]),
        &[("RAYON_NUM_THREADS", "1")],
    )?;
    step("probe docs (authors): one run at a time, every core's threads");
    let serial_threads = timed(&icor, &with(&sweep, &["--jobs", "1"]), &[])?;
    step("probe docs (authors): one run per core");
    let concurrent = timed(&icor, &with(&sweep, &["--jobs", &jobs]), &[])?;
    step("probe all --quick (default --jobs)");
    let all = timed(&icor, &["all", "--quick"], &[])?;
    Ok(json!({
        "cores": cores,
        "docs_authors": {
            "runs": 12,
            "serial_one_thread_s": serial_one_thread,
            "serial_all_threads_s": serial_threads,
            "concurrent_s": concurrent,
        },
        "all_quick_s": all,
        "all_quick_jobs": cores,
    }))
}
