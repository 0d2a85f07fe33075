//! `icor rag mechanism`: every context of a study measured in order, each saved as soon as it
//! is done (`contexts/<i>.json`, and its vectors in `vectors/<i>.safetensors`, both atomic and
//! stamped with the settings and the model's sha256), so a killed study resumes at the first
//! context not on disk and a larger M extends a finished one. The run folder holds no
//! absolute path: it can move between machines. The default folder is
//! `runs/mechanism/<name>/`, committed but for `vectors/` (git-ignored), so a study spans
//! sessions on different machines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use icor_llm::{LoadedModel, load_model};
use icor_qa::data::{CORPUS_NAME, QaExample, corpus_path};
use icor_qa::retrieve::setup::{OpenOptions, RetrieverKind, open};
use icor_qa::retrieve::{Corpus, CorpusStamp};

use super::base::BaseAdapter;
use super::contexts::{Context, Question, draw};
use super::measure::{ContextInput, Measurer};
use super::record::ContextRecord;
use super::segments::{BlockBuilder, Segments, shifted_answers};
use super::settings::Settings;
use super::space::Space;
use crate::error::{Error, Result, io_err};
use crate::experiment::prompt::Item;
use crate::experiment::retrieval::{Items, retrieve_missing};
use crate::experiment::store::{Stamp, load_json, remove_partials, save_json};
use crate::experiment::tensors::TensorFile;

/// Where and how a study runs.
#[derive(Debug, Clone)]
pub struct StudyOptions {
    pub settings: Settings,
    /// Asset cache.
    pub home: PathBuf,
    /// Run folder.
    pub out: PathBuf,
    pub device: Device,
    pub progress: bool,
    /// Stop after this many newly measured contexts (a part of a study that spans sessions).
    pub max_new: Option<usize>,
    /// `W_0^ret` to copy into the run folder when the settings name one and the folder has
    /// no copy yet.
    pub adapter_file: Option<PathBuf>,
}

/// A study's records, in context order, and the model it ran on.
#[derive(Debug, Clone)]
pub struct StudyRun {
    pub records: Vec<ContextRecord>,
    pub model_sha256: String,
    pub n_layers: usize,
    pub vocab: usize,
    /// Whether every context of the settings is measured.
    pub complete: bool,
}

/// The stamp of every per-context artefact.
pub fn context_stamp(s: &Settings, model_sha256: &str) -> Stamp {
    Stamp::new("mechanism-context", &s.per_context_key(), model_sha256)
}

pub fn record_path(out: &Path, i: usize) -> PathBuf {
    out.join("contexts").join(format!("{i:04}.json"))
}

pub fn vectors_path(out: &Path, i: usize) -> PathBuf {
    out.join("vectors").join(format!("{i:04}.safetensors"))
}

/// Runs (or resumes) the study.
pub fn run(o: &StudyOptions) -> Result<StudyRun> {
    let s = &o.settings;
    s.check()?;
    std::fs::create_dir_all(&o.out).map_err(io_err(&o.out))?;
    for sub in ["contexts", "vectors"] {
        remove_partials(&o.out.join(sub))?;
    }
    let LoadedModel {
        model,
        tokenizer,
        path,
        ..
    } = load_model(&s.model, &o.device)?;
    let model_sha256 = icor_assets::verify::hash_file(&path)
        .map_err(io_err(&path))?
        .1;
    let stamp = context_stamp(s, &model_sha256);
    let mut have = existing(&o.out, &stamp)?;
    let w0 = match &s.adapter {
        Some(sha) => Some(BaseAdapter::open(
            &o.out,
            o.adapter_file.as_deref(),
            sha,
            &model.config,
            &o.device,
        )?),
        None => None,
    };
    let exclude = w0
        .as_ref()
        .map(|w| w.trained_on.clone())
        .unwrap_or_default();
    let contexts = draw(&o.home, s, &exclude)?;
    let items = ItemsOf::retrieve(o, &contexts)?;
    let builder = BlockBuilder::new(&tokenizer, s.doc_tokens);
    let measurer = Measurer {
        model: &model,
        settings: s,
        space: w0.as_ref().map_or(Space::Dense, Space::Lora),
    };
    let todo: Vec<usize> = (0..contexts.len())
        .filter(|i| !have.contains_key(i))
        .collect();
    let limit = o.max_new.unwrap_or(usize::MAX).min(todo.len());
    eprintln!(
        "icor rag mechanism: {} on {} contexts ({} measured, {} to do now)",
        s.model,
        contexts.len(),
        contexts.len() - todo.len(),
        limit
    );
    let bar = icor_qa::retrieve::progress::bar("mechanism", limit as u64, "contexts", o.progress);
    for &i in todo.iter().take(limit) {
        let c = &contexts[i];
        let partner = &contexts[Context::partner(i)];
        let right = items.segments(&builder, c, false)?;
        let shuffled = items.segments(&builder, c, true)?;
        let other = items.segments(&builder, partner, false)?;
        let input = ContextInput {
            index: i,
            partner: partner.index,
            query: c.query.key.clone(),
            demos: c.demos.iter().map(|d| d.key.clone()).collect(),
            right: &right,
            shuffled: &shuffled,
            other: &other,
        };
        let m = measurer.measure(&input)?;
        let file = TensorFile {
            tensors: m.vectors.into_iter().collect(),
            meta: Default::default(),
        };
        file.save(&vectors_path(&o.out, i), &stamp)?;
        save_json(&record_path(&o.out, i), &stamp, &m.record)?;
        have.insert(i, m.record);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let records: Vec<ContextRecord> = have
        .into_values()
        .filter(|r| r.index < contexts.len())
        .collect();
    Ok(StudyRun {
        complete: records.len() == contexts.len(),
        records,
        model_sha256,
        n_layers: model.config.n_layers,
        vocab: model.config.vocab_size,
    })
}

/// The records already on disk, by context index, each read once. A context is done when its
/// record is there (its vectors may have stayed on another machine: the cross cosines they
/// gave are kept in `cross.json`). A folder that holds a study made with other settings (or
/// another model, or code version) is refused rather than overwritten: its records may be
/// the only copy of hours of work.
fn existing(out: &Path, stamp: &Stamp) -> Result<BTreeMap<usize, ContextRecord>> {
    let mut have = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(out.join("contexts")) else {
        return Ok(have);
    };
    for e in entries.flatten() {
        let p = e.path();
        if !p.extension().is_some_and(|x| x == "json") {
            continue;
        }
        match load_json::<ContextRecord>(&p, stamp) {
            Err(Error::Stale { reason, .. }) => {
                return Err(Error::Config(format!(
                    "{} holds a study made with other settings ({reason}): give this one \
                     another --name or --out, or remove that folder to start over",
                    out.display()
                )));
            }
            Err(e) => return Err(e),
            Ok(Some(r)) => {
                have.insert(r.index, r);
            }
            Ok(None) => {}
        }
    }
    Ok(have)
}

/// The questions of a study with their retrieved documents.
struct ItemsOf {
    corpus: Corpus,
    map: crate::experiment::retrieval::RetrievalMap,
    query_set: String,
    demo_pool: String,
}

impl ItemsOf {
    /// Retrieves every question's documents once (cached in the run folder).
    fn retrieve(o: &StudyOptions, contexts: &[Context]) -> Result<Self> {
        let s = &o.settings;
        let corpus_file = corpus_path(&o.home);
        let corpus = Corpus::open(&corpus_file, false, |_| {})?;
        let corpus_stamp = CorpusStamp::of(&corpus_file)?;
        let kind: RetrieverKind = s.retriever.parse()?;
        let mut oo = OpenOptions::new(&o.home);
        oo.progress = o.progress;
        let retriever = open(kind, &corpus_file, corpus.len(), &oo)?;
        let rstamp = Stamp::new(
            &format!("retrieval-{}", s.retriever),
            &(&corpus_stamp.fnv64, CORPUS_NAME, s.docs),
            "-",
        );
        let mut wanted: Vec<(String, &QaExample)> = Vec::new();
        for c in contexts {
            wanted.push((s.query_set.clone(), &c.query.example));
            wanted.extend(c.demos.iter().map(|d| (s.demo_pool.clone(), &d.example)));
        }
        let path = o
            .out
            .join("retrieval")
            .join(format!("{}.json", s.retriever));
        let map = retrieve_missing(
            retriever.as_ref(),
            &wanted,
            s.docs,
            &path,
            &rstamp,
            o.progress,
        )?;
        Ok(Self {
            corpus,
            map,
            query_set: s.query_set.clone(),
            demo_pool: s.demo_pool.clone(),
        })
    }

    fn item(&self, set: &str, q: &Question) -> Result<Item> {
        Items {
            corpus: &self.corpus,
            map: &self.map,
        }
        .item(set, &q.example)
    }

    /// The context's segments, its demonstrations' answers deranged when `shuffled`.
    fn segments(&self, b: &BlockBuilder<'_>, c: &Context, shuffled: bool) -> Result<Segments> {
        let query = self.item(&self.query_set, &c.query)?;
        let demos: Vec<Item> = c
            .demos
            .iter()
            .map(|d| self.item(&self.demo_pool, d))
            .collect::<Result<_>>()?;
        let answers: Vec<&str> = c.demos.iter().map(|d| d.answer.as_str()).collect();
        let answers = if shuffled {
            shifted_answers(&answers)
        } else {
            answers
        };
        b.segments(&query, &c.query.answer, &demos, &answers)
    }
}
