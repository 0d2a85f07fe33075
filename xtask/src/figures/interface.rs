//! The interface study's figure for each study folder (`reports/rag/interface/<profile>/`,
//! written by `icor rag interface`): the dev loss over the training steps, one line per
//! interface, and each interface's dev EM (95 % bootstrap CI) against its seconds per step,
//! with the bare backbone's dev EM as a dashed line.

use std::path::Path;

use anyhow::Result;
use icor_rag::analysis::interface::load_variants;
use icor_rag::analysis::stats::bootstrap_avg;

use super::spec::{Figure, Kind, Panel, Point, Series, color};

pub fn figures(dir: &Path) -> Result<Vec<Figure>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut dirs: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for d in dirs {
        let profile = d
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let variants = load_variants(&d)?;
        let mut curves = Panel::new(
            "dev loss while training",
            "optimiser step",
            "dev answer loss",
        );
        let mut em = Panel::new(
            "dev EM of the kept parameters",
            "log10 seconds per step",
            "dev EM (%)",
        );
        for (i, v) in variants.iter().enumerate() {
            let Some(a) = v.results.adapters.first() else {
                continue;
            };
            let label = v.label();
            // the palette without the controls' grey (the bare backbone's line)
            let hue = [0, 1, 3, 4, 5, 6, 7, 8, 9][i % 9];
            let points = a
                .dev_curve
                .iter()
                .map(|&(s, l)| Point::new(s as f64, f64::from(l)))
                .collect();
            curves.series.push(Series::new(
                &label,
                hue,
                Kind::Points { joined: true },
                points,
            ));
            let Some(d) = &a.dev_answers else { continue };
            let b = v.results.profile.eval.bootstrap;
            let e = bootstrap_avg(std::slice::from_ref(&d.em), b, 0);
            let per_step = a.seconds.unwrap_or(f64::NAN) / a.steps.max(1) as f64;
            let mut p = Point::new(per_step.max(1e-6).log10(), 100.0 * e.mean);
            if e.lo.is_finite() {
                p.lo = Some(100.0 * e.lo);
                p.hi = Some(100.0 * e.hi);
            }
            em.series.push(Series::new(
                &label,
                hue,
                Kind::Points { joined: false },
                vec![p],
            ));
            if i == 0 {
                let bare = 100.0 * d.em_bare.iter().sum::<f64>() / d.em_bare.len().max(1) as f64;
                em.series.push(Series::new(
                    "bare backbone (dev EM)",
                    color::CONTROL,
                    Kind::HLine,
                    vec![Point::new(0.0, bare)],
                ));
            }
        }
        out.push(Figure {
            name: format!("rag-interface-{profile}"),
            title: format!("Interface study for W_0^ret, profile {profile}"),
            cols: 2,
            panels: vec![curves, em],
        });
    }
    Ok(out)
}
