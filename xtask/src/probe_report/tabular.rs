//! Tables of the nonlinear study (`nonlinear.json`) and the feature-shape study
//! (`features.json`), with the paper's §4.3 findings checked and the statistic that best
//! predicts the break named, all computed from the files; the summaries are recomputed from
//! the runs (stalled runs left out, `icor_probe::converge`).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use icor_probe::nonlinear::{TabularRun, summarise};
use serde_json::Value;

use super::{
    Check, ci, converged_cell, f, read_json, runs_line, stalled_line, summary_of,
    tabular_profile_line, verdict, write_stalled,
};

/// The study files (`{name}.json`) of tabular runs, in report order.
pub(super) const STUDIES: [&str; 2] = ["nonlinear", "features"];

fn header(out: &mut String, name: &str, v: &Value) -> Result<()> {
    writeln!(
        out,
        "## Study `{name}`\n\n{}, up to {} test queries per table, {}. Contexts: the 10 corpus rows with the largest dot-product score g(x_q)ᵀz(xᵢ); GD: one step from 0 with η fitted on training queries. *kurt.*, *max|z|*, *bottom 10%*, *|skew|* = per-feature excess kurtosis, largest |z-score|, share of rows in the bottom tenth of the min–max range, and |skewness|, averaged over features (query side: the test queries after g; corpus side: the raw table, whose shape z-scoring keeps).\n",
        tabular_profile_line(v),
        v["profile"]["eval_tasks"],
        runs_line(v)
    )?;
    Ok(())
}

fn table(out: &mut String, summary: &[Value]) -> Result<()> {
    out.push_str("| table | input norm | model | converged | loss TF | loss GD | pred diff | cos | cos (control) | query kurt. | query max\\|z\\| | query bottom 10% | query \\|skew\\| | corpus kurt. | corpus \\|skew\\| |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for s in summary {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.3} | {:.2} | {:.2} | {:.2} |",
            s["source"].as_str().unwrap_or("?"),
            s["norm"].as_str().unwrap_or("?"),
            s["arch"].as_str().unwrap_or("?"),
            converged_cell(s),
            ci(&s["loss_model"]),
            ci(&s["loss_gd"]),
            ci(&s["pred_diff"]),
            ci(&s["sens_cos"]),
            ci(&s["control_sens_cos"]),
            f(&s["shape"]["kurtosis"]),
            f(&s["shape"]["max_abs_z"]),
            f(&s["shape"]["bottom_decile"]),
            f(&s["shape"]["abs_skewness"]),
            f(&s["corpus_shape"]["kurtosis"]),
            f(&s["corpus_shape"]["abs_skewness"]),
        )?;
    }
    out.push('\n');
    Ok(())
}

/// Mean sensitivity cosine of `source` (all normalisations and widths), or of one `norm`, over
/// the rows with a converged seed.
fn mean_cos(summary: &[Value], source: &str, norm: Option<&str>) -> f64 {
    let v: Vec<f64> = summary
        .iter()
        .filter(|s| s["source"] == source && norm.is_none_or(|n| s["norm"] == n))
        .filter(|s| s["sens_cos"]["n"].as_u64() != Some(0))
        .map(|s| f(&s["sens_cos"]["mean"]))
        .collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The paper's §4.3 findings on a nonlinear-study summary.
pub(super) fn checks(summary: &[Value]) -> Vec<Check> {
    let c = |s: &str| mean_cos(summary, s, None);
    let (bike, cal, wine, aba) = (c("bike"), c("california"), c("wine"), c("abalone"));
    let check = |claim: &str, detail: String, holds: bool| Check {
        claim: claim.to_string(),
        detail,
        holds,
        block_only: false,
    };
    let norms = ["z_score", "min_max", "rank", "tanh"];
    let bike_by: Vec<(f64, &str)> = norms
        .iter()
        .map(|n| (mean_cos(summary, "bike", Some(n)), *n))
        .collect();
    let best = bike_by
        .iter()
        .copied()
        .fold((f64::MIN, ""), |a, b| if b.0 > a.0 { b } else { a });
    vec![
        check(
            "Bike aligns better than California (bounded vs heavy-tailed features)",
            format!("cos {bike:.3} vs {cal:.3}"),
            bike > cal,
        ),
        check(
            "Wine behaves like California (closer to it than to Bike)",
            format!("cos {wine:.3} (California {cal:.3}, Bike {bike:.3})"),
            (wine - cal).abs() < (wine - bike).abs(),
        ),
        check(
            "Calorie Expenditure behaves like Bike; its stand-in Abalone, closer to Bike than to California",
            format!("cos {aba:.3}"),
            (aba - bike).abs() < (aba - cal).abs(),
        ),
        check(
            "Bike's closest agreement is under min–max",
            format!(
                "best normalisation {} (cos {})",
                best.1,
                bike_by
                    .iter()
                    .map(|(c, n)| format!("{n} {c:.3}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            best.1 == "min_max",
        ),
    ]
}

/// Writes the §4.3 findings and returns them (for the seed-block comparison).
fn render_checks(out: &mut String, summary: &[Value]) -> Result<Vec<Check>> {
    out.push_str("### The paper's §4.3 findings, checked (mean sensitivity cosine over normalisations and widths)\n\n");
    let checks = checks(summary);
    for c in &checks {
        writeln!(
            out,
            "- {}: {} → **{}**.",
            c.claim,
            c.detail,
            verdict(c.holds)
        )?;
    }
    writeln!(
        out,
        "- Diamonds (extra heavy-tailed set, not in the paper): cos {:.3}.\n",
        mean_cos(summary, "diamonds", None)
    )?;
    Ok(checks)
}

fn correlations(out: &mut String, v: &Value) -> Result<()> {
    let cs = v["correlations"].as_array().cloned().unwrap_or_default();
    if cs.is_empty() {
        return Ok(());
    }
    out.push_str("### Which feature statistic predicts the break?\n\nSpearman ρ between each statistic and the sensitivity cosine, one point per (table, normalisation) configuration; p = two-sided permutation p-value (10,000 shuffles). Negative ρ: the larger the statistic, the weaker the alignment. `trained_loss` is not a feature statistic but the trained model's test loss on the z-scored target (how much of y the features leave unexplained), listed for comparison and left out of the verdict below.\n\n| statistic | points | model | n | ρ | p |\n|---|---|---|---|---|---|\n");
    for c in &cs {
        writeln!(
            out,
            "| {} | {} | {} | {} | {:+.3} | {:.4} |",
            c["statistic"].as_str().unwrap_or("?"),
            c["points"].as_str().unwrap_or("?"),
            c["arch"].as_str().unwrap_or("?"),
            c["n"],
            f(&c["rho"]),
            f(&c["p_value"])
        )?;
    }
    out.push('\n');
    let mut archs: Vec<&str> = Vec::new();
    for c in &cs {
        let a = c["arch"].as_str().unwrap_or("?");
        if !archs.contains(&a) {
            archs.push(a);
        }
    }
    for arch in archs {
        for (level, what) in [
            (
                "all",
                "one point per (table, normalisation), synthetic and real together",
            ),
            (
                "tables",
                "one point per table, cosine averaged over its normalisations",
            ),
        ] {
            let best = cs
                .iter()
                .filter(|c| c["arch"] == arch && c["points"] == level)
                .filter(|c| c["statistic"] != "trained_loss")
                .min_by(|a, b| f(&a["rho"]).total_cmp(&f(&b["rho"])));
            if let Some(b) = best {
                let (rho, p) = (f(&b["rho"]), f(&b["p_value"]));
                writeln!(
                    out,
                    "- **{arch}**, {what} (n = {}): the statistic most negatively rank-correlated with alignment is **{}**, ρ = {rho:+.3} (p = {p:.4}, {} at 5%).",
                    b["n"],
                    b["statistic"].as_str().unwrap_or("?"),
                    if p < 0.05 {
                        "significant"
                    } else {
                        "not significant"
                    }
                )?;
            }
        }
    }
    out.push('\n');
    Ok(())
}

/// The runs of a study file and their summary rows, recomputed.
pub(super) fn runs_and_summary(v: &Value, name: &str) -> Result<(Vec<TabularRun>, Vec<Value>)> {
    let runs: Vec<TabularRun> = serde_json::from_value(v["runs"].clone())
        .with_context(|| format!("runs of {name}.json"))?;
    let summary = summary_of(serde_json::to_value(summarise(&runs)))?;
    Ok((runs, summary))
}

/// The stalled runs of a study, listed under its table.
fn stalled_runs(out: &mut String, runs: &[TabularRun]) -> Result<()> {
    let lines: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            let c = Some(r.convergence()).filter(|c| c.stalled)?;
            let label = format!(
                "{}, {}, {}, seed {} (sensitivity cosine {:.3}, control {:.3})",
                r.source,
                r.norm.name(),
                r.arch.label(),
                r.seed,
                r.trained.sens_cos,
                r.control.sens_cos
            );
            Some(stalled_line(
                &label,
                r.trained.loss_model,
                r.control.loss_model,
                r.trained.loss_gd,
                &c,
            ))
        })
        .collect();
    write_stalled(out, &lines)
}

/// Appends the two studies' sections; returns whether either file was found, and the §4.3
/// findings checked.
pub fn render(dir: &Path, out: &mut String) -> Result<(bool, Vec<Check>)> {
    let mut found = false;
    let mut checks = Vec::new();
    if let Some(v) = read_json(&dir.join("nonlinear.json"))? {
        found = true;
        header(out, "nonlinear", &v)?;
        let (runs, summary) = runs_and_summary(&v, "nonlinear")?;
        table(out, &summary)?;
        stalled_runs(out, &runs)?;
        checks = render_checks(out, &summary)?;
    }
    if let Some(v) = read_json(&dir.join("features.json"))? {
        found = true;
        header(out, "features", &v)?;
        let (runs, summary) = runs_and_summary(&v, "features")?;
        table(out, &summary)?;
        stalled_runs(out, &runs)?;
        correlations(out, &v)?;
    }
    Ok((found, checks))
}
