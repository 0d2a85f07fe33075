//! The mechanism study's figures, one per analysis file (`reports/mechanism/<name>.json`,
//! written by `icor rag mechanism`): at the fitted η of each interface, the centred cosine of
//! `Δ_ICL` with the step and with each control (95 % CI), the demo-specific parts matched and
//! permuted; and SimAOU per layer for the step against the rescaled random update. One more,
//! `mechanism-summary`, sets every study and interface side by side.

use std::path::Path;

use anyhow::Result;
use icor_rag::analysis::stats::Estimate;
use icor_rag::mechanism::analysis::{Analysis, AtEta, Interface};
use icor_rag::mechanism::files::load_all;

use super::spec::{Figure, Kind, Panel, Point, Series, color};

fn point(x: usize, e: &Estimate) -> Point {
    let mut p = Point::new(x as f64, e.mean);
    if e.lo.is_finite() {
        p.lo = Some(e.lo);
        p.hi = Some(e.hi);
    }
    p
}

fn cosines(i: &Interface) -> Panel {
    let at = i.at.iter().find(|a| a.fitted).unwrap_or(&i.at[0]);
    let mut p = Panel::new(
        format!("interface {}, η = {}", i.name, at.label()),
        "Δ_ICL against (s: demo-specific parts)",
        "centred cosine",
    );
    // Short labels (the panel is narrow): the step on these demonstrations, on answer-shuffled
    // ones, on another context's; the random update, raw and rescaled; the demo-specific
    // parts, matched and permuted.
    let mut cats: Vec<String> = ["step", "shuf.", "other", "rand.", "rand.×s", "s", "s perm."]
        .map(String::from)
        .to_vec();
    let mut ests: Vec<&Estimate> = at.rows.iter().map(|r| &r.cos_centred).collect();
    ests.push(&at.specific.matched);
    ests.push(&at.specific.permuted);
    cats.truncate(ests.len());
    p.categories = Some(cats);
    let pts: Vec<Point> = ests.iter().enumerate().map(|(x, e)| point(x, e)).collect();
    p.series.push(Series::new(
        "Δ_ICL vs …",
        color::MODEL,
        Kind::Points { joined: false },
        pts,
    ));
    p.series.push(Series::new(
        "zero",
        color::CONTROL,
        Kind::HLine,
        vec![Point::new(0.0, 0.0)],
    ));
    p
}

fn simaou(i: &Interface, first: usize) -> Panel {
    let at = i.at.iter().find(|a| a.fitted).unwrap_or(&i.at[0]);
    let mut p = Panel::new(
        format!("SimAOU per layer, {}", i.name),
        "layer",
        "cosine of attention-output changes",
    );
    let pts = |v: &[Estimate]| -> Vec<Point> {
        v.iter()
            .enumerate()
            .map(|(l, e)| point(first + l, e))
            .collect()
    };
    // A few layers read better as joined points than as a band.
    let few = at.attn_layers.len() <= 4;
    let kind = |dashed: bool| {
        if few {
            Kind::Points { joined: true }
        } else {
            Kind::Line { dashed, band: true }
        }
    };
    p.series.push(Series::new(
        "step",
        color::GD,
        kind(false),
        pts(&at.attn_layers),
    ));
    p.series.push(Series::new(
        "random, rescaled",
        color::CONTROL,
        kind(true),
        pts(&at.attn_layers_random),
    ));
    p.dodge = if few { 0.05 } else { 0.0 };
    p
}

/// A short label of a study's interface: `smollm2 all`, `smollm2 n1 all`, `qwen2.5 LoRA top2`.
fn short(a: &Analysis, i: &Interface) -> String {
    let model = a.settings.model.split('-').next().unwrap_or_default();
    let variant = a
        .name
        .split_once("--")
        .map_or(String::new(), |(_, v)| format!(" {v}"));
    let lora = if a.settings.adapter.is_some() {
        " LoRA"
    } else {
        ""
    };
    let partial = if a.complete { "" } else { " (partial)" };
    format!("{model}{variant}{lora} {}{partial}", i.name)
}

/// Every study and interface side by side at its fitted η: the whole effect against the
/// step on another context's demonstrations and the rescaled random update, and the
/// demo-specific parts against the permutation baseline.
fn summary(analyses: &[Analysis]) -> Figure {
    let rows: Vec<(String, &AtEta)> = analyses
        .iter()
        .flat_map(|a| {
            a.interfaces.iter().map(move |i| {
                let at = i.at.iter().find(|x| x.fitted).unwrap_or(&i.at[0]);
                (short(a, i), at)
            })
        })
        .collect();
    let cats: Vec<String> = rows.iter().map(|(c, _)| c.clone()).collect();
    let series = |label: &str, color: usize, f: &dyn Fn(&AtEta) -> Option<Estimate>| {
        let pts = rows
            .iter()
            .enumerate()
            .filter_map(|(x, (_, at))| f(at).map(|e| point(x, &e)))
            .collect();
        Series::new(label, color, Kind::Points { joined: false }, pts)
    };
    let zero = || {
        Series::new(
            "zero",
            color::CONTROL,
            Kind::HLine,
            vec![Point::new(0.0, 0.0)],
        )
    };
    let random = |at: &AtEta| {
        at.rows
            .iter()
            .find(|r| r.pair.ends_with("/random-scaled"))
            .map(|r| r.cos_centred)
    };
    let mut whole = Panel::new(
        "whole effect: Δ_ICL against the step",
        "study, interface (fitted η)",
        "centred cosine",
    );
    whole.categories = Some(cats.clone());
    whole.dodge = 0.12;
    whole.series.push(series("step", color::MODEL, &|at| {
        Some(at.rows[0].cos_centred)
    }));
    let other = |at: &AtEta| {
        at.rows
            .iter()
            .find(|r| r.pair.starts_with("icl/right") && r.pair.ends_with("/other"))
            .map(|r| r.cos_centred)
    };
    whole.series.push(series(
        "step on another context's demonstrations",
        color::GD,
        &other,
    ));
    whole
        .series
        .push(series("random update, rescaled", color::CONTROL, &random));
    whole.series.push(zero());
    let mut specific = Panel::new(
        "demo-specific parts: cos(s_ICL, s_GD)",
        "study, interface (fitted η)",
        "centred cosine",
    );
    specific.categories = Some(cats);
    specific.dodge = 0.12;
    specific
        .series
        .push(series("same context", color::MODEL, &|at| {
            Some(at.specific.matched)
        }));
    specific.series.push(series(
        "permuted (no shared demonstration)",
        color::CONTROL,
        &|at| Some(at.specific.permuted),
    ));
    specific.series.push(zero());
    Figure {
        name: "mechanism-summary".into(),
        title: "In-context demonstrations vs one gradient step: every study at its fitted η".into(),
        cols: 1,
        panels: vec![whole, specific],
    }
}

/// With K > 1: the centred cosine of `Δ_ICL` with the update after each step k, for every η
/// of the grid, against the rescaled random update of the same size.
fn over_steps(i: &Interface) -> Panel {
    let mut p = Panel::new(
        format!("interface {}, after k steps", i.name),
        "step k",
        "centred cosine with Δ_ICL",
    );
    let mut etas: Vec<f64> = i.at.iter().map(|x| x.eta).collect();
    etas.dedup();
    for (n, &eta) in etas.iter().enumerate() {
        let at: Vec<&AtEta> = i.at.iter().filter(|x| x.eta == eta).collect();
        let line = |f: &dyn Fn(&AtEta) -> Option<Estimate>| -> Vec<Point> {
            at.iter()
                .filter_map(|x| f(x).map(|e| point(x.k, &e)))
                .collect()
        };
        let step = line(&|x| Some(x.rows[0].cos_centred));
        let random = line(&|x| {
            x.rows
                .iter()
                .find(|r| r.pair.ends_with("/random-scaled"))
                .map(|r| r.cos_centred)
        });
        let color = if n == 0 { color::MODEL } else { color::GD };
        p.series.push(Series::new(
            format!("step, η = {eta:e}"),
            color,
            Kind::Line {
                dashed: false,
                band: true,
            },
            step,
        ));
        p.series.push(Series::new(
            format!("random, rescaled, η = {eta:e}"),
            color::CONTROL,
            Kind::Line {
                dashed: true,
                band: true,
            },
            random,
        ));
    }
    p
}

pub fn figures(reports: &Path) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    let dir = reports.join("mechanism");
    if !dir.is_dir() {
        return Ok(out);
    }
    let analyses = load_all(reports)?;
    if !analyses.is_empty() {
        out.push(summary(&analyses));
    }
    for a in analyses {
        let space = if a.settings.adapter.is_some() {
            ", LoRA at W_0^ret"
        } else {
            ""
        };
        let mut fig = Figure {
            name: format!("mechanism-{}", a.name),
            title: format!(
                "In-context demonstrations vs one gradient step, {} (N = {}, K = {}{space})",
                a.name, a.settings.demos, a.settings.steps
            ),
            cols: a.interfaces.len().max(1),
            panels: Vec::new(),
        };
        for i in &a.interfaces {
            fig.panels.push(cosines(i));
        }
        if a.settings.steps > 1 {
            for i in &a.interfaces {
                fig.panels.push(over_steps(i));
            }
        }
        for i in &a.interfaces {
            let first =
                i.at.first()
                    .map_or(0, |at| a.n_layers - at.attn_layers.len());
            fig.panels.push(simaou(i, first));
        }
        out.push(fig);
    }
    Ok(out)
}
