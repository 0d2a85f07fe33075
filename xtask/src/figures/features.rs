//! The feature-statistics study (`features.json`): its `statistics` array holds one point per
//! (table, normalisation, model) with the `query` and `corpus` feature statistics and the
//! sensitivity cosine `sens_cos`; `correlations` holds Spearman ρ per statistic, point set and
//! model. One scatter panel per side × statistic (x: the statistic, y: the cosine), one colour
//! per table, both model widths drawn; the panel title carries ρ over all points per model.

use anyhow::Result;
use serde_json::Value;

use super::data::Sweep;
use super::data::{arr, distinct_str, f, s};
use super::labels;
use super::spec::{Figure, Kind, Panel, Point, Series};

/// Statistics drawn, in panel order, with their axis labels.
const STATISTICS: [(&str, &str); 4] = [
    ("kurtosis", "excess kurtosis"),
    ("max_abs_z", "max |z|"),
    ("bottom_decile", "bottom-decile share"),
    ("abs_skewness", "|skewness|"),
];

/// Feature sides, in row order.
const SIDES: [(&str, &str); 2] = [("query", "query (after g)"), ("corpus", "corpus")];

/// "ρ = a / b" over all points, one value per model, in file order.
fn correlation(v: &Value, side: &str, stat: &str) -> Option<String> {
    let name = format!("{side}.{stat}");
    let rhos: Vec<String> = arr(&v["correlations"])
        .iter()
        .filter(|c| s(&c["statistic"]) == name && s(&c["points"]) == "all")
        .map(|c| format!("{:+.2}", f(&c["rho"])))
        .collect();
    (!rhos.is_empty()).then(|| format!("ρ = {}", rhos.join(" / ")))
}

pub fn figures(sw: &Sweep) -> Result<Vec<Figure>> {
    let points: Vec<&Value> = arr(&sw.v["statistics"]).iter().collect();
    let sources = distinct_str(&points, "source");
    let mut fig = Figure {
        name: format!("{}-statistics", sw.name),
        title: "Feature statistics against sensitivity alignment with GD (ρ: MLP 32 / MLP 128)"
            .into(),
        cols: 4,
        panels: Vec::new(),
    };
    for (side, side_label) in SIDES {
        for (stat, x_label) in STATISTICS {
            let value = |q: &Value| f(&q[side][stat]);
            if !points.iter().any(|p| value(p).is_finite()) {
                continue;
            }
            let title = match correlation(&sw.v, side, stat) {
                Some(c) => format!("{side_label}: {c}"),
                None => side_label.to_string(),
            };
            let mut p = Panel::new(title, x_label, labels::COS);
            for (i, src) in sources.iter().enumerate() {
                let pts: Vec<Point> = points
                    .iter()
                    .filter(|q| s(&q["source"]) == src)
                    .map(|q| Point::new(value(q), f(&q["sens_cos"])))
                    .filter(|q| q.x.is_finite() && q.y.is_finite())
                    .collect();
                p.series
                    .push(Series::new(src, i, Kind::Points { joined: false }, pts));
            }
            fig.panels.push(p);
        }
    }
    Ok(vec![fig])
}
