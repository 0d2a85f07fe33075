//! The depth sweep: loss of K-layer transformers against K-step GD, by document count N, one
//! panel per (depth, protocol): rows are depths, columns protocols; 95% CI over the converged
//! seeds (a panel whose points rest on fewer seeds than were run says so in its title).

use anyhow::Result;
use serde_json::Value;

use super::data::{Sweep, ci_points, converged_note, distinct_str, group_title, groups};
use super::labels;
use super::spec::{Figure, Kind, Panel, Series, color};

pub fn figures(sw: &Sweep) -> Result<Vec<Figure>> {
    let rows: Vec<&Value> = sw.summary().iter().collect();
    let protocols = distinct_str(&rows, "protocol");
    let mut fig = Figure {
        name: format!("{}-loss", sw.name),
        title: format!(
            "Depth: K-layer transformer against K steps of GD, by N ({})",
            labels::CI
        ),
        cols: protocols.len().max(1),
        panels: Vec::new(),
    };
    let kind = Kind::Points { joined: true };
    // One row per depth, one column per protocol (stable sort: protocol order kept).
    let archs = distinct_str(&rows, "arch");
    let mut gs = groups(&rows, &["protocol", "arch"]);
    gs.sort_by_key(|(k, _)| archs.iter().position(|a| *a == k[1]));
    for (k, rs) in gs {
        let title = group_title(&k[0], &k[1], true)
            + &converged_note(&rs, |r| format!("k = {}", r["docs"]));
        let mut p = Panel::new(title, labels::DOCS, labels::LOSS);
        p.dodge = 0.15;
        p.series.push(Series::new(
            labels::TRAINED,
            color::MODEL,
            kind,
            ci_points(&rs, "docs", "loss_model"),
        ));
        p.series.push(Series::new(
            "GD, K steps (constructed)",
            color::GD,
            kind,
            ci_points(&rs, "docs", "loss_gd"),
        ));
        fig.panels.push(p);
    }
    Ok(vec![fig])
}
