//! The architecture sweep: sensitivity cosine and prediction difference to GD per
//! architecture, trained against the untrained control, 95% CI over the converged seeds (a
//! panel whose points rest on fewer seeds than were run says so in its title).

use anyhow::Result;
use serde_json::Value;

use super::data::{Sweep, converged_note, distinct_str, f, groups, protocol_title, s};
use super::labels;
use super::spec::{Figure, Kind, Panel, Point, Series, color};

/// Categorical points: row i of `rows` at x = i (none where every seed stalled).
fn by_index(rows: &[&Value], metric: &str) -> Vec<Point> {
    rows.iter()
        .enumerate()
        .filter(|(_, r)| r[metric].is_object())
        .map(|(i, r)| Point::ci(i as f64, f(&r[metric]["mean"]), f(&r[metric]["half_width"])))
        .filter(|p| p.y.is_finite())
        .collect()
}

pub fn figures(sw: &Sweep) -> Result<Vec<Figure>> {
    let rows: Vec<&Value> = sw.summary().iter().collect();
    let mut fig = Figure {
        name: format!("{}-alignment", sw.name),
        title: format!("Architectures: alignment with GD ({})", labels::CI),
        cols: 2,
        panels: Vec::new(),
    };
    // One configuration per (protocol, arch) is expected; keep each group's first α and N.
    for (k, rs) in groups(&rows, &["protocol"]) {
        let firsts: Vec<&Value> = groups(&rs, &["arch"])
            .into_iter()
            .map(|(_, g)| g[0])
            .collect();
        let cats = distinct_str(&firsts, "arch");
        for (metric, control, y) in [
            ("sens_cos", "control_sens_cos", labels::COS),
            ("pred_diff", "control_pred_diff", labels::PRED_DIFF),
        ] {
            let title =
                protocol_title(&k[0]) + &converged_note(&firsts, |r| s(&r["arch"]).to_string());
            let mut p = Panel::new(title, "", y);
            p.categories = Some(cats.clone());
            p.dodge = 0.16;
            let kind = Kind::Points { joined: false };
            p.series.push(Series::new(
                labels::TRAINED,
                color::MODEL,
                kind,
                by_index(&firsts, metric),
            ));
            p.series.push(Series::new(
                labels::CONTROL,
                color::CONTROL,
                kind,
                by_index(&firsts, control),
            ));
            fig.panels.push(p);
        }
    }
    Ok(vec![fig])
}
