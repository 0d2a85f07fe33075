//! Training curves of the docs sweep at its middle document count: loss of the trained model
//! against GD per evaluation step, and the input-sensitivity cosine with the untrained
//! control's final value. Mean over seeds; the band spans the seeds' min and max.

use anyhow::Result;
use serde_json::Value;

use super::data::{Sweep, arr, distinct_f64, f, group_title, groups};
use super::labels;
use super::spec::{Figure, Kind, Panel, Point, Series, color};

/// Mean and min..max over runs of `curve[key]`, step by step (runs are cut to the shortest).
fn band(runs: &[&Value], key: &str) -> Vec<Point> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    let steps = arr(&first["curve"]["step"]);
    let len = runs
        .iter()
        .map(|r| arr(&r["curve"][key]).len())
        .min()
        .unwrap_or(0)
        .min(steps.len());
    (0..len)
        .map(|i| {
            let v: Vec<f64> = runs.iter().map(|r| f(&r["curve"][key][i])).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            Point {
                x: f(&steps[i]),
                y: mean,
                lo: Some(lo),
                hi: Some(hi),
            }
        })
        .collect()
}

/// Mean over runs of the control's sensitivity cosine at the first evaluated α.
fn control_cos(runs: &[&Value]) -> Option<f64> {
    let v: Vec<f64> = runs
        .iter()
        .map(|r| f(&r["evals"][0]["control"]["sens_cos"]))
        .filter(|x| x.is_finite())
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

pub fn figures(sw: &Sweep) -> Result<Vec<Figure>> {
    let mut runs: Vec<&Value> = sw.runs().iter().collect();
    let docs = distinct_f64(&runs, "docs");
    let Some(&n) = docs.get(docs.len() / 2) else {
        return Ok(Vec::new());
    };
    runs.retain(|r| f(&r["docs"]) == n);
    // Runs carry the arch as an object (the summary's label is not stored on runs): group by its
    // JSON text, which serde_json writes with sorted keys.
    let arch_key = |r: &Value| r["arch"].to_string();
    let mut by: Vec<(String, String, Vec<&Value>)> = Vec::new();
    for (k, rs) in groups(&runs, &["protocol"]) {
        for r in rs {
            let a = arch_key(r);
            match by.iter_mut().find(|(p, q, _)| *p == k[0] && *q == a) {
                Some((_, _, v)) => v.push(r),
                None => by.push((k[0].clone(), a, vec![r])),
            }
        }
    }
    let several = by.iter().any(|(_, a, _)| *a != by[0].1);
    let title = |what: &str| {
        format!("Training curves, {what} (k = {n} documents; mean over seeds, band: min–max)")
    };
    let mut loss = Figure {
        name: format!("{}-loss-curve", sw.name),
        title: title("loss"),
        cols: 3,
        panels: Vec::new(),
    };
    let mut cos = Figure {
        name: format!("{}-cos-curve", sw.name),
        title: title("sensitivity alignment"),
        cols: 3,
        panels: Vec::new(),
    };
    for (protocol, arch, rs) in &by {
        let t = group_title(protocol, arch, several);
        let mut p = Panel::new(t.clone(), labels::STEP, labels::LOSS);
        p.series.push(Series::new(
            labels::TRAINED,
            color::MODEL,
            Kind::Line {
                dashed: false,
                band: true,
            },
            band(rs, "loss_model"),
        ));
        p.series.push(Series::new(
            labels::GD,
            color::GD,
            Kind::Line {
                dashed: true,
                band: false,
            },
            band(rs, "loss_gd"),
        ));
        loss.panels.push(p);

        let mut p = Panel::new(t, labels::STEP, labels::COS);
        p.series.push(Series::new(
            labels::TRAINED,
            color::MODEL,
            Kind::Line {
                dashed: false,
                band: true,
            },
            band(rs, "sens_cos"),
        ));
        if let Some(c) = control_cos(rs) {
            p.series.push(Series::new(
                labels::CONTROL,
                color::CONTROL,
                Kind::HLine,
                vec![Point::new(0.0, c)],
            ));
        }
        cos.panels.push(p);
    }
    Ok(vec![loss, cos])
}
