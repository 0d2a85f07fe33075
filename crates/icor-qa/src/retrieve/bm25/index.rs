//! The persisted BM25 index: one tantivy document per passage (analysed `contents` with term
//! frequencies and field norms; the corpus row as a fast field). A small `icor-bm25.json` next
//! to it records the corpus it was built from (path, size, modification time, passages); when
//! that no longer matches, the index is rebuilt.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{Index, IndexReader, TantivyDocument};

use super::analyzer::{ANALYZER_NAME, analyzer};
use crate::data::{JsonlReader, Passage, ReadOptions};
use crate::error::{Error, Result};
use crate::retrieve::stamp::CorpusStamp;

/// Version of the index layout and analyser; bump when either changes.
const FORMAT: u32 = 2;
const META_FILE: &str = "icor-bm25.json";

/// How a build went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexStats {
    /// Passages indexed.
    pub passages: u64,
    /// Malformed corpus lines skipped.
    pub skipped: u64,
    /// Seconds the build took (0 when an existing index was opened).
    pub build_seconds: f64,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    format: u32,
    stamp: CorpusStamp,
    stats: IndexStats,
}

/// An open BM25 index.
pub struct Bm25Index {
    pub(crate) reader: IndexReader,
    pub(crate) contents: Field,
    pub(crate) dir: PathBuf,
    /// Statistics of the build that made it.
    pub stats: IndexStats,
}

fn index_err(dir: &Path) -> impl Fn(tantivy::TantivyError) -> Error + '_ {
    move |e| Error::Index {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    }
}

fn schema() -> (Schema, Field, Field) {
    let mut builder = Schema::builder();
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(ANALYZER_NAME)
        .set_index_option(IndexRecordOption::WithFreqs)
        .set_fieldnorms(true);
    let contents = builder.add_text_field(
        "contents",
        TextOptions::default().set_indexing_options(indexing),
    );
    let row = builder.add_u64_field("row", NumericOptions::default().set_fast());
    (builder.build(), contents, row)
}

impl Bm25Index {
    /// Opens the index in `dir` if it was built from `corpus` as it is now; otherwise builds it
    /// (streaming the corpus; `on_passage` is called after each passage, for a progress bar).
    pub fn open_or_build(
        dir: &Path,
        corpus: &Path,
        options: ReadOptions,
        on_passage: impl FnMut(u64),
    ) -> Result<Self> {
        let stamp = CorpusStamp::of(corpus)?;
        let meta_path = dir.join(META_FILE);
        if let Ok(text) = std::fs::read_to_string(&meta_path)
            && let Ok(meta) = serde_json::from_str::<Meta>(&text)
            && meta.format == FORMAT
            && meta.stamp == stamp
        {
            return Self::open(dir, meta.stats);
        }
        Self::build(dir, corpus, stamp, options, on_passage)
    }

    fn open(dir: &Path, stats: IndexStats) -> Result<Self> {
        let index = Index::open_in_dir(dir).map_err(index_err(dir))?;
        index.tokenizers().register(ANALYZER_NAME, analyzer());
        let contents = index
            .schema()
            .get_field("contents")
            .map_err(index_err(dir))?;
        let reader = index.reader().map_err(index_err(dir))?;
        Ok(Self {
            reader,
            contents,
            dir: dir.to_path_buf(),
            stats,
        })
    }

    /// Builds the index from scratch in `dir` (removing what was there).
    pub fn build(
        dir: &Path,
        corpus: &Path,
        stamp: CorpusStamp,
        options: ReadOptions,
        mut on_passage: impl FnMut(u64),
    ) -> Result<Self> {
        let started = Instant::now();
        let io = |source| Error::Io {
            path: dir.to_path_buf(),
            source,
        };
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io)?;
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        let (schema, contents, row) = schema();
        let index = Index::create_in_dir(dir, schema).map_err(index_err(dir))?;
        index.tokenizers().register(ANALYZER_NAME, analyzer());
        let mut writer = index
            .writer_with_num_threads::<TantivyDocument>(1, 64_000_000)
            .map_err(index_err(dir))?;
        let mut reader = JsonlReader::<Passage>::open(corpus, options)?;
        let mut passages = 0u64;
        for passage in reader.by_ref() {
            let passage = passage?;
            let mut doc = TantivyDocument::default();
            doc.add_text(contents, &passage.contents);
            doc.add_u64(row, passages);
            writer.add_document(doc).map_err(index_err(dir))?;
            passages += 1;
            on_passage(passages);
        }
        writer.commit().map_err(index_err(dir))?;
        writer.wait_merging_threads().map_err(index_err(dir))?;
        let stats = IndexStats {
            passages,
            skipped: reader.skipped(),
            build_seconds: started.elapsed().as_secs_f64(),
        };
        let meta = serde_json::to_string_pretty(&Meta {
            format: FORMAT,
            stamp,
            stats: stats.clone(),
        })
        .map_err(|e| io(e.into()))?;
        std::fs::write(dir.join(META_FILE), meta).map_err(io)?;
        Self::open(dir, stats)
    }

    /// The folder of the index.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
