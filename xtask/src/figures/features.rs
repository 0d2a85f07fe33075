//! The feature-statistics study (`features.json`, planned): a top-level `statistics` array of
//! points `{source, name, kurtosis, max_abs_z, bottom_decile, sens_cos, …}` and a
//! `correlations` array. One scatter panel per statistic present (x: the statistic, y: the
//! sensitivity cosine), one colour per source; a correlation naming the statistic is added to
//! the panel title. Missing fields are skipped.

use anyhow::Result;
use serde_json::Value;

use super::data::Sweep;
use super::data::{arr, distinct_str, f, s};
use super::labels;
use super::spec::{Figure, Kind, Panel, Point, Series};

/// Statistics drawn, in panel order, with their axis labels.
const STATISTICS: [(&str, &str); 3] = [
    ("kurtosis", "kurtosis"),
    ("max_abs_z", "max |z|"),
    ("bottom_decile", "bottom decile"),
];

/// A point's statistic: top-level, or under `query` (the `Shape` of the query features).
fn stat_of(q: &Value, stat: &str) -> f64 {
    match q[stat].as_f64() {
        Some(x) => x,
        None => f(&q["query"][stat]),
    }
}

/// "ρ = …" from the correlation entry naming `stat` (or `query.stat`) in a string field, over
/// "all" points where there is such an entry.
fn correlation(v: &Value, stat: &str) -> Option<String> {
    let qualified = format!("query.{stat}");
    let names = |c: &&Value| {
        c.as_object().is_some_and(|o| {
            o.values()
                .any(|x| x.as_str() == Some(stat) || x.as_str() == Some(qualified.as_str()))
        })
    };
    let mut all = arr(&v["correlations"]).iter().filter(names);
    let c = all
        .clone()
        .find(|c| s(&c["points"]) == "all")
        .or_else(|| all.next())?;
    ["spearman", "rho", "pearson", "r"]
        .iter()
        .find_map(|k| c[*k].as_f64().map(|x| (*k, x)))
        .map(|(k, x)| match k {
            "pearson" | "r" => format!("r = {x:.2}"),
            _ => format!("ρ = {x:.2}"),
        })
}

pub fn figures(sw: &Sweep) -> Result<Vec<Figure>> {
    let points: Vec<&Value> = arr(&sw.v["statistics"]).iter().collect();
    let sources = distinct_str(&points, "source");
    let mut fig = Figure {
        name: format!("{}-statistics", sw.name),
        title: "Feature statistics against sensitivity alignment with GD".into(),
        cols: 3,
        panels: Vec::new(),
    };
    for (stat, x_label) in STATISTICS {
        if !points.iter().any(|p| stat_of(p, stat).is_finite()) {
            continue;
        }
        let title = match correlation(&sw.v, stat) {
            Some(c) => format!("{x_label} ({c})"),
            None => x_label.to_string(),
        };
        let mut p = Panel::new(title, x_label, labels::COS);
        for (i, src) in sources.iter().enumerate() {
            let pts: Vec<Point> = points
                .iter()
                .filter(|q| s(&q["source"]) == src)
                .map(|q| Point::new(stat_of(q, stat), f(&q["sens_cos"])))
                .filter(|q| q.x.is_finite() && q.y.is_finite())
                .collect();
            let label = if src.is_empty() { "features" } else { src };
            p.series
                .push(Series::new(label, i, Kind::Points { joined: false }, pts));
        }
        fig.panels.push(p);
    }
    Ok(vec![fig])
}
