//! Loss against the number of documents k (docs sweep): trained transformer and GD, 95% CI over
//! the converged seeds (a panel whose points rest on fewer seeds than were run says so).

use anyhow::Result;
use serde_json::Value;

use super::data::{Sweep, ci_points, converged_note, distinct_str, group_title, groups};
use super::labels;
use super::spec::{Figure, Kind, Panel, Series, color};

pub fn figures(sw: &Sweep) -> Result<Vec<Figure>> {
    let rows: Vec<&Value> = sw.summary().iter().collect();
    let several = distinct_str(&rows, "arch").len() > 1;
    let mut fig = Figure {
        name: format!("{}-loss", sw.name),
        title: format!("Loss against the number of documents k ({})", labels::CI),
        cols: 3,
        panels: Vec::new(),
    };
    for (k, rs) in groups(&rows, &["protocol", "arch"]) {
        let title = group_title(&k[0], &k[1], several)
            + &converged_note(&rs, |r| format!("k = {}", r["docs"]));
        let mut p = Panel::new(title, labels::DOCS, labels::LOSS);
        p.dodge = 0.3;
        let kind = Kind::Points { joined: true };
        p.series.push(Series::new(
            labels::TRAINED,
            color::MODEL,
            kind,
            ci_points(&rs, "docs", "loss_model"),
        ));
        p.series.push(Series::new(
            labels::GD,
            color::GD,
            kind,
            ci_points(&rs, "docs", "loss_gd"),
        ));
        fig.panels.push(p);
    }
    Ok(vec![fig])
}
