//! Reading the sweep files (`reports/probe/{sweep}.json`, schema `SweepResult` in
//! `crates/icor-probe/src/sweep.rs`) as `serde_json::Value`, tolerant of missing fields.
//! Every list comes out in a fixed order (first appearance or sorted), never hash order.
//!
//! The summary rows are not the file's stored `summary`: they are recomputed from its runs
//! exactly as `cargo xtask probe-report` does ([`crate::probe_report::summary`], icor-probe's
//! own `summarise`), so stalled runs (`icor_probe::converge`) are left out of every mean and CI,
//! a row's `n` counts its converged seeds and `stalled` lists the others.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use super::spec::Point;
use crate::probe_report::converged_of;

/// One parsed sweep file.
pub struct Sweep {
    /// File stem: `docs`, `alpha`, ….
    pub name: String,
    pub path: PathBuf,
    pub v: Value,
    /// Summary rows recomputed from the runs (see the module doc); the stored `summary` only
    /// for a file without runs (the planned schemas the tests draw).
    summary: Vec<Value>,
}

impl Sweep {
    /// `Ok(None)` when the file does not exist.
    pub fn load(dir: &Path, name: &str) -> Result<Option<Self>> {
        let path = dir.join(format!("{name}.json"));
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let v: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let summary = if v.get("runs").is_some() {
            crate::probe_report::summary(&v, name)
                .with_context(|| format!("summarising {}", path.display()))?
        } else {
            arr(&v["summary"]).to_vec()
        };
        Ok(Some(Self {
            name: name.into(),
            path,
            v,
            summary,
        }))
    }

    /// One row per configuration: mean and CI over the converged seeds.
    pub fn summary(&self) -> &[Value] {
        &self.summary
    }

    pub fn runs(&self) -> &[Value] {
        arr(&self.v["runs"])
    }
}

pub fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

pub fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// The distinct string values of `key`, in order of first appearance.
pub fn distinct_str(rows: &[&Value], key: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in rows {
        let k = s(&r[key]);
        if !out.iter().any(|o| o == k) {
            out.push(k.to_string());
        }
    }
    out
}

/// The distinct finite numbers of `key`, sorted ascending.
pub fn distinct_f64(rows: &[&Value], key: &str) -> Vec<f64> {
    let mut out: Vec<f64> = rows
        .iter()
        .map(|r| f(&r[key]))
        .filter(|x| x.is_finite())
        .collect();
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

/// `(x, CI of metric)` for each row, sorted by x; rows whose metric is null are skipped.
pub fn ci_points(rows: &[&Value], x_key: &str, metric: &str) -> Vec<Point> {
    let mut pts: Vec<Point> = rows
        .iter()
        .filter(|r| r[metric].is_object())
        .map(|r| {
            let c = &r[metric];
            Point::ci(f(&r[x_key]), f(&c["mean"]), f(&c["half_width"]))
        })
        .filter(|p| p.x.is_finite() && p.y.is_finite())
        .collect();
    pts.sort_by(|a, b| a.x.total_cmp(&b.x));
    pts
}

/// The note a panel's title carries when some of its rows rest on fewer seeds than were run
/// (stalled runs left out): " (2 of 3 seeds)" when every row of the panel does, else one entry
/// per such row, placed by `at` (" (k = 10: 2 of 3 seeds)"); "" when no seed stalled.
pub fn converged_note(rows: &[&Value], at: impl Fn(&Value) -> String) -> String {
    let counts: Vec<(u64, u64)> = rows.iter().map(|r| converged_of(r)).collect();
    let short: Vec<(&Value, (u64, u64))> = rows
        .iter()
        .copied()
        .zip(counts.iter().copied())
        .filter(|(_, (k, n))| k < n)
        .collect();
    let Some(&(_, first)) = short.first() else {
        return String::new();
    };
    if short.len() == rows.len() && counts.iter().all(|c| *c == first) {
        return format!(" ({} of {} seeds)", first.0, first.1);
    }
    let parts: Vec<String> = short
        .iter()
        .map(|(r, (k, n))| format!("{}: {k} of {n} seeds", at(r)))
        .collect();
    format!(" ({})", parts.join("; "))
}

/// How the paper and the report name each protocol.
pub fn protocol_title(p: &str) -> String {
    match p {
        "authors" => "authors' protocol".into(),
        "projection" => "projection (paper)".into(),
        "dot_product" => "dot product (paper)".into(),
        other => other.replace('_', " "),
    }
}

/// Rows grouped by the string fields `keys`, groups in order of first appearance.
pub fn groups<'a>(rows: &[&'a Value], keys: &[&str]) -> Vec<(Vec<String>, Vec<&'a Value>)> {
    let mut out: Vec<(Vec<String>, Vec<&Value>)> = Vec::new();
    for &r in rows {
        let k: Vec<String> = keys.iter().map(|key| s(&r[*key]).to_string()).collect();
        match out.iter_mut().find(|(g, _)| *g == k) {
            Some((_, v)) => v.push(r),
            None => out.push((k, vec![r])),
        }
    }
    out
}

/// A panel title for a (protocol, arch) group; the arch is named only when the sweep has several.
pub fn group_title(protocol: &str, arch: &str, several_archs: bool) -> String {
    if several_archs {
        format!("{}, {arch}", protocol_title(protocol))
    } else {
        protocol_title(protocol)
    }
}
