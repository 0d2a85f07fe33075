//! `cargo xtask bench perf [--probe] [--no-scalar] [--only-quantised] [--render-only] [--decode N] [--passages N]`: icor's speed
//! against its peers and the machine, in one run, written to `reports/perf.md` and
//! `reports/perf.json`.
//!
//! Each workload runs in two builds of the same sources ([`builds`]): `now` (burn with its
//! `rayon` and `simd` features, burn-flex with `x86-v4`) and `scalar` (without them, the
//! "before"), then its peer, back to
//! back, so the ratios share the machine's conditions:
//! - one LSA training step at batch 2048 (`icor-probe` example `lsa_step`) vs JAX on the CPU
//!   (`scripts/lsa_step_jax.py`, same shapes, Adam, half-MSE, clip);
//! - dense MiniLM passage encoding (`icor-qa` example `encode_speed`) vs sentence-transformers
//!   on the same passages (`scripts/retrieval_st_bench.py`);
//! - LLM prefill (512 tokens) and greedy decode on both shipped models (`icor-llm` example
//!   `llm_bench`) vs PyTorch through transformers (`scripts/llm_speed_torch.py`, f32) and
//!   llama.cpp (`scripts/llm_speed_llamacpp.py`, native quantised kernels), decode also against
//!   the machine's memcpy bandwidth and prefill against its best sgemm rate
//!   (`scripts/machine_peak.py`);
//! - one LoRA training step (rank 16 on Q/K/V of every layer, forward + backward at 400
//!   tokens; `icor-llm` example `lora_step`) vs the same LoRA as plain torch modules with
//!   autograd (`scripts/lora_step_torch.py`);
//! - one decode-sized product with the weight as f32 and as burn's quantised tensors
//!   (`icor-llm` example `quant_matmul`): would quantised weights narrow the decode gap?
//!
//! With `--probe`, also the wall time of `icor probe all --quick` (default `--jobs`, ~15 min)
//! and one sweep (`docs`, authors' protocol) run three ways: one run at a time on one rayon
//! thread, one at a time on every core's threads, and one run per core ([`probe`]).
//! The Python peers live in `~/.cache/icor/pyref-bench` (`scripts/bench_peers_venv.sh`, run
//! here when the venv lacks them).

mod builds;
mod probe;
mod render;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

const MODELS: [&str; 2] = ["smollm2-135m", "qwen2.5-0.5b"];

struct Options {
    probe: bool,
    only_quantised: bool,
    render_only: bool,
    scalar: bool,
    decode: usize,
    passages: usize,
}

const HELP: &str =
    "cargo xtask bench perf [OPTIONS]: icor's speed against its peers (PyTorch, llama.cpp,
sentence-transformers, JAX) and the machine, every ratio measured back to back in one run;
writes reports/perf.md and reports/perf.json.

Options:
  --probe           also time `icor probe all --quick` and the docs sweep three ways (~15 min more)
  --no-scalar       skip the scalar build (burn without rayon/simd, the \"before\" column)
  --only-quantised  measure only the decode-sized product (f32 against quantised weights)
                    and add it to the committed perf.json
  --render-only     rewrite perf.md from the committed perf.json
  --decode N        tokens decoded per decode workload (default 32)
  --passages N      passages encoded by MiniLM and its peer (default 256)
  -h, --help        this text";

fn options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        probe: false,
        only_quantised: false,
        render_only: false,
        scalar: true,
        decode: 32,
        passages: 256,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--probe" => o.probe = true,
            "--only-quantised" => o.only_quantised = true,
            "--render-only" => o.render_only = true,
            "--no-scalar" => o.scalar = false,
            "--decode" => o.decode = value()?.parse()?,
            "--passages" => o.passages = value()?.parse()?,
            "-h" | "--help" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            other => {
                bail!(
                    "unknown option {other} (--probe, --no-scalar, --only-quantised, --render-only, --decode N, --passages N)"
                )
            }
        }
    }
    Ok(o)
}

/// Runs `cmd`; its last stdout line that parses as JSON.
pub(crate) fn json_line(mut cmd: Command, what: &str) -> Result<Value> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .last()
        .with_context(|| format!("{what} printed no JSON line"))
}

fn python(root: &Path) -> Result<PathBuf> {
    let home = icor_assets::home(None)?;
    let py = home.join("pyref-bench/bin/python");
    let status = Command::new(root.join("scripts/bench_peers_venv.sh"))
        .status()
        .context("running scripts/bench_peers_venv.sh")?;
    anyhow::ensure!(status.success(), "scripts/bench_peers_venv.sh failed");
    Ok(py)
}

fn peer(root: &Path, py: &Path, script: &str, args: &[&str]) -> Result<Value> {
    let mut cmd = Command::new(py);
    cmd.current_dir(root)
        .arg(root.join("scripts").join(script))
        .args(args);
    json_line(cmd, script)
}

/// One decode-sized product per model, f32 vs quantised weights (`quant_matmul`).
fn quantised(now: &builds::Build) -> Result<Vec<Value>> {
    MODELS
        .iter()
        .map(|m| now.run("quant_matmul", &[m], &[]))
        .collect()
}

fn write(root: &Path, result: &Value) -> Result<()> {
    std::fs::write(
        root.join("reports/perf.json"),
        serde_json::to_string_pretty(result)? + "\n",
    )
    .context("writing reports/perf.json")?;
    std::fs::write(root.join("reports/perf.md"), render::markdown(result))
        .context("writing reports/perf.md")?;
    eprintln!("wrote reports/perf.md and reports/perf.json");
    Ok(())
}

fn read(root: &Path) -> Result<Value> {
    let path = root.join("reports/perf.json");
    serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))
}

/// `--only-quantised`: measures the quantised-weights section alone and adds it to the
/// committed `reports/perf.json`, marked as a run of its own with its load averages.
fn only_quantised(root: &Path) -> Result<()> {
    let mut result = read(root)?;
    let now = builds::now(root)?;
    let load_before = crate::machine::load_average();
    result["quantised"] = Value::Array(quantised(&now)?);
    result["quantised_run"] = json!({
        "load_before": load_before,
        "load_after": crate::machine::load_average(),
    });
    write(root, &result)
}

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let o = options(args)?;
    if o.only_quantised {
        return only_quantised(root);
    }
    if o.render_only {
        return write(root, &read(root)?);
    }
    let py = python(root)?;
    let mut builds = vec![builds::now(root)?];
    if o.scalar {
        builds.push(builds::scalar(root)?);
    }
    let load_before = crate::machine::load_average();
    let started = std::time::Instant::now();
    let step = |msg: &str| {
        eprintln!(
            "bench perf [{:>4.0} s]: {msg}",
            started.elapsed().as_secs_f64()
        )
    };

    step("machine: sgemm peak (PyTorch)");
    let machine = peer(root, &py, "machine_peak.py", &[])?;

    let mut workloads = serde_json::Map::new();
    let per_build = |example: &str, args: &[&str]| -> Result<Value> {
        let mut m = serde_json::Map::new();
        for b in &builds {
            step(&format!("{example} {} ({} build)", args.join(" "), b.name));
            m.insert(b.name.into(), b.run(example, args, &[])?);
        }
        Ok(Value::Object(m))
    };

    let mut lsa = per_build("lsa_step", &["--batch", "2048"])?;
    step("lsa step: JAX");
    lsa["jax"] = peer(root, &py, "lsa_step_jax.py", &["--batch", "2048"])?;
    workloads.insert("lsa_step".into(), lsa);

    let passages = o.passages.to_string();
    let mut enc = per_build("encode_speed", &["--passages", &passages])?;
    step("encode: sentence-transformers");
    let home = icor_assets::home(None)?;
    let corpus = icor_qa::data::corpus_path(&home);
    let model = icor_assets::ensure(&home, "minilm-l6-v2")?;
    enc["sentence_transformers"] = peer(
        root,
        &py,
        "retrieval_st_bench.py",
        &[
            "--model",
            &model.to_string_lossy(),
            "--corpus",
            &corpus.to_string_lossy(),
            "--limit",
            &passages,
        ],
    )?;
    workloads.insert("encode".into(), enc);

    let decode = o.decode.to_string();
    for m in MODELS {
        let mut llm = per_build("llm_bench", &["--decode", &decode, m])?;
        // The now build with fewer bytes per decoded token: each setting on its own.
        for (key, what, flag) in [
            ("now_f16", "f16 decode weights", "--decode-weights"),
            ("now_kv16", "the KV cache in f16", "--kv-cache"),
        ] {
            step(&format!("{m}: icor with {what}"));
            let args = ["--decode", &decode, flag, "f16", m];
            llm[key] = builds[0].run("llm_bench", &args, &[])?;
        }
        step(&format!("{m}: PyTorch"));
        llm["torch"] = peer(root, &py, "llm_speed_torch.py", &["--decode", &decode, m])?;
        step(&format!("{m}: llama.cpp"));
        llm["llama_cpp"] = peer(
            root,
            &py,
            "llm_speed_llamacpp.py",
            &["--decode", &decode, m],
        )?;
        workloads.insert(format!("llm/{m}"), llm);
        let mut lora = per_build("lora_step", &[m])?;
        step(&format!("{m}: LoRA step, PyTorch"));
        lora["torch"] = peer(root, &py, "lora_step_torch.py", &[m])?;
        workloads.insert(format!("lora/{m}"), lora);
    }
    step("quantised weights: one decode-sized product, f32 vs burn's q8 (now build)");
    let quant = quantised(&builds[0])?;

    let probe = if o.probe {
        let mut p = probe::measure(root, &step)?;
        p["load_before"] = json!(load_before);
        p["load_after"] = json!(crate::machine::load_average());
        p["date"] = json!(today());
        Some(p)
    } else {
        // without --probe the last run's probe measurement stays, marked as carried over
        read(root).ok().and_then(|old| {
            let mut p = old.get("probe").filter(|p| !p.is_null())?.clone();
            if p.get("carried_from").is_none() {
                // files written before runs were dated: the whole run's load averages
                p["carried_from"] = old["date"].as_str().map_or_else(
                    || json!("an earlier run"),
                    |d| json!(format!("the run of {d}")),
                );
                for key in ["load_before", "load_after"] {
                    if p.get(key).is_none() {
                        p[key] = old[key].clone();
                    }
                }
            }
            Some(p)
        })
    };

    let result = json!({
        "date": today(),
        "cpu": crate::machine::cpu_name(),
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "load_before": load_before,
        "load_after": crate::machine::load_average(),
        "seconds": started.elapsed().as_secs_f64(),
        "builds": builds.iter().map(|b| json!({"name": b.name, "label": b.label})).collect::<Vec<_>>(),
        "machine": machine,
        "workloads": workloads,
        "quantised": quant,
        "probe": probe,
    });
    write(root, &result)
}

/// `cargo xtask check`: `reports/perf.md` is what `reports/perf.json` renders to.
pub fn check(root: &Path) -> Result<()> {
    let path = root.join("reports/perf.md");
    let committed =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    if committed != render::markdown(&read(root)?) {
        bail!(
            "{} is stale against reports/perf.json: run `cargo xtask bench perf --render-only`",
            path.display()
        );
    }
    eprintln!("perf: reports/perf.md matches reports/perf.json");
    Ok(())
}

/// Today's date (UTC) as `date -u +%F` prints it.
fn today() -> String {
    Command::new("date")
        .args(["-u", "+%F %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
