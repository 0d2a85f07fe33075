//! The committed artefacts of the study: `<dir>/mechanism/<name>.json` (one analysis per
//! model or variant) and `<dir>/mechanism.md` rendered from all of them.

use std::path::{Path, PathBuf};

use super::analysis::Analysis;
use super::report::render;
use crate::error::{Error, Result, io_err};
use crate::experiment::store::write_atomic;

pub fn analysis_path(dir: &Path, name: &str) -> PathBuf {
    dir.join("mechanism").join(format!("{name}.json"))
}

pub fn report_path(dir: &Path) -> PathBuf {
    dir.join("mechanism.md")
}

pub fn save(dir: &Path, name: &str, a: &Analysis) -> Result<PathBuf> {
    let path = analysis_path(dir, name);
    let mut bytes = serde_json::to_vec_pretty(a).map_err(|e| Error::Format {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    write_atomic(&path, &bytes)?;
    Ok(path)
}

/// Every analysis in `<dir>/mechanism/` (each named by its file stem), a model's study
/// before its variants.
pub fn load_all(dir: &Path) -> Result<Vec<Analysis>> {
    let folder = dir.join("mechanism");
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(&folder) {
        Ok(d) => d
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err(&folder)(e)),
    };
    // A model's study first, then its variants (`<model>--<variant>`).
    paths.sort_by_key(|p| {
        let stem = p
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let base = stem.split("--").next().unwrap_or_default().to_string();
        (base, stem.contains("--"), stem)
    });
    paths
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).map_err(io_err(p))?;
            let mut a: Analysis = serde_json::from_slice(&bytes).map_err(|e| Error::Format {
                path: p.clone(),
                reason: e.to_string(),
            })?;
            a.name = p
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            Ok(a)
        })
        .collect()
}

/// The report as rendered from `<dir>/mechanism/*.json`.
pub fn rendered(dir: &Path) -> Result<String> {
    Ok(render(&load_all(dir)?))
}

/// Renders and writes `<dir>/mechanism.md`.
pub fn write_report(dir: &Path) -> Result<PathBuf> {
    let path = report_path(dir);
    write_atomic(&path, rendered(dir)?.as_bytes())?;
    Ok(path)
}
