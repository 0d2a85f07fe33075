//! Stage 3 (Eq. 9): per RAG-GD method, the bases fitted to the training targets (one per K)
//! and `g_φ` trained by the matching loss, with its fidelity on held-out contexts; the
//! per-task mode shares the per-query predictor; then HyperTuning, the same `g_φ` trained
//! through the answer loss (checkpointed).

use std::collections::BTreeMap;
use std::time::Instant;

use super::context::{Ctx, Progress, record_time};
use super::stage1::W0;
use super::stage2::Targets;
use super::stored;
use crate::analysis::checks::{Checked, TargetSet};
use crate::baselines::hypertuning::{HyperContext, train_hypertuning};
use crate::error::{Error, Result};
use crate::experiment::eval::{Pool, TrainedG};
use crate::experiment::methods::{Method, MethodKind};
use crate::experiment::results::{CollapseSummary, CurvePoint, PredictorSummary};
use crate::experiment::tensors::TensorFile;
use crate::method::factored::Basis;
use crate::method::frozen::FrozenStates;
use crate::method::matching::NormTerm;
use crate::method::meta::{TrainedPredictor, fit_bases, train_predictor};
use crate::method::predictor::{Predictor, PredictorShape};

/// Every predictor a selected method reads, by method id, timed as one stage, and stored
/// with its checks for the later parts of the run ([`super::stored`]).
pub(super) fn predictors(
    cx: &Ctx<'_>,
    frozen: &mut FrozenStates,
    pr: &mut Progress,
    t: &Targets,
    pools: &BTreeMap<String, Pool>,
    w0: &W0,
) -> Result<BTreeMap<String, TrainedG>> {
    let started = Instant::now();
    let r = &pr.record;
    let from = (r.predictors.len(), r.collapse.len(), r.context_curve.len());
    let mut out = matching(cx, pr, t)?;
    let curve = context_curve(cx, pr, t)?;
    hypertuning(cx, frozen, pr, t, pools, w0, &mut out)?;
    let shapes = out
        .iter()
        .map(|(id, g)| (id.clone(), g.predictor.shape))
        .collect();
    let checks = stored::Checks::since(pr, cx.rname, from, curve, shapes)?;
    let mut out = stored::save(cx, &out, &checks)?;
    share_per_task(cx, &mut out);
    let name = format!("stage 3: g_φ ({})", cx.rname);
    record_time(&mut pr.record.stages, name, started.elapsed().as_secs_f64());
    Ok(out)
}

/// The predictors stored by an earlier part of the run with these settings, where they
/// hold every one a selected method reads (and the curve where its method is selected):
/// then stages 2 and 3 need not run.
pub(super) fn stored_predictors(
    cx: &Ctx<'_>,
    pr: &mut Progress,
) -> Result<Option<BTreeMap<String, TrainedG>>> {
    let started = Instant::now();
    let needed: Vec<String> = cx
        .methods
        .iter()
        .filter(|m| match m.kind {
            MethodKind::RagGd { per_task, .. } => !per_task,
            MethodKind::HyperTuning { .. } => true,
            _ => false,
        })
        .map(|m| m.id.clone())
        .collect();
    let Some(mut out) = stored::load(cx, pr, &needed, curve_method(cx).is_some())? else {
        return Ok(None);
    };
    share_per_task(cx, &mut out);
    let name = format!("stages 2–3: g_φ read back ({})", cx.rname);
    record_time(&mut pr.record.stages, name, started.elapsed().as_secs_f64());
    Ok(Some(out))
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

/// `g_φ` per per-query RAG-GD method, by the matching loss in bases fitted per K (on the
/// contexts with a target at that K).
fn matching(cx: &Ctx<'_>, pr: &mut Progress, t: &Targets) -> Result<BTreeMap<String, TrainedG>> {
    let mut out = BTreeMap::new();
    let mut bases_by_k: BTreeMap<usize, Vec<Basis>> = BTreeMap::new();
    for m in cx.methods {
        let MethodKind::RagGd { k, term, per_task } = m.kind else {
            continue;
        };
        if per_task {
            continue; // shares the per-query method's predictor at the same K and term
        }
        let set = t.set(cx, t.k_index(k));
        // One basis per K, shared by the norm-term variants.
        let bases = bases_by_k
            .entry(k)
            .or_insert_with(|| fit_bases(&set.deltas(false), cx.p.predictor.basis_rank))
            .clone();
        let tp = fit_predictor(
            cx,
            &set,
            &bases,
            term,
            &format!("{} ({})", m.label, cx.rname),
        )?;
        let label = checked(cx, &m.id, k, term.name());
        let checks = check(cx, &set, &tp, &bases, &label);
        keep(pr, &mut out, &m.id, checks, tp, bases);
    }
    Ok(out)
}

/// `g_φ` trained by the matching loss on the training contexts of `set`, in `bases`.
fn fit_predictor(
    cx: &Ctx<'_>,
    set: &TargetSet<'_>,
    bases: &[Basis],
    term: NormTerm,
    what: &str,
) -> Result<TrainedPredictor> {
    let shape = PredictorShape {
        d: cx.model.config.d_model,
        hidden: cx.p.predictor.hidden,
        code: cx.p.predictor.code,
        blocks: cx.layout.blocks.len(),
        r: bases.first().map_or(1, |b| b.p.ncols()),
    };
    train_predictor(
        &set.projected(bases, false),
        shape,
        &cx.p.predictor,
        term,
        cx.p.seed,
        &cx.options.device,
        &format!("stage 3: g_φ {what}"),
        cx.options.progress,
    )
}

/// A trained predictor's checks on `set`'s training and held-out contexts in `bases`.
fn check(
    cx: &Ctx<'_>,
    set: &TargetSet<'_>,
    tp: &TrainedPredictor,
    bases: &[Basis],
    label: &Checked<'_>,
) -> (PredictorSummary, CollapseSummary) {
    let (train_p, held_p) = (set.projected(bases, false), set.projected(bases, true));
    set.check(tp, &train_p, &held_p, label, &cx.options.device)
}

/// `g_φ`'s learning curve: RAG-GD at the curve's K ([`crate::Profile::curve_k`]) with the
/// log² term, its bases and predictor refitted on the first n training contexts
/// (round-robin over the pools, so every pool is in from the start) for each n of the
/// profile's curve, and checked on the same held-out contexts as the full predictor.
fn context_curve(cx: &Ctx<'_>, pr: &mut Progress, t: &Targets) -> Result<bool> {
    let p = cx.p;
    let k = p.curve_k();
    let Some(m) = curve_method(cx) else {
        return Ok(false);
    };
    let full = t.set(cx, t.k_index(k));
    let order = round_robin(&full);
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
        let bases = fit_bases(&set.deltas(false), p.predictor.basis_rank);
        let what = format!("on {n} contexts ({})", cx.rname);
        let tp = fit_predictor(cx, &set, &bases, NormTerm::LogSquared, &what)?;
        let label = checked(cx, &m.id, k, NormTerm::LogSquared.name());
        let (summary, _) = check(cx, &set, &tp, &bases, &label);
        pr.record.context_curve.push(CurvePoint {
            contexts: n,
            summary,
        });
    }
    Ok(true)
}

/// The method whose predictor the learning curve refits: RAG-GD per query at the curve's K
/// with the log² term, where selected.
fn curve_method<'a>(cx: &Ctx<'a>) -> Option<&'a Method> {
    let k = cx.p.curve_k();
    cx.methods.iter().find(|m| {
        m.kind
            == MethodKind::RagGd {
                k,
                term: NormTerm::LogSquared,
                per_task: false,
            }
    })
}

/// The training contexts' indices in `set`, the first of every pool, then the second of
/// every pool, … (a context's pool is its task: training contexts belong to their pool).
fn round_robin(set: &TargetSet<'_>) -> Vec<usize> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut pools: Vec<&str> = Vec::new();
    let mut keyed: Vec<(usize, usize, usize)> = Vec::new();
    for (i, c) in set.contexts.iter().enumerate().filter(|(_, c)| !c.heldout) {
        if !pools.contains(&c.task) {
            pools.push(c.task);
        }
        let r = seen.entry(c.task).or_default();
        let pool = pools.iter().position(|p| *p == c.task).unwrap_or(0);
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
        // The training contexts with a target at K: the contexts g_φ at K was fitted on, so
        // the two differ in their supervision only.
        let ki = t.k_index(k);
        let hctx: Vec<HyperContext<'_>> = t
            .contexts
            .iter()
            .zip(&t.hbars)
            .zip(&t.deltas)
            .filter(|((c, _), d)| !c.heldout && d[ki].is_some())
            .map(|(ch, _)| ch)
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
        let set = t.set(cx, t.k_index(k));
        let label = checked(cx, &m.id, k, "answer loss");
        let checks = check(cx, &set, &trained, &src.bases, &label);
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
        &(
            &p.predictor,
            &p.targets.for_stamp(),
            &p.adapter,
            p.support,
            p.pool_size,
        ),
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
