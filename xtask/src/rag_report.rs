//! `cargo xtask rag-report [--check]`: `reports/rag-<profile>.md` from every
//! `reports/rag/<profile>.json` that `icor rag run` wrote, rendered by the same code the run
//! uses (`icor_rag::analysis::report::render`). A variant run `reports/rag/<profile>--<what>.json` (an
//! ablation: `icor rag run --interface-layers 0 …`) also gets its paired comparison against
//! `reports/rag/<profile>.json` (`icor_rag::analysis::ablation::render`). The interface study's
//! `reports/rag-interface-<profile>.md` is rendered from `reports/rag/interface/<profile>/*.json`
//! (`icor_rag::analysis::interface::render`). `--check` fails when a committed report is stale.

use std::path::Path;

use anyhow::{Context, Result, bail};

pub fn run(root: &Path, check: bool) -> Result<()> {
    interface_reports(root, check)?;
    let dir = root.join("reports/rag");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("no {} yet: nothing to render", dir.display());
        return Ok(());
    };
    let mut names: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    for json in names {
        let profile = json
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let results = icor_rag::experiment::run::load_results(&json)?;
        let mut fresh = icor_rag::analysis::report::render(&results);
        if let Some((base, _)) = profile.split_once("--") {
            let base_json = dir.join(format!("{base}.json"));
            let base_results = icor_rag::experiment::run::load_results(&base_json)
                .with_context(|| format!("{}: the run it ablates", json.display()))?;
            fresh.push_str(&icor_rag::analysis::ablation::render(
                &base_results,
                base,
                &results,
                &profile,
            )?);
        }
        let md = root.join(format!("reports/rag-{profile}.md"));
        write_or_check(&md, fresh, check)?;
    }
    Ok(())
}

/// `reports/rag-interface-<profile>.md` from every study folder
/// `reports/rag/interface/<profile>/` that `icor rag interface` wrote.
fn interface_reports(root: &Path, check: bool) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(root.join("reports/rag/interface")) else {
        return Ok(());
    };
    let mut dirs: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let profile = dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let variants = icor_rag::analysis::interface::load_variants(&dir)?;
        let fresh = icor_rag::analysis::interface::render(&profile, &variants)?;
        let md = root.join(format!("reports/rag-interface-{profile}.md"));
        write_or_check(&md, fresh, check)?;
    }
    Ok(())
}

/// Writes `fresh` to `md`, or with `check` fails where the committed file differs.
fn write_or_check(md: &Path, fresh: String, check: bool) -> Result<()> {
    if check {
        let committed =
            std::fs::read_to_string(md).with_context(|| format!("reading {}", md.display()))?;
        if committed != fresh {
            bail!(
                "{} is stale: run `cargo xtask rag-report` and commit it",
                md.display()
            );
        }
        println!("{} is up to date", md.display());
    } else {
        std::fs::write(md, fresh).with_context(|| format!("writing {}", md.display()))?;
        println!("wrote {}", md.display());
    }
    Ok(())
}
