//! The input-range sweep: loss (trained transformer and GD) and sensitivity cosine (trained and
//! untrained control) against the test range α, 95% CI over the converged seeds (a panel whose
//! points rest on fewer seeds than were run says so in its title).

use anyhow::Result;
use serde_json::Value;

use super::data::{Sweep, ci_points, converged_note, distinct_str, group_title, groups};
use super::labels;
use super::spec::{Figure, Kind, Panel, Series, color};

pub fn figures(sw: &Sweep) -> Result<Vec<Figure>> {
    let rows: Vec<&Value> = sw.summary().iter().collect();
    let several = distinct_str(&rows, "arch").len() > 1;
    let mut loss = Figure {
        name: format!("{}-loss", sw.name),
        title: format!(
            "Loss against the test input range α ({}; log scale)",
            labels::CI
        ),
        cols: 3,
        panels: Vec::new(),
    };
    let mut cos = Figure {
        name: format!("{}-cos", sw.name),
        title: format!(
            "Sensitivity alignment against the test input range α ({})",
            labels::CI
        ),
        cols: 3,
        panels: Vec::new(),
    };
    let kind = Kind::Points { joined: true };
    for (k, rs) in groups(&rows, &["protocol", "arch"]) {
        let t = group_title(&k[0], &k[1], several)
            + &converged_note(&rs, |r| format!("α = {}", r["alpha"]));
        let mut p = Panel::new(t.clone(), labels::ALPHA, labels::LOSS);
        p.dodge = 0.012;
        p.log_y = true; // the loss grows by orders of magnitude with α
        p.series.push(Series::new(
            labels::TRAINED,
            color::MODEL,
            kind,
            ci_points(&rs, "alpha", "loss_model"),
        ));
        p.series.push(Series::new(
            labels::GD,
            color::GD,
            kind,
            ci_points(&rs, "alpha", "loss_gd"),
        ));
        loss.panels.push(p);

        let mut p = Panel::new(t, labels::ALPHA, labels::COS);
        p.dodge = 0.012;
        p.series.push(Series::new(
            labels::TRAINED,
            color::MODEL,
            kind,
            ci_points(&rs, "alpha", "sens_cos"),
        ));
        p.series.push(Series::new(
            labels::CONTROL,
            color::CONTROL,
            kind,
            ci_points(&rs, "alpha", "control_sens_cos"),
        ));
        cos.panels.push(p);
    }
    Ok(vec![loss, cos])
}
