//! The nonlinear sweep (`nonlinear.json`, planned): summary rows also carry `dataset` and `norm`.
//! One panel per (protocol, data set), one category per input normalisation, one colour per
//! architecture: sensitivity cosine of the trained model against its untrained control, and loss
//! against GD, 95% CI over the converged seeds (the first row per norm and arch; a panel whose
//! points rest on fewer seeds than were run says so in its title). Missing fields read as "".

use anyhow::Result;
use serde_json::Value;

use super::data::{Sweep, converged_note, distinct_str, f, groups, protocol_title, s};
use super::labels;
use super::spec::{Figure, Kind, Panel, Point, Series, color};

/// `metric` of each row at x = the index of its norm in `cats` (first row per norm).
fn at(rows: &[&Value], cats: &[String], metric: &str) -> Vec<Point> {
    cats.iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let r = rows.iter().find(|r| s(&r["norm"]) == c)?;
            let m = &r[metric];
            m.is_object()
                .then(|| Point::ci(i as f64, f(&m["mean"]), f(&m["half_width"])))
                .filter(|p| p.y.is_finite()) // none where every seed stalled
        })
        .collect()
}

pub fn figures(sw: &Sweep) -> Result<Vec<Figure>> {
    let rows: Vec<&Value> = sw.summary().iter().collect();
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
    let archs = distinct_str(&rows, "arch");
    // Trained and control colours per architecture.
    let tc = [(color::MODEL, color::CONTROL), (3, 6), (4, 9), (5, 7)];
    for (k, rs) in groups(&rows, &["protocol", data_key]) {
        let cats = distinct_str(&rs, "norm");
        let title = match (several_protocols, k[1].is_empty()) {
            (true, false) => format!("{}, {}", k[1], protocol_title(&k[0])),
            (true, true) => protocol_title(&k[0]),
            (false, _) => k[1].clone(),
        } + &converged_note(&rs, |r| format!("{}, {}", s(&r["arch"]), s(&r["norm"])));
        let mut pc = Panel::new(title.clone(), "input normalisation", labels::COS);
        let mut pl = Panel::new(title, "input normalisation", labels::LOSS);
        for p in [&mut pc, &mut pl] {
            p.categories = Some(cats.clone());
            p.dodge = 0.6 / (2 * archs.len()).max(2) as f64;
        }
        for (i, arch) in archs.iter().enumerate() {
            let ra: Vec<&Value> = rs
                .iter()
                .copied()
                .filter(|r| s(&r["arch"]) == arch)
                .collect();
            let (t, c) = tc[i % tc.len()];
            pc.series.push(Series::new(
                format!("TF: {arch}"),
                t,
                kind,
                at(&ra, &cats, "sens_cos"),
            ));
            pc.series.push(Series::new(
                format!("{}: {arch}", labels::CONTROL),
                c,
                kind,
                at(&ra, &cats, "control_sens_cos"),
            ));
            pl.series.push(Series::new(
                format!("TF: {arch}"),
                t,
                kind,
                at(&ra, &cats, "loss_model"),
            ));
            if i == 0 {
                // GD does not depend on the architecture.
                pl.series.push(Series::new(
                    labels::GD,
                    color::GD,
                    kind,
                    at(&ra, &cats, "loss_gd"),
                ));
            }
        }
        cos.panels.push(pc);
        loss.panels.push(pl);
    }
    Ok(vec![cos, loss])
}
