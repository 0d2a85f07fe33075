//! `icor rag run`: every stage of the method and its comparison, in order, resumable.
//! [`run`] is Algorithm 1 as a list of stages; each stage is a module:
//!
//! | stage | module | what | artefact (in the run folder) |
//! |---|---|---|---|
//! | 0 | [`run`] | retrieval of every question the run uses | `retrieval/<retriever>.json` |
//! | 1 | `stage1` | `W_0^ret`; prompt tuning | `adapter-<retriever>.safetensors` (checkpointed), `w0-<retriever>.safetensors` (PEFT layout); `prompt-<retriever>.safetensors` |
//! | – | `pools` | the support and training pools with their demonstrations | – |
//! | 2 | `stage2` | gradient-step targets, K = max, snapshots; `h̄(C)` | `targets/<retriever>/<context>.safetensors` |
//! | 3 | `stage3` | bases and `g_φ` per (K, norm term); HyperTuning | `hypertuning-<retriever>.safetensors` (checkpoint); `predictors-<retriever>.safetensors` (`stored`: every predictor with its bases and checks, so a later part skips stages 2–3) |
//! | 4 | `stage4` | evaluation of every method; the collapse check | `eval/<retriever>/<set>.json` (per question) |
//!
//! `context` holds what every stage reads (`Ctx`), the stamps, and the results so far.
//!
//! Every artefact carries a stamp (stage settings, model sha256, code version): a stale one
//! is rebuilt, never reused. The results are returned as [`Results`].

mod context;
mod pools;
mod stage1;
mod stage2;
mod stage3;
mod stage4;
mod stored;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use icor_llm::{LoadedModel, load_model};
use icor_qa::data::{CORPUS_NAME, QaExample, corpus_path};
use icor_qa::retrieve::setup::{OpenOptions, RetrieverKind, open};
use icor_qa::retrieve::{Corpus, CorpusStamp, LazyRetriever};

use crate::error::{Error, Result};
use crate::experiment::eval::Deploy;
use crate::experiment::methods::{Method, MethodKind, registry};
use crate::experiment::profile::Profile;
use crate::experiment::prompt::Prompter;
use crate::experiment::results::{Results, StageTime};
use crate::experiment::retrieval::{Items, RetrievalMap, retrieve_missing};
use crate::experiment::store::Stamp;
use crate::experiment::tasks::Splits;
use crate::method::frozen::FrozenStates;
use crate::method::params::LoraLayout;
use context::{Ctx, Progress, record_time, timed};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub profile: Profile,
    /// Run folder (artefacts, checkpoints).
    pub out: PathBuf,
    /// Asset cache.
    pub home: PathBuf,
    pub device: Device,
    pub backend: String,
    pub progress: bool,
    /// The last stage to run (earlier stages are run or resumed first).
    pub until: Stage,
    /// Where to write the results measured so far (JSON, Markdown report) after each
    /// retriever, marked `complete: false` until the last.
    pub partial: Option<(PathBuf, PathBuf)>,
    /// Run only these methods (ids; `None`: every registered one). Stages no selected method
    /// reads are skipped: `W_0^ret` without a method that starts from it, the targets and
    /// `g_φ` without RAG-GD or HyperTuning, the soft prefix without prompt tuning. Such a
    /// part is joined to the rest of its profile by `icor rag merge`.
    pub methods: Option<Vec<String>>,
    /// Questions decoded as one batch in the evaluation (speed only: the answers are the same).
    pub eval_batch: usize,
    /// The profile's evaluated sets before a `--sets` filter narrowed `profile.eval_sets`
    /// (`None`: not filtered). The stored `g_φ` are stamped with these, so that a filtered
    /// run reads the whole profile's; it never writes them (its checks would cover only its
    /// own sets' held-out contexts).
    pub profile_sets: Option<Vec<String>>,
}

/// The registered methods of `p`, restricted to `only` (ids) where given.
///
/// Fails with [`Error::Config`] naming an id the profile does not register.
pub fn selected_methods(p: &Profile, only: Option<&[String]>) -> Result<Vec<Method>> {
    let all = registry(p);
    let Some(only) = only else {
        return Ok(all);
    };
    if let Some(bad) = only.iter().find(|id| !all.iter().any(|m| &m.id == *id)) {
        return Err(Error::Config(format!(
            "method `{bad}` is not registered by profile `{}` (it has: {})",
            p.name,
            all.iter()
                .map(|m| m.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(all.into_iter().filter(|m| only.contains(&m.id)).collect())
}

/// The stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Stage 1: `W_0^ret`.
    Adapter,
    /// Stage 2: the gradient-step targets.
    Targets,
    /// Stage 3: bases and `g_φ`.
    Predictor,
    /// Stage 4: every method evaluated.
    Eval,
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The metadata entry of an exported `W_0^ret` that lists its training questions.
pub const TRAINED_ON: &str = "trained_on";

/// Runs every stage of `options.profile`, retriever by retriever: Algorithm 1 as a list of
/// stages, each in its own module.
pub fn run(options: &RunOptions) -> Result<Results> {
    let started = Instant::now();
    let p = &options.profile;
    p.check()?;
    std::fs::create_dir_all(&options.out).map_err(crate::error::io_err(&options.out))?;
    let mut stages = Vec::new();
    eprintln!(
        "icor rag run --profile {}: model {}, backend {}",
        p.name, p.model, options.backend
    );
    let LoadedModel {
        model,
        tokenizer,
        path: model_path,
        ..
    } = timed(&mut stages, "load model".into(), || {
        Ok(load_model(&p.model, &options.device)?)
    })?;
    let model_sha256 = icor_assets::verify::hash_file(&model_path)
        .map_err(crate::error::io_err(&model_path))?
        .1;
    let splits = timed(&mut stages, "load data".into(), || {
        Splits::load(&options.home, p)
    })?;
    let corpus_file = corpus_path(&options.home);
    let corpus = Corpus::open(&corpus_file, false, |_| {})?;
    let corpus_stamp = CorpusStamp::of(&corpus_file)?;
    let n_layers = model.config.n_layers;
    let split = if p.interface_layers == 0 || p.interface_layers >= n_layers {
        0
    } else {
        n_layers - p.interface_layers
    };
    let layout = LoraLayout::new(&model.config, split, p.adapter.rank, p.adapter.alpha);
    let prompter = Prompter {
        tokenizer: &tokenizer,
        doc_tokens: p.doc_tokens,
    };
    let methods = selected_methods(p, options.methods.as_deref())?;
    let needs = Needs::of(&methods);
    let sources = pools::sources(&splits);
    let wanted = pools::wanted(&splits, &sources, &p.train_pools[0]);
    let record = Results::new(
        p.clone(),
        model_path.display().to_string(),
        model_sha256.clone(),
        options.backend.clone(),
        methods.clone(),
        stages,
    );
    let mut pr = Progress::new(record, started);
    for rname in &p.retrievers {
        eprintln!("== retriever {rname}");
        let (retriever, map) = retrieval(
            options,
            rname,
            (&corpus_file, corpus.len(), &corpus_stamp),
            &wanted,
            &mut pr.record.stages,
        )?;
        let items = Items {
            corpus: &corpus,
            map: &map,
        };
        let cx = Ctx {
            options,
            p,
            model: &model,
            prompter: &prompter,
            layout: &layout,
            methods: &methods,
            splits: &splits,
            rname,
            model_sha256: &model_sha256,
        };
        let mut frozen = FrozenStates::new(split);
        // Stage 1.
        let (train, dev) = stage1::instances(&cx, &items)?;
        let shown = stage1::dev_in_prompt(&cx, &items)?;
        let stage1_in = (&train[..], &dev[..], &shown[..]);
        let w0 = stage1::base_adapter(&cx, &mut frozen, &mut pr, stage1_in, needs.w0)?;
        if options.until == Stage::Adapter {
            continue; // `icor rag adapter`: W_0^ret alone, not the prompt-tuning baseline
        }
        let soft = stage1::prompt_tuning(&cx, &mut pr, &train, needs.soft)?;
        drop((train, dev));
        let mut pools = pools::build(&cx, &items, &sources)?;
        // Stages 2–3, where a selected method reads g_φ.
        let mut predictors = BTreeMap::new();
        if needs.g {
            // Stored by an earlier part: the targets are not needed (unless asked for).
            let stored = match options.until {
                Stage::Targets => None,
                _ => stage3::stored_predictors(&cx, &mut pr)?,
            };
            predictors = match stored {
                Some(g) => g,
                None => {
                    let targets = stage2::targets(&cx, &mut frozen, &mut pr, &mut pools, &w0)?;
                    if options.until == Stage::Targets {
                        continue;
                    }
                    stage3::predictors(&cx, &mut frozen, &mut pr, &targets, &pools, &w0)?
                }
            };
            if options.until == Stage::Predictor {
                continue;
            }
        }
        if options.until < Stage::Eval {
            continue;
        }
        // Stage 4.
        let deploy = Deploy {
            model: &model,
            prompter: &prompter,
            profile: p,
            layout: &layout,
            w0_flat: &w0.flat,
            w0: &w0.adapter,
            predictors: &predictors,
            soft: soft.as_ref(),
            methods: &methods,
            batch_questions: options.eval_batch,
        };
        stage4::evaluate(
            &cx,
            &mut frozen,
            &mut pr,
            &mut pools,
            &deploy,
            &items,
            &retriever,
        )?;
        record_opening(&retriever, rname, &mut pr.record.stages);
        if let Some((json, md)) = &options.partial {
            let r = pr.results(false);
            save_results(json, &r)?;
            crate::experiment::store::write_atomic(
                md,
                crate::analysis::report::render(&r).as_bytes(),
            )?;
        }
    }
    Ok(pr.results(true))
}

/// The time opening the retriever took, where this pass opened it (stage 0 for missing
/// retrieval, or stage 4 for a per-query cost sample), recorded as a stage of its own.
fn record_opening(retriever: &LazyRetriever<'_>, rname: &str, stages: &mut Vec<StageTime>) {
    if let Some(seconds) = retriever.open_seconds() {
        record_time(stages, format!("open retriever ({rname})"), seconds);
    }
}

/// Stage 0: retriever `rname` over the corpus (its file, passage count and stamp), opened on
/// its first search, and every wanted question's documents, cached in the run folder. A
/// resumed run whose questions are all cached, and whose per-query costs are measured,
/// never opens it (the dense retriever on a new machine: encoding the whole corpus).
fn retrieval<'a>(
    options: &'a RunOptions,
    rname: &str,
    (corpus_file, passages, corpus_stamp): (&'a Path, usize, &CorpusStamp),
    wanted: &[(String, &QaExample)],
    stages: &mut Vec<StageTime>,
) -> Result<(LazyRetriever<'a>, RetrievalMap)> {
    let kind: RetrieverKind = rname.parse()?;
    let retriever = LazyRetriever::new(kind, move || {
        let mut o = OpenOptions::new(&options.home);
        o.progress = options.progress;
        Ok(open(kind, corpus_file, passages, &o)?)
    });
    let docs = options.profile.docs;
    let stamp = Stamp::new(
        &format!("retrieval-{rname}"),
        &(&corpus_stamp.fnv64, CORPUS_NAME, docs),
        "-",
    );
    let path = options.out.join("retrieval").join(format!("{rname}.json"));
    let map = timed(stages, format!("retrieval ({rname})"), || {
        retrieve_missing(&retriever, wanted, docs, &path, &stamp, options.progress)
    })?;
    Ok((retriever, map))
}

/// Which optional stages the selected methods read.
struct Needs {
    /// `W_0^ret`: every method that starts from it.
    w0: bool,
    /// The targets and `g_φ`: RAG-GD and HyperTuning.
    g: bool,
    /// The soft prefix: prompt tuning.
    soft: bool,
}

impl Needs {
    fn of(methods: &[Method]) -> Self {
        Self {
            w0: methods.iter().any(|m| {
                matches!(
                    m.kind,
                    MethodKind::BaseAdapter
                        | MethodKind::FewShot { adapter: true }
                        | MethodKind::RagGd { .. }
                        | MethodKind::HyperTuning { .. }
                        | MethodKind::TtSgd { .. }
                )
            }),
            g: methods.iter().any(Method::uses_predictor),
            soft: methods.iter().any(|m| m.kind == MethodKind::PromptTuning),
        }
    }
}

/// Weights of the backbone (embedding, blocks, output head when untied).
pub fn backbone_params(c: &icor_llm::LlmConfig) -> usize {
    let (d, hd) = (c.d_model, c.head_dim);
    let attn = d * c.n_heads * hd * 2 + d * c.n_kv_heads * hd * 2;
    let mlp = 3 * d * c.d_ff;
    let emb = c.vocab_size * d * if c.tied_embeddings { 1 } else { 2 };
    emb + c.n_layers * (attn + mlp + 2 * d) + d
}

/// Writes the results JSON atomically.
pub fn save_results(path: &Path, r: &Results) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(r).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    crate::experiment::store::write_atomic(path, &bytes)
}

/// Reads a results JSON.
pub fn load_results(path: &Path) -> Result<Results> {
    let bytes = std::fs::read(path).map_err(crate::error::io_err(path))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Methods that this profile registers (for `--help`-style listings).
pub fn method_labels(profile: &Profile) -> Vec<String> {
    registry(profile)
        .into_iter()
        .map(|m: Method| format!("{} ({})", m.label, m.id))
        .collect()
}
