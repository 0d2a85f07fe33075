//! The paper's Fig. 4 for each RAG results file (`reports/rag/<stem>.json`): average EM
//! over the evaluated sets (95 % bootstrap CI) against the median per-query cost of each
//! method, one panel per retriever. The x axis is log10 seconds (the paper's axis is log ms).

use std::path::Path;

use anyhow::Result;
use icor_rag::analysis::report::{Subset, question_scores};
use icor_rag::analysis::stats::bootstrap_avg;

use super::spec::{Figure, Kind, Panel, Point, Series};

pub fn figures(dir: &Path) -> Result<Vec<Figure>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let r = icor_rag::experiment::run::load_results(&path)?;
        // The file's stem, not the profile's name: an ablation (`quick--all-layers.json`)
        // runs the same profile and gets its own figure.
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut retrievers: Vec<String> = Vec::new();
        for s in &r.sets {
            if !retrievers.contains(&s.retriever) {
                retrievers.push(s.retriever.clone());
            }
        }
        let mut fig = Figure {
            name: format!("rag-{stem}-em-cost"),
            title: format!("EM vs per-query cost, {stem} ({})", r.profile.model),
            cols: retrievers.len().max(1),
            panels: Vec::new(),
        };
        for ret in &retrievers {
            let sets: Vec<_> = r.sets.iter().filter(|s| &s.retriever == ret).collect();
            let mut panel = Panel::new(
                format!("retriever {ret}"),
                "log10 seconds per query (median)",
                "average EM (%)",
            );
            let medians = icor_rag::analysis::claims::median_costs(&r, ret);
            for (i, m) in r.methods.iter().enumerate() {
                let Some(&median) = medians.get(&m.id) else {
                    continue;
                };
                let subset = m.subset(&r.profile).map_or(Subset::All, Subset::First);
                let ems: Vec<Vec<f64>> = sets
                    .iter()
                    .map(|s| question_scores(s, &m.id, subset).0)
                    .collect();
                let e = bootstrap_avg(&ems, r.profile.eval.bootstrap, i as u64);
                let x = median.max(1e-6).log10();
                let mut p = Point::new(x, e.mean);
                if e.lo.is_finite() {
                    p.lo = Some(e.lo);
                    p.hi = Some(e.hi);
                }
                panel.series.push(Series::new(
                    m.label.clone(),
                    // past the palette's ten colours, the renderer draws hollow markers
                    i,
                    Kind::Points { joined: false },
                    vec![p],
                ));
            }
            fig.panels.push(panel);
        }
        out.push(fig);
    }
    Ok(out)
}
