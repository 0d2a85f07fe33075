//! `cargo xtask probe-report [--check]`: renders `reports/probe-tables.md` from the sweep JSON
//! files under `reports/probe/` (written by `icor probe`). Every number and every "holds / does
//! not hold" verdict below is computed here from those files; `--check` fails when the
//! committed tables are stale. The summaries are recomputed from the runs with icor-probe's own
//! `summarise`, which judges every run afresh (`icor_probe::converge`) and leaves stalled runs
//! out of the means, so files written before the verdict was stored read the same way.

mod tabular;

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use icor_probe::converge::Convergence;
use icor_probe::sweep::{Run, summarise};
use serde_json::Value;

const SWEEPS: [&str; 4] = ["docs", "alpha", "depth", "archs"];

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// "mean ± half-width", "mean" with one value, "–" with none (every seed stalled).
fn ci(v: &Value) -> String {
    let (m, h) = (f(&v["mean"]), f(&v["half_width"]));
    if v["n"].as_u64() == Some(0) || !m.is_finite() {
        "–".to_string()
    } else if h.is_finite() {
        format!("{m:.4} ± {h:.4}")
    } else {
        format!("{m:.4}")
    }
}

/// Spearman's ρ (no ties expected in these small monotonicity checks).
fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let rank = |v: &[f64]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        for (k, &i) in idx.iter().enumerate() {
            r[i] = k as f64;
        }
        r
    };
    let (ra, rb) = (rank(a), rank(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// A results file as JSON, or `None` when it does not exist.
fn read_json(path: &Path) -> Result<Option<Value>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?,
        )),
        Err(_) => Ok(None),
    }
}

/// "Profile **quick** (batch …, … steps, lr …, clip …; the depth and softmax rates),
/// N seed(s) from S".
fn profile_line(v: &Value) -> String {
    let p = &v["profile"];
    let mut rates = String::new();
    if let Some(power) = p["depth_lr_power"].as_f64() {
        rates.push_str(&format!("; a depth-L stack at lr/L^{power}"));
    }
    if let Some(lr) = p["softmax_lr"].as_f64() {
        rates.push_str(&format!("; softmax attention at lr {lr}"));
    }
    profile_line_with_steps(v, &p["train"]["steps"], &rates)
}

/// [`profile_line`] with the steps of the tabular studies (the profile's `tabular_steps`
/// where it sets them).
fn tabular_profile_line(v: &Value) -> String {
    let p = &v["profile"];
    match &p["tabular_steps"] {
        Value::Null => profile_line_with_steps(v, &p["train"]["steps"], ""),
        steps => profile_line_with_steps(v, steps, ""),
    }
}

fn profile_line_with_steps(v: &Value, steps: &Value, rates: &str) -> String {
    let p = &v["profile"];
    let restarts = match p["restarts"].as_u64() {
        Some(1) => "; a stalled run restarted at most once".to_string(),
        Some(k) if k > 1 => format!("; a stalled run restarted at most {k} times"),
        _ => String::new(),
    };
    format!(
        "Profile **{}** (batch {}, {} steps, lr {}, clip {}{rates}{restarts}), {} seed(s) from {}",
        p["name"].as_str().unwrap_or("?"),
        p["train"]["batch"],
        steps,
        p["train"]["lr"],
        p["train"]["clip"],
        p["seeds"],
        v["base_seed"]
    )
}

/// "backend cpu; N runs, T s of training and evaluation".
fn runs_line(v: &Value) -> String {
    let secs: f64 = v["runs"]
        .as_array()
        .map(|r| r.iter().map(|x| f(&x["seconds"])).sum())
        .unwrap_or(0.0);
    format!(
        "backend {}; {} runs, {:.0} s of training and evaluation",
        v["backend"].as_str().unwrap_or("?"),
        v["runs"].as_array().map_or(0, |r| r.len()),
        secs
    )
}

/// Summary rows of one protocol and architecture that have a converged seed.
fn rows<'a>(summary: &'a [Value], protocol: &str, arch: &str) -> Vec<&'a Value> {
    summary
        .iter()
        .filter(|s| s["protocol"] == protocol && s["arch"] == arch)
        .filter(|s| s["loss_model"]["n"].as_u64() != Some(0))
        .collect()
}

/// Seeds whose run stalled in a summary row (`stalled` of `Summary` / `TabularSummary`).
fn stalled_seeds(s: &Value) -> Vec<u64> {
    s["stalled"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

/// (converged, seeds run) of a summary row. Shared with `cargo xtask figures`.
pub fn converged_of(s: &Value) -> (u64, u64) {
    let seeds = s["seeds"].as_u64().unwrap_or(0);
    (seeds.saturating_sub(stalled_seeds(s).len() as u64), seeds)
}

/// The *converged* cell of a summary row: "3 of 3", "**2 of 3** (stalled: seed 5)", with
/// "(seed 0 after 1 restart)" where a seed's first attempts stalled and were trained again.
fn converged_cell(s: &Value) -> String {
    let (k, seeds) = converged_of(s);
    let stalled = stalled_seeds(s);
    let mut cell = if stalled.is_empty() {
        format!("{k} of {seeds}")
    } else {
        let list: Vec<String> = stalled.iter().map(u64::to_string).collect();
        format!("**{k} of {seeds}** (stalled: seed {})", list.join(", "))
    };
    let restarted: Vec<String> = s["restarted"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((p[0].as_u64()?, p[1].as_u64()?)))
                .map(|(seed, n)| {
                    format!(
                        "seed {seed} after {n} restart{}",
                        if n == 1 { "" } else { "s" }
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if !restarted.is_empty() {
        cell.push_str(&format!(" ({})", restarted.join(", ")));
    }
    cell
}

/// Summary rows recomputed from a results file's runs (`serde_json::to_value` of them).
fn summary_of(rows: serde_json::Result<Value>) -> Result<Vec<Value>> {
    Ok(rows?.as_array().cloned().unwrap_or_default())
}

/// The runs of a sweep file and their summary rows, recomputed.
fn runs_and_summary(v: &Value, name: &str) -> Result<(Vec<Run>, Vec<Value>)> {
    let runs: Vec<Run> = serde_json::from_value(v["runs"].clone())
        .with_context(|| format!("runs of {name}.json"))?;
    let summary = summary_of(serde_json::to_value(summarise(&runs)))?;
    Ok((runs, summary))
}

/// The summary rows of the results file `{name}.json` (parsed as `v`), recomputed from its runs
/// exactly as the tables are: icor-probe's own `summarise`, stalled runs left out, never the
/// stored `summary`. The tabular studies (`nonlinear`, `features`) hold `TabularRun`s, the
/// sweeps `Run`s. Shared with `cargo xtask figures`.
pub fn summary(v: &Value, name: &str) -> Result<Vec<Value>> {
    if tabular::STUDIES.contains(&name) {
        Ok(tabular::runs_and_summary(v, name)?.1)
    } else {
        Ok(runs_and_summary(v, name)?.1)
    }
}

/// One stalled run for the list under its table: what it is, its final loss against its
/// untrained control and GD, its curve's last third, and which rule flagged it.
fn stalled_line(
    label: &str,
    trained_loss: f64,
    control_loss: f64,
    gd_loss: f64,
    c: &Convergence,
) -> String {
    let mut line = format!(
        "- {label}: final loss {trained_loss:.4} against {control_loss:.4} untrained and {gd_loss:.4} for GD"
    );
    if let Some(p) = c.progress {
        let _ = write!(line, " ({:.0}% of the gap closed)", 100.0 * p);
    }
    if let Some(t) = c.last_third {
        let excess = t.loss_model - t.loss_gd;
        let _ = write!(
            line,
            "; last third of the curve at {:.2} × GD",
            t.loss_model / t.loss_gd
        );
        if excess > 0.0 {
            let _ = write!(
                line,
                ", falling by {:.0}% of its excess",
                100.0 * t.decrease / excess
            );
        }
    }
    let rules: Vec<&str> = [
        (c.at_untrained_level, "loss at the untrained level"),
        (c.flat_above_gd, "flat far above GD"),
    ]
    .iter()
    .filter(|(hit, _)| *hit)
    .map(|(_, r)| *r)
    .collect();
    let _ = write!(line, " → {}.", rules.join(", "));
    line
}

/// The stalled runs of a sweep, listed under its table (nothing when none stalled).
fn stalled_runs(out: &mut String, runs: &[Run]) -> Result<()> {
    let lines: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            let c = r.convergence().filter(|c| c.stalled)?;
            let e = r.train_eval()?;
            let label = format!(
                "{}, {}, {} docs, seed {} (α = {}, sensitivity cosine {:.3}, control {:.3})",
                r.protocol,
                r.arch.label(),
                r.docs,
                r.seed,
                e.alpha,
                e.trained.sens_cos,
                e.control.sens_cos
            );
            Some(stalled_line(
                &label,
                e.trained.loss_model,
                e.control.loss_model,
                e.trained.loss_gd,
                &c,
            ))
        })
        .collect();
    write_stalled(out, &lines)
}

/// "Stalled runs, left out of every mean, CI and check above: …".
fn write_stalled(out: &mut String, lines: &[String]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "**Stalled runs**, left out of every mean, CI and check of this section (rule: `crates/icor-probe/src/converge.rs`):\n"
    )?;
    for l in lines {
        writeln!(out, "{l}")?;
    }
    out.push('\n');
    Ok(())
}

/// One finding of the paper, checked on one seed block.
pub struct Check {
    /// What the paper says (the same text on every block, so blocks can be matched).
    pub claim: String,
    /// What was measured.
    pub detail: String,
    pub holds: bool,
    /// Shown only in the seed-block comparison (its per-row evidence is listed elsewhere).
    pub block_only: bool,
}

pub fn verdict(holds: bool) -> &'static str {
    if holds { "holds" } else { "does not hold" }
}

/// The document-count findings of a docs-sweep summary, and the per-row "cosine above the
/// untrained control" verdicts.
fn docs_checks(summary: &[Value]) -> (Vec<Check>, Vec<String>) {
    let mut checks = Vec::new();
    for (protocol, claim) in [
        ("projection", "loss grows with document count"),
        ("dot_product", "loss is flat in document count"),
        ("authors", "loss is flat in document count"),
    ] {
        let r = rows(summary, protocol, "LSA depth 1");
        if r.len() < 2 {
            continue;
        }
        let docs: Vec<f64> = r.iter().map(|s| f(&s["docs"])).collect();
        let tf: Vec<f64> = r.iter().map(|s| f(&s["loss_model"]["mean"])).collect();
        let gd: Vec<f64> = r.iter().map(|s| f(&s["loss_gd"]["mean"])).collect();
        let spread = gd.iter().cloned().fold(f64::MIN, f64::max)
            / gd.iter().cloned().fold(f64::MAX, f64::min);
        let rho = spearman(&docs, &gd);
        let holds = if protocol == "projection" {
            rho > 0.9 && spread > 1.2
        } else {
            spread < 1.1
        };
        let left_out: usize = summary
            .iter()
            .filter(|s| s["protocol"] == protocol && s["arch"] == "LSA depth 1")
            .map(|s| stalled_seeds(s).len())
            .sum();
        let note = if left_out > 0 {
            format!(" (over converged seeds only: {left_out} stalled run(s) left out)")
        } else {
            String::new()
        };
        checks.push(Check {
            claim: format!("**{protocol}** — paper: {claim}"),
            detail: format!(
                "GD loss max/min over document counts = {spread:.3}, Spearman ρ(docs, GD loss) = {rho:.2}, ρ(docs, TF loss) = {:.2}{note}",
                spearman(&docs, &tf)
            ),
            holds,
            block_only: false,
        });
    }
    let mut beats = Vec::new();
    let mut above: Vec<(String, bool, usize, usize)> = Vec::new();
    for s in summary {
        let (c, h, cc, ch) = (
            f(&s["sens_cos"]["mean"]),
            f(&s["sens_cos"]["half_width"]),
            f(&s["control_sens_cos"]["mean"]),
            f(&s["control_sens_cos"]["half_width"]),
        );
        let sep = if h.is_finite() && ch.is_finite() {
            c - h > cc + ch
        } else {
            c > cc
        };
        let none = s["sens_cos"]["n"].as_u64() == Some(0);
        let text = if none {
            "no converged seed".to_string()
        } else if stalled_seeds(s).is_empty() {
            (if sep { "yes" } else { "no" }).to_string()
        } else {
            let (k, n) = converged_of(s);
            format!(
                "{} ({k} of {n} seeds converged)",
                if sep { "yes" } else { "no" }
            )
        };
        let protocol = s["protocol"].as_str().unwrap_or("?").to_string();
        beats.push(format!("{protocol} docs={}: {text}", s["docs"]));
        let (k, n) = converged_of(s);
        match above.iter_mut().find(|a| a.0 == protocol) {
            Some(a) => {
                a.1 &= sep && !none;
                a.2 += k as usize;
                a.3 += n as usize;
            }
            None => above.push((protocol, sep && !none, k as usize, n as usize)),
        }
    }
    for (protocol, holds, k, n) in above {
        checks.push(Check {
            claim: format!("**{protocol}** — trained LSA's sensitivity cosine above the untrained control at every document count"),
            detail: format!("{k} of {n} runs converged"),
            holds,
            block_only: true,
        });
    }
    (checks, beats)
}

/// Every checked finding of one seed block's folder (docs sweep and the §4.3 study).
fn block_checks(dir: &Path) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    if let Some(v) = read_json(&dir.join("docs.json"))? {
        checks.extend(docs_checks(&runs_and_summary(&v, "docs")?.1).0);
    }
    if let Some(v) = read_json(&dir.join("nonlinear.json"))? {
        checks.extend(tabular::checks(
            &tabular::runs_and_summary(&v, "nonlinear")?.1,
        ));
    }
    Ok(checks)
}

/// The folder of the authors'-budget docs sweep (`icor probe docs --protocol authors --out …`).
pub const AUTHORS_BUDGET: &str = "reports/probe-authors-budget";

/// The paper's Fig. 5 (dot-product interface, read off the figure, rounded to two digits):
/// (documents, TF loss, GD loss).
const PAPER_FIG5: [(u64, f64, f64); 4] = [
    (2, 0.56, 0.56),
    (5, 0.57, 0.56),
    (10, 0.57, 0.57),
    (25, 0.57, 0.57),
];

/// The authors'-budget docs sweep beside the paper's Fig. 5, when it has been run.
fn authors_budget(root: &Path, out: &mut String) -> Result<()> {
    let Some(v) = read_json(&root.join(AUTHORS_BUDGET).join("docs.json"))? else {
        return Ok(());
    };
    let (runs, summary) = runs_and_summary(&v, "docs")?;
    let seconds: f64 = runs.iter().map(|r| r.seconds).sum();
    let planned = PAPER_FIG5.len() * v["profile"]["seeds"].as_u64().unwrap_or(3) as usize;
    let partial = if runs.len() < planned {
        format!(
            " **Partial: {} of {planned} runs done** (the run resumes where it stopped).",
            runs.len()
        )
    } else {
        String::new()
    };
    writeln!(
        out,
        "## The authors' budget: document-count sweep, authors' protocol, depth 1\n\n`icor probe docs --protocol authors --out {AUTHORS_BUDGET}` ({}), {} held-out tasks, {}. Wall time, summed over runs: {:.0} min (one thread, sharing the 2-core machine with other jobs).{partial}\n\nThe paper's values are read off its Fig. 5 (dot-product interface, rounded to two digits): the paper plots loss only.\n",
        profile_line(&v),
        v["profile"]["eval_tasks"],
        runs_line(&v),
        seconds / 60.0
    )?;
    out.push_str("| docs | converged | loss TF | loss GD | paper TF | paper GD | pred diff | cos | cos (control) |\n|---|---|---|---|---|---|---|---|---|\n");
    for s in rows(&summary, "authors", "LSA depth 1") {
        let docs = s["docs"].as_u64().unwrap_or(0);
        let paper = PAPER_FIG5.iter().find(|p| p.0 == docs);
        writeln!(
            out,
            "| {docs} | {} | {} | {} | {} | {} | {} | {} | {} |",
            converged_cell(s),
            ci(&s["loss_model"]),
            ci(&s["loss_gd"]),
            paper.map_or("–".into(), |p| format!("{:.2}", p.1)),
            paper.map_or("–".into(), |p| format!("{:.2}", p.2)),
            ci(&s["pred_diff"]),
            ci(&s["sens_cos"]),
            ci(&s["control_sens_cos"])
        )?;
    }
    out.push('\n');
    stalled_runs(out, &runs)?;
    Ok(())
}

/// The folder of the second seed block (`icor probe all --quick --seed 3 --out …`).
pub const SECOND_BLOCK: &str = "reports/probe-seed3";

/// "231 of 231 runs converged (1 after a restart)": every run of a block's sweeps and tabular
/// studies, judged as the tables judge them.
fn census(dir: &Path) -> Result<String> {
    let (mut runs, mut converged, mut restarted) = (0, 0, 0);
    for sweep in SWEEPS {
        if let Some(v) = read_json(&dir.join(format!("{sweep}.json")))? {
            for r in runs_and_summary(&v, sweep)?.0 {
                runs += 1;
                converged += usize::from(!r.stalled());
                restarted += usize::from(!r.restarts.is_empty());
            }
        }
    }
    for study in ["nonlinear", "features"] {
        if let Some(v) = read_json(&dir.join(format!("{study}.json")))? {
            for r in tabular::runs_and_summary(&v, study)?.0 {
                runs += 1;
                converged += usize::from(!r.convergence().stalled);
                restarted += usize::from(!r.restarts.is_empty());
            }
        }
    }
    let after = match restarted {
        0 => String::new(),
        1 => " (1 after a restart)".to_string(),
        k => format!(" ({k} after restarts)"),
    };
    Ok(format!("{converged} of {runs} runs converged{after}"))
}

/// The checked findings on both seed blocks side by side, when the second block exists.
/// `a`: the first block's findings, as `render` checked them.
fn blocks(root: &Path, a: &[Check], out: &mut String) -> Result<()> {
    let second = root.join(SECOND_BLOCK);
    if !second.join("docs.json").exists() {
        return Ok(());
    }
    let b = block_checks(&second)?;
    let seeds = |dir: &Path| -> Result<String> {
        Ok(read_json(&dir.join("docs.json"))?
            .map(|v| {
                let s = v["base_seed"].as_u64().unwrap_or(0);
                let n = v["profile"]["seeds"].as_u64().unwrap_or(3);
                format!("seeds {s}–{}", s + n.max(1) - 1)
            })
            .unwrap_or_else(|| "?".into()))
    };
    let (sa, sb) = (seeds(&root.join("reports/probe"))?, seeds(&second)?);
    writeln!(
        out,
        "## The checked findings on two disjoint seed blocks\n\nThe same sweeps run again on another block of training seeds (`icor probe all --quick --seed 3 --out {SECOND_BLOCK}`; its tables are not repeated here). A finding is robust only when it gets the same verdict on both blocks; stalled runs are left out of each block as above.\n\nEvery run of every sweep and study: {sa}, {}; {sb}, {}.\n\n| finding | {sa} | {sb} | same on both |\n|---|---|---|---|",
        census(&root.join("reports/probe"))?,
        census(&second)?
    )?;
    let (mut differ, mut compared) = (0, 0);
    for ca in a {
        let Some(cb) = b.iter().find(|c| c.claim == ca.claim) else {
            writeln!(
                out,
                "| {} | {} ({}) | not run | – |",
                ca.claim,
                verdict(ca.holds),
                ca.detail
            )?;
            continue;
        };
        let same = ca.holds == cb.holds;
        differ += usize::from(!same);
        compared += 1;
        writeln!(
            out,
            "| {} | {} ({}) | {} ({}) | {} |",
            ca.claim,
            verdict(ca.holds),
            ca.detail,
            verdict(cb.holds),
            cb.detail,
            if same { "yes" } else { "**no**" }
        )?;
    }
    writeln!(
        out,
        "\n{} of {compared} findings run on both blocks get the same verdict on both.\n",
        compared - differ
    )?;
    Ok(())
}

fn render(root: &Path) -> Result<String> {
    let dir = root.join("reports/probe");
    let mut out = String::from("# Boundary study: tables (generated)\n\n");
    out.push_str("Generated by `cargo xtask probe-report` from `reports/probe/*.json` (written by `icor probe`).\n");
    out.push_str("Mean ± half-width of the 95% CI over training seeds. *loss* = ½·mean (ŷ − y)²; *pred diff* = mean |ŷ_TF − ŷ_GD|;\n");
    out.push_str("*cos* = mean cosine of the input sensitivities ∂ŷ/∂x_q (autodiff); *control* = the same architecture untrained.\n");
    out.push_str("*converged* = seeds whose run left the initial plateau, judged from the run itself (`crates/icor-probe/src/converge.rs`): a run is stalled when its final loss closes less than 15% of the gap from its untrained control to GD, or when its curve's last third sits at ≥ 1.5 × the GD loss and falls by less than 10% of that excess. Stalled runs are listed under their table and left out of every mean, CI and check; a row shows how many seeds its numbers rest on. *Restarts* (quick profile): a run whose training curve (1,000 fresh tasks of the training distribution, never the held-out tasks) stalls by the same rules is trained again from a fresh initialisation and data stream, as many times as the profile line says (`train_restarting` in `crates/icor-probe/src/train.rs`); the cell names every seed that needed it, and the control shares the kept attempt's initialisation.\n\n");
    let mut found = false;
    // This block's findings, kept for the seed-block comparison.
    let mut first_block = Vec::new();
    for sweep in SWEEPS {
        let Some(v) = read_json(&dir.join(format!("{sweep}.json")))? else {
            continue;
        };
        found = true;
        let (runs, summary) = runs_and_summary(&v, sweep)?;
        writeln!(
            out,
            "## Sweep `{sweep}`\n\n{}, {} held-out tasks, {}.\n",
            profile_line(&v),
            v["profile"]["eval_tasks"],
            runs_line(&v)
        )?;
        out.push_str("| protocol | model | docs | α | converged | loss TF | loss GD | pred diff | cos | cos (control) | pred diff (control) | interp. loss |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for s in &summary {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                s["protocol"].as_str().unwrap_or("?"),
                s["arch"].as_str().unwrap_or("?"),
                s["docs"],
                s["alpha"],
                converged_cell(s),
                ci(&s["loss_model"]),
                ci(&s["loss_gd"]),
                ci(&s["pred_diff"]),
                ci(&s["sens_cos"]),
                ci(&s["control_sens_cos"]),
                ci(&s["control_pred_diff"]),
                if s["interp_loss"].is_null() {
                    "–".to_string()
                } else {
                    ci(&s["interp_loss"])
                }
            )?;
        }
        out.push('\n');
        stalled_runs(&mut out, &runs)?;
        if sweep == "docs" {
            out.push_str("### The paper's document-count findings, checked\n\n");
            let (checks, beats) = docs_checks(&summary);
            for c in checks.iter().filter(|c| !c.block_only) {
                writeln!(
                    out,
                    "- {}. {} → **{}**.",
                    c.claim,
                    c.detail,
                    verdict(c.holds)
                )?;
            }
            writeln!(
                out,
                "- Sensitivity cosine above the untrained control with non-overlapping CIs: {}.\n",
                beats.join("; ")
            )?;
            first_block.extend(checks);
        }
    }
    let (tabular_found, tabular_checks) = tabular::render(&dir, &mut out)?;
    found |= tabular_found;
    first_block.extend(tabular_checks);
    blocks(root, &first_block, &mut out)?;
    authors_budget(root, &mut out)?;
    if !found {
        bail!(
            "no sweep results under {}: run `icor probe all --quick` first",
            dir.display()
        );
    }
    Ok(out)
}

pub fn run(root: &Path, check: bool) -> Result<()> {
    let path = root.join("reports/probe-tables.md");
    let fresh = render(root)?;
    if check {
        let committed = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        if committed != fresh {
            bail!(
                "{} is stale: run `cargo xtask probe-report` and commit it",
                path.display()
            );
        }
        println!("{} is up to date", path.display());
        return Ok(());
    }
    std::fs::write(&path, fresh).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}
