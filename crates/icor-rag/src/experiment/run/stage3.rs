//! Stage 3 (Eq. 9): per RAG-GD method, the bases fitted to the training targets (one per K)
//! and `g_φ` trained by the matching loss, with its fidelity on held-out contexts; the
//! per-task mode shares the per-query predictor; then HyperTuning, the same `g_φ` trained
//! through the answer loss (checkpointed).

use std::collections::BTreeMap;
use std::time::Instant;

use super::context::{Ctx, Progress};
use super::stage1::W0;
use super::stage2::Targets;
use crate::analysis::checks::Checked;
use crate::baselines::hypertuning::{HyperContext, train_hypertuning};
use crate::error::{Error, Result};
use crate::experiment::eval::{Pool, TrainedG};
use crate::experiment::methods::MethodKind;
use crate::experiment::results::{CollapseSummary, CurvePoint, PredictorSummary, StageTime};
use crate::experiment::tensors::TensorFile;
use crate::method::factored::{Basis, FactoredDelta};
use crate::method::frozen::FrozenStates;
use crate::method::matching::NormTerm;
use crate::method::meta::{TrainedPredictor, fit_bases, train_predictor};
use crate::method::predictor::{Predictor, PredictorShape};

/// Every predictor a selected method reads, by method id, timed as one stage.
pub(super) fn predictors(
    cx: &Ctx<'_>,
    frozen: &mut FrozenStates,
    pr: &mut Progress,
    t: &Targets,
    pools: &BTreeMap<String, Pool>,
    w0: &W0,
) -> Result<BTreeMap<String, TrainedG>> {
    let started = Instant::now();
    let mut out = matching(cx, pr, t)?;
    context_curve(cx, pr, t)?;
    share_per_task(cx, &mut out);
    hypertuning(cx, frozen, pr, t, pools, w0, &mut out)?;
    let seconds = started.elapsed().as_secs_f64();
    pr.record.stages.push(StageTime {
        stage: format!("stage 3: g_φ ({})", cx.rname),
        seconds,
    });
    eprintln!("  stage 3: g_φ ({}): {seconds:.1} s", cx.rname);
    Ok(out)
}

/// The row label of a predictor's checks.
fn checked<'a>(cx: &'a Ctx<'_>, method: &'a str, k: usize, term: &'a str) -> Checked<'a> {
    Checked {
        retriever: cx.rname,
        method,
        k,
        term,
        rank: cx.p.adapter.rank,
        backbone_params: super::backbone_params(&cx.model.config),
        layout: cx.layout,
    }
}

/// `g_φ` per per-query RAG-GD method, by the matching loss in bases fitted per K.
fn matching(cx: &Ctx<'_>, pr: &mut Progress, t: &Targets) -> Result<BTreeMap<String, TrainedG>> {
    let set = t.set(cx);
    let mut out = BTreeMap::new();
    let mut bases_by_k: BTreeMap<usize, Vec<Basis>> = BTreeMap::new();
    for m in cx.methods {
        let MethodKind::RagGd { k, term, per_task } = m.kind else {
            continue;
        };
        if per_task {
            continue; // shares the per-query method's predictor at the same K and term
        }
        let ki = t.k_index(k);
        // One basis per K, shared by the norm-term variants.
        let bases = bases_by_k
            .entry(k)
            .or_insert_with(|| {
                let train_d: Vec<&FactoredDelta> = t
                    .contexts
                    .iter()
                    .zip(&t.deltas)
                    .filter(|(c, _)| !c.heldout)
                    .map(|(_, d)| &d[ki])
                    .collect();
                fit_bases(&train_d, cx.p.predictor.basis_rank)
            })
            .clone();
        let (train_p, held_p) = (
            set.projected(&bases, ki, false),
            set.projected(&bases, ki, true),
        );
        let shape = PredictorShape {
            d: cx.model.config.d_model,
            hidden: cx.p.predictor.hidden,
            code: cx.p.predictor.code,
            blocks: cx.layout.blocks.len(),
            r: bases.first().map_or(1, |b| b.p.ncols()),
        };
        let tp = train_predictor(
            &train_p,
            shape,
            &cx.p.predictor,
            term,
            cx.p.seed,
            &cx.options.device,
            &format!("stage 3: g_φ {} ({})", m.label, cx.rname),
            cx.options.progress,
        )?;
        let label = checked(cx, &m.id, k, term.name());
        let checks = set.check(&tp, ki, &train_p, &held_p, &label, &cx.options.device);
        keep(pr, &mut out, &m.id, checks, tp, bases);
    }
    Ok(out)
}

/// `g_φ`'s learning curve: RAG-GD at the middle K with the log² term, its bases and
/// predictor refitted on the first n training contexts (round-robin over the pools, so every
/// pool is in from the start) for each n of the profile's curve, and checked on the same
/// held-out contexts as the full predictor.
fn context_curve(cx: &Ctx<'_>, pr: &mut Progress, t: &Targets) -> Result<()> {
    let p = cx.p;
    let k = p.mid_k();
    let Some(m) = cx.methods.iter().find(|m| {
        m.kind
            == MethodKind::RagGd {
                k,
                term: NormTerm::LogSquared,
                per_task: false,
            }
    }) else {
        return Ok(());
    };
    let ki = t.k_index(k);
    let full = t.set(cx);
    let order = round_robin(t);
    for &n in p.predictor.context_curve.iter().filter(|&&n| n > 0) {
        let n = n.min(order.len());
        let mut set = full.clone();
        set.contexts = full
            .contexts
            .iter()
            .enumerate()
            .filter(|(i, c)| c.heldout || order[..n].contains(i))
            .map(|(_, c)| *c)
            .collect();
        let train_d: Vec<&FactoredDelta> = set
            .contexts
            .iter()
            .filter(|c| !c.heldout)
            .map(|c| &c.deltas[ki])
            .collect();
        let bases = fit_bases(&train_d, p.predictor.basis_rank);
        let (train_p, held_p) = (
            set.projected(&bases, ki, false),
            set.projected(&bases, ki, true),
        );
        let shape = PredictorShape {
            d: cx.model.config.d_model,
            hidden: p.predictor.hidden,
            code: p.predictor.code,
            blocks: cx.layout.blocks.len(),
            r: bases.first().map_or(1, |b| b.p.ncols()),
        };
        let tp = train_predictor(
            &train_p,
            shape,
            &p.predictor,
            NormTerm::LogSquared,
            p.seed,
            &cx.options.device,
            &format!("stage 3: g_φ on {n} contexts ({})", cx.rname),
            cx.options.progress,
        )?;
        let label = checked(cx, &m.id, k, NormTerm::LogSquared.name());
        let (summary, _) = set.check(&tp, ki, &train_p, &held_p, &label, &cx.options.device);
        pr.record.context_curve.push(CurvePoint {
            contexts: n,
            summary,
        });
    }
    Ok(())
}

/// The training contexts' indices, the first of every pool, then the second of every pool, …
fn round_robin(t: &Targets) -> Vec<usize> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut pools: Vec<&str> = Vec::new();
    let mut keyed: Vec<(usize, usize, usize)> = Vec::new();
    for (i, c) in t.contexts.iter().enumerate().filter(|(_, c)| !c.heldout) {
        if !pools.contains(&c.pool.as_str()) {
            pools.push(&c.pool);
        }
        let r = seen.entry(&c.pool).or_default();
        let pool = pools.iter().position(|p| *p == c.pool).unwrap_or(0);
        keyed.push((*r, pool, i));
        *r += 1;
    }
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, _, i)| i).collect()
}

/// Records a trained predictor's checks and keeps it for method `id`.
fn keep(
    pr: &mut Progress,
    out: &mut BTreeMap<String, TrainedG>,
    id: &str,
    (summary, collapse): (PredictorSummary, CollapseSummary),
    trained: TrainedPredictor,
    bases: Vec<Basis>,
) {
    pr.record.predictors.push(summary);
    pr.record.collapse.push(collapse);
    out.insert(
        id.to_string(),
        TrainedG {
            predictor: trained.predictor,
            bases,
        },
    );
}

/// The per-task mode uses the per-query predictor of the same K and term.
fn share_per_task(cx: &Ctx<'_>, out: &mut BTreeMap<String, TrainedG>) {
    for m in cx.methods {
        if let MethodKind::RagGd {
            k,
            term,
            per_task: true,
        } = m.kind
            && let Some(src) = cx.methods.iter().find(|o| {
                o.kind
                    == MethodKind::RagGd {
                        k,
                        term,
                        per_task: false,
                    }
            })
            && let Some(g) = out.get(&src.id).cloned()
        {
            out.insert(m.id.clone(), g);
        }
    }
}

/// HyperTuning at each K it is registered with: `g_φ`'s architecture, started from the
/// matching-trained predictor's normalisation, trained through the answer loss of the
/// training contexts' other pool questions (resumable).
fn hypertuning(
    cx: &Ctx<'_>,
    frozen: &mut FrozenStates,
    pr: &mut Progress,
    t: &Targets,
    pools: &BTreeMap<String, Pool>,
    w0: &W0,
    out: &mut BTreeMap<String, TrainedG>,
) -> Result<()> {
    let set = t.set(cx);
    for m in cx.methods {
        let MethodKind::HyperTuning { k } = m.kind else {
            continue;
        };
        let src = cx
            .methods
            .iter()
            .find(|o| {
                o.kind
                    == MethodKind::RagGd {
                        k,
                        term: NormTerm::LogSquared,
                        per_task: false,
                    }
            })
            .and_then(|o| out.get(&o.id).cloned())
            .ok_or_else(|| {
                Error::Config(format!("HyperTuning at K = {k} needs RAG-GD at K = {k}"))
            })?;
        let ki = t.k_index(k);
        let hctx: Vec<HyperContext<'_>> = t
            .contexts
            .iter()
            .zip(&t.hbars)
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
        let trained = hyper_trained(cx, frozen, w0, &src, &hctx)?;
        let (train_p, held_p) = (
            set.projected(&src.bases, ki, false),
            set.projected(&src.bases, ki, true),
        );
        let label = checked(cx, &m.id, k, "answer loss");
        let checks = set.check(&trained, ki, &train_p, &held_p, &label, &cx.options.device);
        keep(pr, out, &m.id, checks, trained, src.bases);
    }
    Ok(())
}

/// HyperTuning's predictor: read back when its stamp matches, else trained and saved.
fn hyper_trained(
    cx: &Ctx<'_>,
    frozen: &mut FrozenStates,
    w0: &W0,
    src: &TrainedG,
    hctx: &[HyperContext<'_>],
) -> Result<TrainedPredictor> {
    let p = cx.p;
    let path = cx.path(&format!("hypertuning-{}.safetensors", cx.rname));
    let hstamp = cx.key(
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
                cx.model,
                frozen,
                cx.layout,
                &w0.flat,
                &src.bases,
                trained.predictor,
                hctx,
                &p.predictor,
                p.seed,
                &format!("stage 3: HyperTuning ({})", cx.rname),
                cx.options.progress,
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
    Ok(trained)
}
