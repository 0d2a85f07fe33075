//! The nonlinear sweep (`nonlinear.json`, planned): summary rows also carry `dataset` and `norm`.
//! One panel per (protocol, dataset), one category per (arch, norm): sensitivity cosine of the
//! trained model against the control, and loss against GD, 95% CI. Missing fields read as "".

use anyhow::Result;
use serde_json::Value;

use super::data::{Sweep, f, groups, protocol_title, s};
use super::labels;
use super::spec::{Figure, Kind, Panel, Point, Series, color};

fn category(r: &Value, several_norms: bool) -> String {
    match s(&r["norm"]) {
        n if several_norms && !n.is_empty() => format!("{}, {n}", s(&r["arch"])),
        _ => s(&r["arch"]).to_string(),
    }
}

fn at(rows: &[&Value], metric: &str) -> Vec<Point> {
    rows.iter()
        .enumerate()
        .filter(|(_, r)| r[metric].is_object())
        .map(|(i, r)| Point::ci(i as f64, f(&r[metric]["mean"]), f(&r[metric]["half_width"])))
        .collect()
}

pub fn figures(sw: &Sweep) -> Result<Vec<Figure>> {
    let rows: Vec<&Value> = sw.summary().iter().collect();
    let several_norms = groups(&rows, &["norm"]).len() > 1;
    let several_protocols = groups(&rows, &["protocol"]).len() > 1;
    let mut cos = Figure {
        name: format!("{}-alignment", sw.name),
        title: format!(
            "Nonlinear data: sensitivity alignment with GD ({})",
            labels::CI
        ),
        cols: 3,
        panels: Vec::new(),
    };
    let mut loss = Figure {
        name: format!("{}-loss", sw.name),
        title: format!("Nonlinear data: loss against GD ({})", labels::CI),
        cols: 3,
        panels: Vec::new(),
    };
    let kind = Kind::Points { joined: false };
    // The data set is `dataset` in the planned schema, `source` in `TabularSummary`.
    let data_key = if rows.iter().any(|r| r["dataset"].is_string()) {
        "dataset"
    } else {
        "source"
    };
    for (k, rs) in groups(&rows, &["protocol", data_key]) {
        // One row per category: the first (lowest N, first α) as the sweep wrote them.
        let firsts: Vec<&Value> = groups(&rs, &["arch", "norm"])
            .into_iter()
            .map(|(_, g)| g[0])
            .collect();
        let cats: Vec<String> = firsts.iter().map(|r| category(r, several_norms)).collect();
        let title = match (several_protocols, k[1].is_empty()) {
            (true, false) => format!("{}, {}", k[1], protocol_title(&k[0])),
            (true, true) => protocol_title(&k[0]),
            (false, _) => k[1].clone(),
        };
        let mut p = Panel::new(title.clone(), "", labels::COS);
        p.categories = Some(cats.clone());
        p.dodge = 0.16;
        p.series.push(Series::new(
            labels::TRAINED,
            color::MODEL,
            kind,
            at(&firsts, "sens_cos"),
        ));
        p.series.push(Series::new(
            labels::CONTROL,
            color::CONTROL,
            kind,
            at(&firsts, "control_sens_cos"),
        ));
        cos.panels.push(p);

        let mut p = Panel::new(title, "", labels::LOSS);
        p.categories = Some(cats);
        p.dodge = 0.16;
        p.series.push(Series::new(
            labels::TRAINED,
            color::MODEL,
            kind,
            at(&firsts, "loss_model"),
        ));
        p.series.push(Series::new(
            labels::GD,
            color::GD,
            kind,
            at(&firsts, "loss_gd"),
        ));
        loss.panels.push(p);
    }
    Ok(vec![cos, loss])
}
