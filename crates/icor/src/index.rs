//! The index of a reports folder (`reports/README.md`, and the one `icor reproduce` writes):
//! every report the folder holds, linked, and the headline result of each part of the paper
//! with its CI — computed here from the folder's own results files, never typed.
//!
//! - Theory: every identity of `icor-linear` on 2000 seeded cases (the check `icor verify
//!   --cases 2000` and `reports/verify.md` run), recomputed in-process (seconds).
//! - Boundary study: `probe/docs.json`, summarised by icor-probe's own `summarise` (stalled runs
//!   left out, with their count): sensitivity cosine of the trained depth-1 LSA to the GD
//!   predictor, against the untrained control.
//! - Method: every `rag/<profile>.json`: which retrievers and sets it covers and the paper's
//!   claims as `icor_rag::analysis::claims` judges them.
//! - Premise: every `mechanism/<name>.json`: the verdicts `icor_rag::mechanism::analysis`
//!   reaches at the fitted η of each interface.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use icor_linear::identities::Identity;
use icor_probe::sweep::{Run, summarise};

/// Random cases per identity in the theory line.
pub const THEORY_CASES: u64 = 2000;

/// Reports a folder may hold, with what each is; only those present are linked.
const REPORTS: [(&str, &str); 23] = [
    (
        "verify.md",
        "theory: every identity of the linear theory on 2000 random cases",
    ),
    (
        "probe.md",
        "boundary study: where trained transformers match the GD predictor",
    ),
    (
        "probe-tables.md",
        "boundary study: every table, generated from `probe/*.json`, and the checked findings on both seed blocks",
    ),
    (
        "probe-seed3",
        "boundary study: the same sweeps on training seeds 3–5 (the second seed block)",
    ),
    (
        "probe-plateau.md",
        "boundary study: which quick budget gets runs off the initial plateau, and the restart rule that gets every run off it",
    ),
    (
        "probe-authors-budget",
        "boundary study: the docs sweep of the authors' protocol at the authors' budget (batch 2048, 8,000 steps)",
    ),
    ("figures", "boundary-study and RAG figures (SVG and PNG)"),
    (
        "rag.md",
        "RAG-GD: reading of the quick profile against the paper",
    ),
    (
        "rag-smoke.md",
        "RAG-GD: the CI profile, every stage end to end on a few questions",
    ),
    (
        "rag-quick.md",
        "RAG-GD: the quick profile, every method, generated from `rag/quick.json`",
    ),
    (
        "rag-quick--all-layers.md",
        "RAG-GD ablation: `W_0^ret` on every layer against the top 2, paired on the same questions, from `rag/quick--all-layers.json`",
    ),
    (
        "rag-interface-interface.md",
        "RAG-GD: the interface study for `W_0^ret` (top 2, 8, 16 and every layer, trained until the dev loss stops improving; dev EM, cost per step, the choice), from `rag/interface/interface/*.json`",
    ),
    (
        "rag-cpu.md",
        "RAG-GD: the cpu profile (Qwen2.5-0.5B), generated from `rag/cpu.json`",
    ),
    ("rag-compute.md", "RAG-GD: compute cost of each stage"),
    (
        "mechanism.md",
        "the premise at LLM scale: in-context demonstrations against one gradient step on the Q/K/V interface, with controls, generated from `mechanism/*.json`",
    ),
    (
        "mechanism-reading.md",
        "the premise at LLM scale: what the mechanism study says for the paper and for RAG-GD",
    ),
    (
        "retrieval.md",
        "retrieval: recall@k and speed of BM25 and dense MiniLM",
    ),
    (
        "perf.md",
        "speed: LSA step, MiniLM encoding, LLM prefill/decode against JAX, sentence-transformers, PyTorch, llama.cpp and the machine, before and after burn's rayon/simd/AVX-512; quantised weights; `icor probe` threads vs concurrent runs",
    ),
    (
        "perf-reading.md",
        "speed: what holds each `perf.md` row back and the plan to close it",
    ),
    (
        "bench-linear.md",
        "speed: LSA layer against the GD step (criterion)",
    ),
    (
        "bench-train-step.md",
        "speed: one boundary-study training step per backend (criterion)",
    ),
    (
        "bench-rag-step.md",
        "speed: the method's workloads (prefill, decode, a LoRA step on the top 2 or every layer, g_φ) per backend (criterion)",
    ),
    (
        "gpu",
        "one GPU run of the backend suites and the training-step bench, with the device named",
    ),
];

/// The index of `dir`, as Markdown.
pub fn render(dir: &Path) -> Result<String> {
    let mut out = String::from("# icor reports\n\n");
    out.push_str("Generated from this folder's results files by `cargo xtask reports-index` (for `reports/`) or `icor reproduce` (for the folder it writes); every number below is computed from those files, and `cargo xtask check` fails when `reports/README.md` is stale.\n\n");
    out.push_str("## Reports\n\n");
    for (name, what) in REPORTS {
        if dir.join(name).exists() {
            writeln!(out, "- [`{name}`]({name}): {what}")?;
        }
    }
    out.push_str("\n## Headline results\n\n");
    theory(&mut out)?;
    probe(&mut out, dir)?;
    rag(&mut out, dir)?;
    mechanism(&mut out, dir)?;
    Ok(out)
}

/// Theory: how many identities hold on every case.
fn theory(out: &mut String) -> Result<()> {
    let mut failed = Vec::new();
    for identity in Identity::ALL {
        let sweep = identity
            .sweep(0..THEORY_CASES)
            .with_context(|| format!("identity {}", identity.name()))?;
        if let Some(seed) = sweep.first_failure {
            failed.push(format!("`{}` (seed {seed})", identity.name()));
        }
    }
    let n = Identity::ALL.len();
    writeln!(
        out,
        "### Theory (Lemma 1, App. B, K layers = K steps, preconditioning)\n"
    )?;
    if failed.is_empty() {
        writeln!(
            out,
            "All {n} identities hold on {THEORY_CASES} random cases each: the constructed LSA layer's output equals the GD step's to within 16·ε·(number of terms) relative error (table: `verify.md`, proofs: `proofs/`).\n"
        )?;
    } else {
        writeln!(
            out,
            "**{} of {n} identities fail**: {}.\n",
            failed.len(),
            failed.join(", ")
        )?;
    }
    Ok(())
}

/// Boundary study: the document-count sweep, depth 1.
fn probe(out: &mut String, dir: &Path) -> Result<()> {
    let path = dir.join("probe").join("docs.json");
    writeln!(
        out,
        "### Boundary study (document-count sweep, trained LSA depth 1 vs the GD predictor)\n"
    )?;
    if !path.exists() {
        writeln!(
            out,
            "Not run: `probe/docs.json` is missing (`icor probe docs --quick`).\n"
        )?;
        return Ok(());
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let runs: Vec<Run> = serde_json::from_value(v["runs"].clone())
        .with_context(|| format!("the runs of {}", path.display()))?;
    writeln!(
        out,
        "Sensitivity cosine (∂ŷ/∂x_q of the trained model against the GD predictor's), mean ± 95 % CI over converged seeds, beside the same model untrained. Budget `{}`: batch {}, {} steps, lr {}.\n",
        v["profile"]["name"].as_str().unwrap_or("?"),
        v["profile"]["train"]["batch"],
        v["profile"]["train"]["steps"],
        v["profile"]["train"]["lr"]
    )?;
    writeln!(
        out,
        "| protocol | documents | cosine | untrained | seeds converged |\n|---|---|---|---|---|"
    )?;
    for s in summarise(&runs).iter().filter(|s| s.arch == "LSA depth 1") {
        writeln!(
            out,
            "| {} | {} | {:.3} ± {:.3} | {:.3} ± {:.3} | {} of {} |",
            s.protocol,
            s.docs,
            s.sens_cos.mean,
            s.sens_cos.half_width,
            s.control_sens_cos.mean,
            s.control_sens_cos.half_width,
            s.seeds - s.stalled.len(),
            s.seeds
        )?;
    }
    out.push('\n');
    Ok(())
}

/// Method: every results file's coverage and claims.
fn rag(out: &mut String, dir: &Path) -> Result<()> {
    writeln!(
        out,
        "### RAG-GD on the frozen LLM (the paper's claims, §6.5)\n"
    )?;
    let folder = dir.join("rag");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    if files.is_empty() {
        writeln!(
            out,
            "Not run: no results under `rag/` (`icor rag run --profile quick`).\n"
        )?;
        return Ok(());
    }
    for path in files {
        let r = icor_rag::experiment::run::load_results(&path)?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A variant of a profile (`quick--all-layers.json`): an ablation, read against its
        // profile's run in its own report, not a claims table of its own.
        if let Some((base, what)) = stem.split_once("--") {
            writeln!(
                out,
                "**Ablation `{what}` of profile `{base}`** (`rag/{stem}.json`): paired against \
                 `rag/{base}.json` in [`rag-{stem}.md`](rag-{stem}.md).\n"
            )?;
            continue;
        }
        let questions: usize = r.sets.iter().map(|s| s.questions.len()).sum();
        let covered: Vec<String> = r
            .profile
            .retrievers
            .iter()
            .map(|ret| {
                let sets = r.sets.iter().filter(|s| &s.retriever == ret).count();
                format!("{ret} ({sets} of {} sets)", r.profile.eval_sets.len())
            })
            .collect();
        writeln!(
            out,
            "**Profile `{}`** (`rag/{}`, model {}): {}; {questions} evaluated (retriever, question) pairs{}.\n",
            r.profile.name,
            path.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            r.profile.model,
            covered.join(", "),
            if r.complete { "" } else { "; **partial run**" }
        )?;
        let claims = icor_rag::analysis::claims::check(&r);
        if claims.is_empty() {
            writeln!(out, "No claim can be checked yet.\n")?;
            continue;
        }
        icor_rag::analysis::claims::table(out, &claims);
        out.push('\n');
    }
    Ok(())
}

/// Premise: the mechanism study's verdicts per study (a model, or a variant of its study) and
/// interface.
fn mechanism(out: &mut String, dir: &Path) -> Result<()> {
    let analyses = icor_rag::mechanism::files::load_all(dir)?;
    if analyses.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "### The premise at LLM scale: demonstrations in context vs one gradient step\n"
    )?;
    writeln!(
        out,
        "| study | N | K | contexts | interface | whole effect vs random update | demo-specific part vs permutation |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    for a in &analyses {
        for i in &a.interfaces {
            let at = i.at.iter().find(|x| x.fitted).unwrap_or(&i.at[0]);
            writeln!(
                out,
                "| {} | {} | {} | {} of {}{} | {}{} (η = {}) | {} (centred cos {:.3}) | {} (matched − permuted {:+.3} [{:+.3}, {:+.3}]) |",
                a.name,
                a.settings.demos,
                a.settings.steps,
                a.measured,
                a.settings.contexts,
                if a.complete { "" } else { ", partial" },
                if a.settings.adapter.is_some() {
                    "LoRA at W_0^ret, "
                } else {
                    ""
                },
                i.name,
                at.label(),
                i.verdict_whole,
                at.rows[0].cos_centred.mean,
                i.verdict_specific,
                at.specific.matched_minus_permuted.diff.mean,
                at.specific.matched_minus_permuted.diff.lo,
                at.specific.matched_minus_permuted.diff.hi,
            )?;
        }
    }
    out.push('\n');
    Ok(())
}
