//! `icor data prepare`: the shipped topic files and Wikipedia summaries → FlashRAG jsonl in the
//! asset cache, each row count checked against the catalogue before the file is written.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::catalog::{
    CORPUS_NAME, CORPUS_ROWS, DATASETS, DatasetSpec, SourceFormat, corpus_path, dataset_path,
};
use super::jsonl::write_atomic;
use super::record::QaExample;
use super::{topics, wiki};
use crate::error::{Error, Result};

/// One prepared file.
#[derive(Debug, Clone, Serialize)]
pub struct PreparedFile {
    /// `name/split`, or `corpus/wiki-summaries`.
    pub key: String,
    /// Where it was written.
    pub path: PathBuf,
    /// Rows written (equal to the catalogue's count).
    pub rows: usize,
}

fn check_rows(path: &Path, expected: usize, found: usize) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::RowCount {
            path: path.to_path_buf(),
            expected,
            found,
        })
    }
}

/// Reads one shipped data set from the topics folder.
pub fn read_source(topics_dir: &Path, spec: &DatasetSpec) -> Result<Vec<QaExample>> {
    let source = topics_dir.join(spec.source);
    let rows = match spec.format {
        SourceFormat::Tsv => topics::read_tsv_topics(&source, spec.split)?,
        SourceFormat::DprJsonl => topics::read_jsonl_topics(&source, spec.split)?,
    };
    check_rows(&source, spec.rows, rows.len())?;
    Ok(rows)
}

/// Prepares every data set and the corpus under `home` from the `qa-topics` folder and the
/// summaries file; `on_file` is called after each file (for progress).
pub fn prepare_all(
    home: &Path,
    topics_dir: &Path,
    summaries: &Path,
    mut on_file: impl FnMut(&PreparedFile),
) -> Result<Vec<PreparedFile>> {
    let mut done = Vec::new();
    for spec in &DATASETS {
        let rows = read_source(topics_dir, spec)?;
        let path = dataset_path(home, spec);
        let count = write_atomic(&path, &rows)?;
        done.push(PreparedFile {
            key: spec.key(),
            path,
            rows: count,
        });
        on_file(done.last().expect("just pushed"));
    }
    let passages = wiki::read_summaries(summaries)?;
    check_rows(summaries, CORPUS_ROWS, passages.len())?;
    let path = corpus_path(home);
    let count = write_atomic(&path, &passages)?;
    done.push(PreparedFile {
        key: format!("corpus/{CORPUS_NAME}"),
        path,
        rows: count,
    });
    on_file(done.last().expect("just pushed"));
    Ok(done)
}

/// Prepares everything from the cached assets (fetching `qa-topics` and `wiki-summaries` first
/// when they are missing).
pub fn prepare_from_assets(
    home: &Path,
    on_file: impl FnMut(&PreparedFile),
) -> Result<Vec<PreparedFile>> {
    let topics = icor_assets::ensure(home, "qa-topics")?;
    let summaries = icor_assets::ensure(home, "wiki-summaries")?;
    let summaries = if summaries.is_dir() {
        summaries.join("summaries_en-us.json")
    } else {
        summaries
    };
    prepare_all(home, &topics, &summaries, on_file)
}

/// Whether every prepared file is in place.
pub fn is_prepared(home: &Path) -> bool {
    corpus_path(home).is_file()
        && DATASETS
            .iter()
            .all(|spec| dataset_path(home, spec).is_file())
}

/// Prepares the data unless it already is; returns whether it had to.
pub fn ensure_prepared(home: &Path, on_file: impl FnMut(&PreparedFile)) -> Result<bool> {
    if is_prepared(home) {
        return Ok(false);
    }
    prepare_from_assets(home, on_file)?;
    Ok(true)
}
