//! `icor rag run`: every stage of the method and its comparison, in order, resumable.
//!
//! | stage | what | artefact (in the run folder) |
//! |---|---|---|
//! | 0 | retrieval of every question the run uses | `retrieval/<retriever>.json` |
//! | 1 | `W_0^ret` | `adapter-<retriever>.safetensors` (checkpointed); `w0-<retriever>.safetensors` (PEFT layout) |
//! | 2 | gradient-step targets, K = max, snapshots | `targets/<retriever>/<pool>-<c>.safetensors` |
//! | 3 | bases and `g_φ` per (K, norm term) | in memory (seconds; deterministic) |
//! | 4 | evaluation of every method | `eval/<retriever>/<set>.json` (per question) |
//!
//! Every artefact carries a stamp (stage settings, model sha256, code version): a stale one
//! is rebuilt, never reused. The results are returned as [`Results`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use icor_llm::{LoadedModel, load_model};
use icor_qa::data::{CORPUS_NAME, QaExample, corpus_path};
use icor_qa::retrieve::setup::{OpenOptions, RetrieverKind, open};
use icor_qa::retrieve::{Corpus, CorpusStamp, Retriever};
use serde::Serialize;

use crate::adapter::train_adapter;
use crate::checks::{Checked, TargetContext, TargetSet};
use crate::error::{Error, Result};
use crate::eval::{Deploy, Pool, TrainedG, deployed_coefficients, evaluate_set};
use crate::factored::FactoredDelta;
use crate::frozen::FrozenStates;
use crate::hypertuning::{HyperContext, train_hypertuning};
use crate::matching::NormTerm;
use crate::meta::{TrainedPredictor, fit_bases, mean_pairwise_cos_coeffs, train_predictor};
use crate::method::{Method, MethodKind, registry};
use crate::params::LoraLayout;
use crate::predictor::{Predictor, PredictorShape};
use crate::profile::Profile;
use crate::prompt::{Instance, Item, Prompter};
use crate::prompt_tuning::train_prompt;
use crate::results::{
    AdapterSummary, CollapseSummary, PredictorSummary, Results, SetRecord, StageTime, TargetSummary,
};
use crate::retrieval::{Items, retrieve_missing};
use crate::store::{Stamp, remove_partials};
use crate::target::gd_steps;
use crate::tasks::{Splits, regex_answer_text};
use crate::tensors::TensorFile;

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

fn timed<T>(stages: &mut Vec<StageTime>, name: String, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let t = Instant::now();
    let out = f()?;
    let seconds = t.elapsed().as_secs_f64();
    eprintln!("  {name}: {seconds:.1} s");
    stages.push(StageTime {
        stage: name,
        seconds,
    });
    Ok(out)
}

/// Settings a stage depends on, for its stamp.
#[derive(Serialize)]
struct StageKey<'a, T: Serialize> {
    profile_model: &'a str,
    interface_layers: usize,
    docs: usize,
    doc_tokens: usize,
    retriever: &'a str,
    seed: u64,
    /// [`crate::tasks::SPLITS_VERSION`]: which questions fill the pools.
    splits: u32,
    stage: T,
}

/// The metadata entry of an exported `W_0^ret` that lists its training questions.
pub const TRAINED_ON: &str = "trained_on";

/// Runs every stage of `options.profile`.
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
    // Methods that start from `W_0^ret`, and those that read the targets and `g_φ`.
    let needs_w0 = methods.iter().any(|m| {
        matches!(
            m.kind,
            MethodKind::BaseAdapter
                | MethodKind::FewShot { adapter: true }
                | MethodKind::RagGd { .. }
                | MethodKind::HyperTuning { .. }
                | MethodKind::TtSgd { .. }
        )
    });
    let needs_g = methods.iter().any(Method::uses_predictor);
    let needs_soft = methods.iter().any(|m| m.kind == MethodKind::PromptTuning);
    let backbone_params = backbone_params(&model.config);

    // Every (set key, question) the run reads, and the pools.
    let mut pool_sources: BTreeMap<String, (String, Vec<QaExample>, bool)> = BTreeMap::new();
    for tp in &splits.train_pools {
        pool_sources.insert(tp.key.clone(), (tp.key.clone(), tp.pool.clone(), false));
    }
    for t in &splits.eval {
        pool_sources
            .entry(t.pool_key.clone())
            .or_insert_with(|| (t.pool_set.clone(), t.pool.clone(), t.spec.regex_answers));
    }
    let adapter_set = p.train_pools[0].clone();
    let mut wanted: Vec<(String, &QaExample)> = Vec::new();
    wanted.extend(
        splits
            .adapter_train
            .iter()
            .map(|q| (adapter_set.clone(), q)),
    );
    for (set, rows, _) in pool_sources.values() {
        wanted.extend(rows.iter().map(|q| (set.clone(), q)));
    }
    for t in &splits.eval {
        wanted.extend(t.questions.iter().map(|q| (t.key.clone(), q)));
    }

    let mut pr = Progress {
        p,
        model_path: model_path.display().to_string(),
        model_sha256: model_sha256.clone(),
        backend: options.backend.clone(),
        methods: methods.clone(),
        stages: Vec::new(),
        adapters: Vec::new(),
        prompts: Vec::new(),
        targets: Vec::new(),
        predictors: Vec::new(),
        collapse: Vec::new(),
        sets: Vec::new(),
        started,
    };
    pr.stages.append(&mut stages);

    for rname in &p.retrievers {
        let kind: RetrieverKind = rname.parse()?;
        eprintln!("== retriever {rname}");
        let retriever: Box<dyn Retriever> =
            timed(&mut pr.stages, format!("open retriever ({rname})"), || {
                let mut o = OpenOptions::new(&options.home);
                o.progress = options.progress;
                Ok(open(kind, &corpus_file, corpus.len(), &o)?)
            })?;
        let rdir = options.out.join("retrieval");
        let rstamp = Stamp::new(
            &format!("retrieval-{rname}"),
            &(&corpus_stamp.fnv64, CORPUS_NAME, p.docs),
            "-",
        );
        let map = timed(&mut pr.stages, format!("retrieval ({rname})"), || {
            retrieve_missing(
                retriever.as_ref(),
                &wanted,
                p.docs,
                &rdir.join(format!("{rname}.json")),
                &rstamp,
                options.progress,
            )
        })?;
        let items = Items {
            corpus: &corpus,
            map: &map,
        };
        let mut frozen = FrozenStates::new(split);
        let key = |stage: &str, settings: &dyn erased::Ser| {
            Stamp::new(
                stage,
                &StageKey {
                    profile_model: &p.model,
                    interface_layers: p.interface_layers,
                    docs: p.docs,
                    doc_tokens: p.doc_tokens,
                    retriever: rname,
                    seed: p.seed,
                    splits: crate::tasks::SPLITS_VERSION,
                    stage: settings.json(),
                },
                &model_sha256,
            )
        };

        // Stage 1.
        let avg = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len().max(1) as f64;
        let train_instances: Vec<Instance> = splits
            .adapter_train
            .iter()
            .map(|q| prompter.rag_instance(&items.item(&adapter_set, q)?))
            .collect::<Result<_>>()?;
        let astamp = key("adapter", &p.adapter);
        let w0_flat = if needs_w0 {
            let trained = timed(
                &mut pr.stages,
                format!("stage 1: W_0^ret ({rname})"),
                || {
                    train_adapter(
                        &model,
                        &mut frozen,
                        &layout,
                        &train_instances,
                        &p.adapter,
                        p.seed,
                        &options.out.join(format!("adapter-{rname}.safetensors")),
                        &astamp,
                        options.progress,
                        None,
                    )
                },
            )?;
            let tenth = (trained.losses.len() / 10).max(1);
            pr.adapters.push(AdapterSummary {
                retriever: rname.clone(),
                steps: trained.losses.len(),
                instances: train_instances.len(),
                loss_start: avg(&trained.losses[..tenth.min(trained.losses.len())]),
                loss_end: avg(&trained.losses[trained.losses.len().saturating_sub(tenth)..]),
                curve: trained.losses.clone(),
                seconds: trained.total_seconds,
            });
            trained.params
        } else {
            // No selected method reads it: a zero adapter (B = 0, the bare backbone).
            vec![0f32; layout.len]
        };
        let w0 = layout.adapter(&w0_flat, &options.device);
        if needs_w0 {
            let trained_on: Vec<String> = splits
                .adapter_train
                .iter()
                .map(|q| format!("{adapter_set}:{}", q.id))
                .collect();
            export_w0(
                &w0,
                &trained_on,
                &options.out.join(format!("w0-{rname}.safetensors")),
            )?;
        }
        // Prompt tuning: the same instances and budget, a soft prefix instead of the LoRA.
        let soft = match &p.prompt_tuning {
            Some(pt) if needs_soft => {
                let (soft, t) = timed(
                    &mut pr.stages,
                    format!("stage 1: prompt tuning ({rname})"),
                    || {
                        train_prompt(
                            &model,
                            &train_instances,
                            pt,
                            p.seed,
                            &options.out.join(format!("prompt-{rname}.safetensors")),
                            &key("prompt-tuning", pt),
                            options.progress,
                            None,
                        )
                    },
                )?;
                let tenth = (t.losses.len() / 10).max(1).min(t.losses.len());
                pr.prompts.push(AdapterSummary {
                    retriever: rname.clone(),
                    steps: t.losses.len(),
                    instances: train_instances.len(),
                    loss_start: avg(&t.losses[..tenth]),
                    loss_end: avg(&t.losses[t.losses.len() - tenth..]),
                    seconds: t.total_seconds,
                    curve: t.losses,
                });
                Some(soft)
            }
            _ => None,
        };
        drop(train_instances);
        if options.until == Stage::Adapter {
            continue;
        }

        // Pools with their demonstrations.
        let mut pools: BTreeMap<String, Pool> = BTreeMap::new();
        for (pkey, (set, rows, regex)) in &pool_sources {
            let demos = rows
                .iter()
                .map(|q| {
                    let mut item: Item = items.item(set, q)?;
                    if *regex {
                        item.answers = item.answers.iter().map(|a| regex_answer_text(a)).collect();
                    }
                    Ok(item)
                })
                .collect::<Result<Vec<_>>>()?;
            let inst = demos
                .iter()
                .map(|item| prompter.rag_instance(item))
                .collect::<Result<Vec<_>>>()?;
            pools.insert(pkey.clone(), Pool::new(pkey.clone(), demos, inst));
        }

        // Stages 2–3, where a selected method reads g_φ.
        let predictors: BTreeMap<String, TrainedG> = if needs_g {
            // Stage 2: contexts and their targets.
            // Meta-training contexts from the training pools, held-out ones from each evaluated
            // task's support pool (disjoint from every training pool).
            let contexts = crate::contexts::draw(&splits, p);
            let tstamp = key("targets", &(&p.targets, &p.adapter, p.support, p.pool_size));
            let tdir = options.out.join("targets").join(rname);
            remove_partials(&tdir)?;
            let ks = {
                let mut ks = p.targets.ks.clone();
                ks.sort_unstable();
                ks
            };
            let mut deltas: Vec<Vec<FactoredDelta>> = Vec::new(); // [context][k]
            let mut hbars: Vec<Vec<f32>> = Vec::new();
            let mut support_losses: Vec<Vec<f32>> = Vec::new();
            let mut context_seconds: Vec<f64> = Vec::new();
            let t2 = Instant::now();
            let mut computed = 0usize;
            {
                let bar = icor_qa::retrieve::progress::bar(
                    &format!("stage 2: targets ΔW_GD^(K) ({rname})"),
                    contexts.len() as u64,
                    "contexts",
                    options.progress,
                );
                // Encodes demonstrations (no predictor yet).
                let no_predictors = BTreeMap::new();
                let encoder = Deploy {
                    model: &model,
                    prompter: &prompter,
                    profile: p,
                    layout: &layout,
                    w0_flat: &w0_flat,
                    w0: &w0,
                    predictors: &no_predictors,
                    soft: None,
                    methods: &methods,
                };
                for ctx in &contexts {
                    let path = tdir.join(format!("{}.safetensors", ctx.name));
                    let pool = pools
                        .get_mut(&ctx.pool)
                        .ok_or_else(|| Error::Config(format!("no pool {}", ctx.pool)))?;
                    let file = match TensorFile::load_or_rebuild(&path, &tstamp)? {
                        Some(f) => f,
                        None => {
                            let started = Instant::now();
                            let demos = pool.context(&ctx.idx);
                            let steps = gd_steps(
                                &model,
                                &mut frozen,
                                &layout,
                                &w0_flat,
                                &demos,
                                p.targets.eta,
                                &ks,
                                "targets",
                            )?;
                            let mut f = TensorFile::default();
                            for (k, prm) in steps.ks.iter().zip(&steps.params) {
                                f.tensors.insert(format!("k{k}"), prm.clone());
                            }
                            f.tensors.insert("losses".into(), steps.losses);
                            f.tensors.insert(
                                "hbar".into(),
                                pool.pooled(&encoder, &mut frozen, &ctx.idx)?,
                            );
                            f.meta.insert(
                                "seconds".into(),
                                started.elapsed().as_secs_f64().to_string(),
                            );
                            f.save(&path, &tstamp)?;
                            computed += 1;
                            f
                        }
                    };
                    let mut per_k = Vec::new();
                    for k in &ks {
                        per_k.push(FactoredDelta::lora_change(
                            &layout,
                            file.get(&format!("k{k}"), &path)?,
                            &w0_flat,
                        ));
                    }
                    deltas.push(per_k);
                    support_losses.push(file.get("losses", &path)?.to_vec());
                    context_seconds
                        .extend(file.meta.get("seconds").and_then(|s| s.parse::<f64>().ok()));
                    // h̄(C) is stored with the target (the same W_0^ret made both).
                    let hbar = match file.tensors.get("hbar") {
                        Some(h) => h.clone(),
                        None => pool.pooled(&encoder, &mut frozen, &ctx.idx)?,
                    };
                    hbars.push(hbar);
                    bar.inc(1);
                }
                bar.finish_and_clear();
            }
            let t2s = t2.elapsed().as_secs_f64();
            pr.stages.push(StageTime {
                stage: format!("stage 2: targets ({rname})"),
                seconds: t2s,
            });
            eprintln!("  stage 2: targets ({rname}): {t2s:.1} s ({computed} computed)");
            let kmax = ks.iter().copied().max().unwrap_or(1);
            let mut support_loss = vec![0f64; kmax];
            for l in &support_losses {
                for (t, &x) in l.iter().enumerate() {
                    support_loss[t] += f64::from(x) / support_losses.len() as f64;
                }
            }
            let mut mean_norm = BTreeMap::new();
            for (ki, k) in ks.iter().enumerate() {
                let all: Vec<f64> = deltas.iter().flat_map(|d| d[ki].norms()).collect();
                mean_norm.insert(
                    format!("k{k}"),
                    all.iter().sum::<f64>() / all.len().max(1) as f64,
                );
            }
            pr.targets.push(TargetSummary {
                retriever: rname.clone(),
                train_contexts: contexts.iter().filter(|c| !c.heldout).count(),
                heldout_contexts: contexts.iter().filter(|c| c.heldout).count(),
                support_loss,
                mean_norm,
                // As measured when each target was computed (also after a resume).
                seconds_per_context: context_seconds.iter().sum::<f64>()
                    / context_seconds.len().max(1) as f64,
            });

            if options.until == Stage::Targets {
                continue;
            }

            // Stage 3: bases and g_φ per RAG-GD method, then HyperTuning.
            let targets = TargetSet {
                contexts: contexts
                    .iter()
                    .zip(&deltas)
                    .zip(&hbars)
                    .map(|((c, d), h)| TargetContext {
                        task: &c.task,
                        heldout: c.heldout,
                        deltas: d,
                        hbar: h,
                    })
                    .collect(),
                tasks: splits.eval.iter().map(|t| t.key.clone()).collect(),
            };
            let mut predictors: BTreeMap<String, TrainedG> = BTreeMap::new();
            let mut bases_by_k: BTreeMap<usize, Vec<crate::factored::Basis>> = BTreeMap::new();
            let t3 = Instant::now();
            for m in &methods {
                let MethodKind::RagGd { k, term, per_task } = m.kind else {
                    continue;
                };
                if per_task {
                    continue; // shares the per-query method's predictor at the same K and term
                }
                let ki = ks.iter().position(|&x| x == k).unwrap_or(0);
                // One basis per K, shared by the norm-term variants.
                let bases = match bases_by_k.get(&k) {
                    Some(b) => b.clone(),
                    None => {
                        let train_d: Vec<&FactoredDelta> = contexts
                            .iter()
                            .zip(&deltas)
                            .filter(|(c, _)| !c.heldout)
                            .map(|(_, d)| &d[ki])
                            .collect();
                        let b = fit_bases(&train_d, p.predictor.basis_rank);
                        bases_by_k.insert(k, b.clone());
                        b
                    }
                };
                let (train_p, held_p) = (
                    targets.projected(&bases, ki, false),
                    targets.projected(&bases, ki, true),
                );
                let shape = PredictorShape {
                    d: model.config.d_model,
                    hidden: p.predictor.hidden,
                    code: p.predictor.code,
                    blocks: layout.blocks.len(),
                    r: bases.first().map_or(1, |b| b.p.ncols()),
                };
                let tp = train_predictor(
                    &train_p,
                    shape,
                    &p.predictor,
                    term,
                    p.seed,
                    &options.device,
                    &format!("stage 3: g_φ {} ({rname})", m.label),
                    options.progress,
                )?;
                let (summary, collapse) = targets.check(
                    &tp,
                    ki,
                    &train_p,
                    &held_p,
                    &Checked {
                        retriever: rname,
                        method: &m.id,
                        k,
                        term: term.name(),
                        rank: p.adapter.rank,
                        backbone_params,
                        layout: &layout,
                    },
                    &options.device,
                );
                pr.predictors.push(summary);
                pr.collapse.push(collapse);
                predictors.insert(
                    m.id.clone(),
                    TrainedG {
                        predictor: tp.predictor,
                        bases,
                    },
                );
            }
            // The per-task mode uses the per-query predictor of the same K and term.
            for m in &methods {
                if let MethodKind::RagGd {
                    k,
                    term,
                    per_task: true,
                } = m.kind
                    && let Some(src) = methods.iter().find(|o| {
                        o.kind
                            == MethodKind::RagGd {
                                k,
                                term,
                                per_task: false,
                            }
                    })
                    && let Some(g) = predictors.get(&src.id).cloned()
                {
                    predictors.insert(m.id.clone(), g);
                }
            }
            for m in &methods {
                let MethodKind::HyperTuning { k } = m.kind else {
                    continue;
                };
                let src = methods
                    .iter()
                    .find(|o| {
                        o.kind
                            == MethodKind::RagGd {
                                k,
                                term: NormTerm::LogSquared,
                                per_task: false,
                            }
                    })
                    .and_then(|o| predictors.get(&o.id).cloned())
                    .ok_or_else(|| {
                        Error::Config(format!("HyperTuning at K = {k} needs RAG-GD at K = {k}"))
                    })?;
                let ki = ks.iter().position(|&x| x == k).unwrap_or(0);
                let hctx: Vec<HyperContext<'_>> = contexts
                    .iter()
                    .zip(&hbars)
                    .filter(|(c, _)| !c.heldout)
                    .map(|(c, h)| {
                        let pool = &pools[&c.pool];
                        HyperContext {
                            hbar: h,
                            queries: (0..pool.len())
                                .filter(|i| !c.idx.contains(i))
                                .map(|i| &pool.instances[i])
                                .collect(),
                        }
                    })
                    .collect();
                let path = options.out.join(format!("hypertuning-{rname}.safetensors"));
                let hstamp = key(
                    "hypertuning",
                    &(&p.predictor, &p.targets, &p.adapter, p.support, p.pool_size),
                );
                let g = &src.predictor;
                let mut trained = TrainedPredictor {
                    predictor: Predictor::init(
                        g.shape,
                        g.mean.clone(),
                        g.std.clone(),
                        g.scale.clone(),
                        p.seed ^ 0x4879,
                    ),
                    losses: Vec::new(),
                    seconds: 0.0,
                };
                match TensorFile::load_or_rebuild(&path, &hstamp)? {
                    Some(f) => {
                        trained.predictor.params = f.get("params", &path)?.to_vec();
                        trained.losses = f.get("losses", &path)?.to_vec();
                        trained.seconds = f.meta_parse("seconds", &path)?;
                    }
                    None => {
                        trained = train_hypertuning(
                            &model,
                            &mut frozen,
                            &layout,
                            &w0_flat,
                            &src.bases,
                            trained.predictor,
                            &hctx,
                            &p.predictor,
                            p.seed,
                            &format!("stage 3: HyperTuning ({rname})"),
                            options.progress,
                        )?;
                        let mut f = TensorFile::default();
                        f.tensors
                            .insert("params".into(), trained.predictor.params.clone());
                        f.tensors.insert("losses".into(), trained.losses.clone());
                        f.meta.insert("seconds".into(), trained.seconds.to_string());
                        f.save(&path, &hstamp)?;
                    }
                }
                if trained.predictor.params.len() != g.params.len() {
                    return Err(Error::Format {
                        path,
                        reason: format!(
                            "{} predictor weights, g_φ has {}",
                            trained.predictor.params.len(),
                            g.params.len()
                        ),
                    });
                }
                let (summary, collapse) = targets.check(
                    &trained,
                    ki,
                    &targets.projected(&src.bases, ki, false),
                    &targets.projected(&src.bases, ki, true),
                    &Checked {
                        retriever: rname,
                        method: &m.id,
                        k,
                        term: "answer loss",
                        rank: p.adapter.rank,
                        backbone_params,
                        layout: &layout,
                    },
                    &options.device,
                );
                pr.predictors.push(summary);
                pr.collapse.push(collapse);
                predictors.insert(
                    m.id.clone(),
                    TrainedG {
                        predictor: trained.predictor,
                        bases: src.bases,
                    },
                );
            }
            let t3s = t3.elapsed().as_secs_f64();
            pr.stages.push(StageTime {
                stage: format!("stage 3: g_φ ({rname})"),
                seconds: t3s,
            });
            eprintln!("  stage 3: g_φ ({rname}): {t3s:.1} s");

            if options.until == Stage::Predictor {
                continue;
            }

            predictors
        } else {
            BTreeMap::new()
        };
        if options.until < Stage::Eval {
            continue;
        }

        // Stage 4.
        let deploy = Deploy {
            model: &model,
            prompter: &prompter,
            profile: p,
            layout: &layout,
            w0_flat: &w0_flat,
            w0: &w0,
            predictors: &predictors,
            soft: soft.as_ref(),
            methods: &methods,
        };
        let estamp = key(
            "eval",
            &(
                &p.eval,
                &p.targets,
                &p.predictor,
                &p.adapter,
                p.support,
                p.pool_size,
                &methods,
            ),
        );
        let t4 = Instant::now();
        let mut deployed: BTreeMap<String, BTreeMap<String, Vec<Vec<f32>>>> = BTreeMap::new();
        for task in &splits.eval {
            let its: Vec<Item> = task
                .questions
                .iter()
                .map(|q| items.item(&task.key, q))
                .collect::<Result<_>>()?;
            let pool = pools
                .get_mut(&task.pool_key)
                .ok_or_else(|| Error::Config(format!("no pool {}", task.pool_key)))?;
            let qo = pr.sets.iter().find(|s| s.set == task.key);
            let rec = evaluate_set(
                &deploy,
                &mut frozen,
                &task.key,
                task.held_out,
                task.spec.regex_answers,
                rname,
                Some(retriever.as_ref()),
                &its,
                pool,
                qo,
                &options
                    .out
                    .join("eval")
                    .join(rname)
                    .join(format!("{}.json", sanitize(&task.key))),
                &estamp,
                options.progress,
            )?;
            for m in &methods {
                if matches!(
                    m.kind,
                    MethodKind::RagGd {
                        per_task: false,
                        ..
                    } | MethodKind::HyperTuning { .. }
                ) {
                    let c = deployed_coefficients(
                        &deploy,
                        &mut frozen,
                        pool,
                        &m.id,
                        its.len(),
                        &options.device,
                    )?;
                    deployed
                        .entry(m.id.clone())
                        .or_default()
                        .insert(task.key.clone(), c);
                }
            }
            pr.sets.push(rec);
        }
        let t4s = t4.elapsed().as_secs_f64();
        pr.stages.push(StageTime {
            stage: format!("stage 4: evaluation ({rname})"),
            seconds: t4s,
        });
        eprintln!("  stage 4: evaluation ({rname}): {t4s:.1} s");
        for c in pr.collapse.iter_mut().filter(|c| &c.retriever == rname) {
            let Some(per_set) = deployed.get(&c.method) else {
                continue;
            };
            let blocks = layout.blocks.len();
            let mut across = Vec::new();
            let keys: Vec<&String> = per_set.keys().collect();
            for (a, ka) in keys.iter().enumerate() {
                let ca: Vec<&[f32]> = per_set[*ka].iter().map(Vec::as_slice).collect();
                c.deployed_within.insert(
                    (*ka).clone(),
                    mean_pairwise_cos_coeffs(&ca, &ca, blocks, true),
                );
                for kb in keys.iter().skip(a + 1) {
                    let cb: Vec<&[f32]> = per_set[*kb].iter().map(Vec::as_slice).collect();
                    across.push(mean_pairwise_cos_coeffs(&ca, &cb, blocks, false));
                }
            }
            c.deployed_across = across.iter().sum::<f64>() / across.len().max(1) as f64;
        }
        if let Some((json, md)) = &options.partial {
            let r = pr.results(false);
            save_results(json, &r)?;
            crate::store::write_atomic(md, crate::report::render(&r).as_bytes())?;
        }
    }

    Ok(pr.results(true))
}

/// What has been measured so far, for the results file written after each retriever.
struct Progress<'a> {
    p: &'a Profile,
    model_path: String,
    model_sha256: String,
    backend: String,
    methods: Vec<Method>,
    stages: Vec<StageTime>,
    adapters: Vec<AdapterSummary>,
    prompts: Vec<AdapterSummary>,
    targets: Vec<TargetSummary>,
    predictors: Vec<PredictorSummary>,
    collapse: Vec<CollapseSummary>,
    sets: Vec<SetRecord>,
    started: Instant,
}

impl Progress<'_> {
    fn results(&self, complete: bool) -> Results {
        Results {
            profile: self.p.clone(),
            complete,
            model_path: self.model_path.clone(),
            model_sha256: self.model_sha256.clone(),
            backend: self.backend.clone(),
            // burn's CPU kernels run on rayon's pool: RAYON_NUM_THREADS when set, else every
            // core.
            threads: std::env::var("RAYON_NUM_THREADS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            code_version: env!("CARGO_PKG_VERSION").into(),
            splits: crate::tasks::SPLITS_VERSION,
            methods: self.methods.clone(),
            stages: self.stages.clone(),
            adapters: self.adapters.clone(),
            prompts: self.prompts.clone(),
            targets: self.targets.clone(),
            predictors: self.predictors.clone(),
            collapse: self.collapse.clone(),
            sets: self.sets.clone(),
            total_seconds: self.started.elapsed().as_secs_f64(),
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
    crate::store::write_atomic(path, &bytes)
}

/// Reads a results JSON.
pub fn load_results(path: &Path) -> Result<Results> {
    let bytes = std::fs::read(path).map_err(crate::error::io_err(path))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

mod erased {
    /// A settings value turned into JSON for a stamp.
    pub trait Ser {
        fn json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}

/// Methods that this profile registers (for `--help`-style listings).
pub fn method_labels(profile: &Profile) -> Vec<String> {
    registry(profile)
        .into_iter()
        .map(|m: Method| format!("{} ({})", m.label, m.id))
        .collect()
}

/// `W_0^ret` in PEFT's LoRA layout (what `icor rag mechanism --adapter` and PyTorch's PEFT
/// read), with the keys of its training questions (`name/split:id`, one per line) in the
/// metadata entry [`TRAINED_ON`], written through a temporary file so a killed run leaves
/// no partial file.
fn export_w0(
    w0: &icor_llm::LoraAdapter,
    trained_on: &[String],
    path: &std::path::Path,
) -> Result<()> {
    let tmp = path.with_extension("safetensors.tmp");
    w0.save_with(&tmp, &[(TRAINED_ON.to_string(), trained_on.join("\n"))])?;
    std::fs::rename(&tmp, path).map_err(crate::error::io_err(path))
}
