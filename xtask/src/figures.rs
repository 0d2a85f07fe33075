//! `cargo xtask figures [--check]`: renders every probe figure from the sweep files under
//! `reports/probe/` (written by `icor probe`), and the EM-vs-cost figure of every RAG results
//! file under `reports/rag/` (written by `icor rag run`), into `reports/figures/{name}.svg`
//! and `.png`; the interface study's figure of every folder under `reports/rag/interface/`
//! (`icor rag interface`); and the mechanism study's figures from `reports/mechanism/` (`icor
//! rag mechanism`).
//!
//! Each figure family (one file under `figures/`) turns one sweep file into plain figure specs
//! (`spec.rs`); `render.rs` draws a spec on the SVG and on the bitmap backend. The text is laid
//! out and rasterised with the embedded DejaVu Sans (`xtask/assets/`), sizes are fixed and every
//! list is in a fixed order, so the same JSON gives byte-identical files. A sweep file that is
//! absent skips its figures. `--check` renders into a temporary folder and fails, naming each
//! stale, missing or unexpected file, when `reports/figures/` differs; it writes nothing there.

mod alpha;
mod archs;
mod curves;
mod data;
mod depth;
mod docs;
mod features;
mod interface;
mod labels;
mod mechanism;
mod nonlinear;
mod rag;
mod render;
mod spec;

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use plotters::prelude::{BitMapBackend, IntoDrawingArea, SVGBackend};
use plotters::style::FontStyle;

use data::Sweep;
use spec::Figure;

type Family = fn(&Sweep) -> Result<Vec<Figure>>;

/// Sweep file stem and the families drawn from it, in output order.
const FAMILIES: [(&str, Family); 7] = [
    ("docs", curves::figures),
    ("docs", docs::figures),
    ("alpha", alpha::figures),
    ("depth", depth::figures),
    ("archs", archs::figures),
    ("nonlinear", nonlinear::figures),
    ("features", features::figures),
];

static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn register_font() -> Result<()> {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *ONCE.get_or_init(|| {
        plotters::style::register_font(render::FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    ok.then_some(())
        .ok_or_else(|| anyhow!("xtask/assets/DejaVuSans.ttf is not a usable font"))
}

/// All figures of the sweep files present under `dir`.
fn build(dir: &Path) -> Result<Vec<Figure>> {
    let mut figs = Vec::new();
    let mut loaded: Vec<Sweep> = Vec::new();
    for (name, family) in FAMILIES {
        if !loaded.iter().any(|s| s.name == name) {
            match Sweep::load(dir, name)? {
                Some(s) => loaded.push(s),
                None => continue,
            }
        }
        let sweep = loaded
            .iter()
            .find(|s| s.name == name)
            .expect("loaded above");
        let made =
            family(sweep).with_context(|| format!("figures from {}", sweep.path.display()))?;
        figs.extend(made.into_iter().filter(|f| !f.panels.is_empty()));
    }
    Ok(figs)
}

/// Writes `{name}.svg` and `{name}.png` of every figure into `out`; returns the file names.
fn render_all(figs: &[Figure], out: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for fig in figs {
        let size = render::size(fig);
        let svg = out.join(format!("{}.svg", fig.name));
        render::draw(fig, SVGBackend::new(&svg, size).into_drawing_area())
            .with_context(|| format!("rendering {}", svg.display()))?;
        let png = out.join(format!("{}.png", fig.name));
        render::draw(fig, BitMapBackend::new(&png, size).into_drawing_area())
            .with_context(|| format!("rendering {}", png.display()))?;
        names.push(format!("{}.svg", fig.name));
        names.push(format!("{}.png", fig.name));
    }
    Ok(names)
}

/// The `.svg`/`.png` files now in `dir`, sorted.
fn existing(dir: &Path) -> Result<Vec<String>> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut v = Vec::new();
    for e in rd {
        let name = e
            .with_context(|| format!("listing {}", dir.display()))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".svg") || name.ends_with(".png") {
            v.push(name);
        }
    }
    v.sort();
    Ok(v)
}

pub fn run(root: &Path, check: bool) -> Result<()> {
    register_font()?;
    let mut figs = build(&root.join("reports/probe"))?;
    figs.extend(rag::figures(&root.join("reports/rag"))?);
    figs.extend(interface::figures(&root.join("reports/rag/interface"))?);
    figs.extend(mechanism::figures(&root.join("reports"))?);
    let dest = root.join("reports/figures");
    if check {
        let tmp = tempfile::tempdir().context("creating a temporary folder")?;
        let names = render_all(&figs, tmp.path())?;
        let mut stale = Vec::new();
        for n in &names {
            let fresh =
                std::fs::read(tmp.path().join(n)).with_context(|| format!("reading {n}"))?;
            match std::fs::read(dest.join(n)) {
                Ok(old) if old == fresh => {}
                Ok(_) => stale.push(format!("reports/figures/{n} (differs)")),
                Err(_) => stale.push(format!("reports/figures/{n} (missing)")),
            }
        }
        for n in existing(&dest)? {
            if !names.contains(&n) {
                stale.push(format!("reports/figures/{n} (no figure makes it)"));
            }
        }
        if !stale.is_empty() {
            bail!(
                "figures are stale; run `cargo xtask figures` and commit:\n  {}",
                stale.join("\n  ")
            );
        }
        println!("reports/figures: {} files up to date", names.len());
        return Ok(());
    }
    std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
    let names = render_all(&figs, &dest)?;
    for n in existing(&dest)? {
        if !names.contains(&n) {
            let p = dest.join(&n);
            std::fs::remove_file(&p).with_context(|| format!("removing stale {}", p.display()))?;
        }
    }
    println!("wrote {} files to {}", names.len(), dest.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A summary row with every CI the sweeps write.
    fn row(extra: &str, mean: f64) -> String {
        let ci = format!(r#"{{"mean": {mean}, "half_width": 0.02, "n": 3}}"#);
        format!(
            r#"{{"protocol": "authors", "docs": 5, "alpha": 0.5, "seeds": 3, {extra},
            "loss_model": {ci}, "loss_gd": {ci}, "pred_diff": {ci}, "sens_cos": {ci},
            "sens_l2_unit": {ci}, "control_sens_cos": {ci}, "control_pred_diff": {ci},
            "interp_loss": null}}"#
        )
    }

    #[test]
    fn planned_sweeps_render_deterministically() {
        register_font().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let rows = [
            row(
                r#""arch": "MLP(32) + LSA", "dataset": "two moons", "norm": "layer""#,
                0.8,
            ),
            row(
                r#""arch": "MLP(128) + LSA", "dataset": "two moons", "norm": "none""#,
                0.7,
            ),
            row(r#""arch": "MLP(32) + LSA", "dataset": "sine""#, 0.6),
        ];
        let nonlinear = format!(r#"{{"summary": [{}]}}"#, rows.join(","));
        std::fs::write(dir.path().join("nonlinear.json"), nonlinear).unwrap();
        let features = r#"{"statistics": [
            {"source": "bge", "query": {"kurtosis": 3.1, "max_abs_z": 4.0}, "corpus": {"kurtosis": 9.0}, "sens_cos": 0.9},
            {"source": "bge", "query": {"kurtosis": 8.0, "max_abs_z": 9.5}, "corpus": {"kurtosis": 2.0}, "sens_cos": 0.6},
            {"source": "e5", "query": {"kurtosis": 5.0}, "corpus": {}, "sens_cos": 0.7}],
            "correlations": [{"statistic": "query.kurtosis", "points": "all", "rho": -0.8},
                             {"statistic": "query.kurtosis", "points": "real", "rho": 0.3}]}"#;
        std::fs::write(dir.path().join("features.json"), features).unwrap();

        let figs = build(dir.path()).unwrap();
        let names: Vec<&str> = figs.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "nonlinear-alignment",
                "nonlinear-loss",
                "features-statistics"
            ]
        );
        assert_eq!(figs[2].panels.len(), 3, "absent statistics get no panel");
        assert_eq!(figs[2].panels[0].title, "query (after g): ρ = -0.80");
        assert_eq!(figs[2].panels[2].title, "corpus");

        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let files = render_all(&figs, a.path()).unwrap();
        assert_eq!(
            files,
            render_all(&build(dir.path()).unwrap(), b.path()).unwrap()
        );
        for n in &files {
            let (x, y) = (
                std::fs::read(a.path().join(n)),
                std::fs::read(b.path().join(n)),
            );
            assert_eq!(x.unwrap(), y.unwrap(), "{n} differs between two renders");
        }
    }
}
