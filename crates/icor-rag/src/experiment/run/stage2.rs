//! Stage 2 (Eq. 8): for every meta-training and held-out context, the K-step gradient
//! targets `ΔW_GD^(K)(C)` from `W_0^ret` (the largest K run once, the smaller ones read on
//! the way) and the pooled demonstration encoding `h̄(C)`, each context's file stamped and
//! resumable.

use std::collections::BTreeMap;
use std::time::Instant;

use super::context::{Ctx, Progress};
use super::stage1::W0;
use crate::analysis::checks::{TargetContext, TargetSet};
use crate::error::{Error, Result};
use crate::experiment::contexts::Context;
use crate::experiment::eval::{Deploy, Pool};
use crate::experiment::results::{AveragingCheck, StageTime, TargetSummary};
use crate::experiment::store::{Stamp, remove_partials};
use crate::experiment::tensors::TensorFile;
use crate::method::factored::FactoredDelta;
use crate::method::frozen::FrozenStates;
use crate::method::loss::{AnswerBatch, Averaging};
use crate::method::target::{gd_steps, gd_steps_on};

/// Every context's targets and encoding.
pub(super) struct Targets {
    pub contexts: Vec<Context>,
    /// The K values, ascending.
    pub ks: Vec<usize>,
    /// `[context][k]`: `None` where the context's targets stop short of that K
    /// (`targets.all_k_contexts_per_pool`).
    pub deltas: Vec<Vec<Option<FactoredDelta>>>,
    /// `h̄(C)` per context.
    pub hbars: Vec<Vec<f32>>,
}

impl Targets {
    /// The set `g_φ` is fitted to and checked on at the K-index `ki`: the contexts with a
    /// target at that K.
    pub fn set(&self, cx: &Ctx<'_>, ki: usize) -> TargetSet<'_> {
        TargetSet {
            contexts: self
                .contexts
                .iter()
                .zip(&self.deltas)
                .zip(&self.hbars)
                .filter_map(|((c, d), h)| {
                    Some(TargetContext {
                        task: &c.task,
                        heldout: c.heldout,
                        delta: d.get(ki)?.as_ref()?,
                        hbar: h,
                    })
                })
                .collect(),
            tasks: cx.splits.eval.iter().map(|t| t.key.clone()).collect(),
        }
    }

    /// The index of `k` among the K values.
    pub fn k_index(&self, k: usize) -> usize {
        self.ks.iter().position(|&x| x == k).unwrap_or(0)
    }
}

/// One context's stored file: what it holds once computed.
struct Computed {
    file: TensorFile,
    fresh: bool,
}

/// Computes (or reads back) every context's targets, and records their summary.
pub(super) fn targets(
    cx: &Ctx<'_>,
    frozen: &mut FrozenStates,
    pr: &mut Progress,
    pools: &mut BTreeMap<String, Pool>,
    w0: &W0,
) -> Result<Targets> {
    let p = cx.p;
    let rname = cx.rname;
    let contexts = crate::experiment::contexts::draw(cx.splits, p);
    let tdir = cx.path("targets").join(rname);
    remove_partials(&tdir)?;
    let mut t = Targets {
        contexts: Vec::new(),
        ks: p.targets.ks_sorted(),
        deltas: Vec::new(),
        hbars: Vec::new(),
    };
    let mut support_losses: Vec<Vec<f32>> = Vec::new();
    let mut averaging: Vec<[f64; 4]> = Vec::new();
    let mut context_seconds: Vec<f64> = Vec::new();
    let started = Instant::now();
    let mut computed = 0usize;
    let bar = icor_qa::retrieve::progress::bar(
        &format!("stage 2: targets ΔW_GD^(K) ({rname})"),
        contexts.len() as u64,
        "contexts",
        cx.options.progress,
    );
    // Encodes demonstrations (no predictor yet).
    let no_predictors = BTreeMap::new();
    let encoder = Deploy {
        model: cx.model,
        prompter: cx.prompter,
        profile: p,
        layout: cx.layout,
        w0_flat: &w0.flat,
        w0: &w0.adapter,
        predictors: &no_predictors,
        soft: None,
        methods: cx.methods,
        batch_questions: 1,
    };
    for ctx in &contexts {
        let path = tdir.join(format!("{}.safetensors", ctx.name));
        let pool = pools
            .get_mut(&ctx.pool)
            .ok_or_else(|| Error::Config(format!("no pool {}", ctx.pool)))?;
        let Computed { file, fresh } = context_file(
            cx,
            frozen,
            &encoder,
            pool,
            ctx,
            w0,
            &path,
            &context_stamp(cx, ctx),
        )?;
        computed += usize::from(fresh);
        let per_k =
            t.ks.iter()
                .map(|k| {
                    if !ctx.ks.contains(k) {
                        return Ok(None);
                    }
                    let prm = file.get(&format!("k{k}"), &path)?;
                    Ok(Some(FactoredDelta::lora_change(cx.layout, prm, &w0.flat)))
                })
                .collect::<Result<Vec<_>>>()?;
        if ctx.averaging_check {
            averaging.push(averaging_check(cx, &file, &path, &per_k, w0)?);
        }
        t.deltas.push(per_k);
        support_losses.push(file.get("losses", &path)?.to_vec());
        context_seconds.extend(file.meta.get("seconds").and_then(|s| s.parse::<f64>().ok()));
        // h̄(C) is stored with the target (the same W_0^ret made both).
        t.hbars.push(match file.tensors.get("hbar") {
            Some(h) => h.clone(),
            None => pool.pooled(&encoder, frozen, &ctx.idx)?,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    pr.record.stages.push(StageTime {
        stage: format!("stage 2: targets ({rname})"),
        seconds,
    });
    eprintln!("  stage 2: targets ({rname}): {seconds:.1} s ({computed} computed)");
    t.contexts = contexts;
    let mut s = summary(rname, &t, &support_losses, &context_seconds);
    s.averaging = (!averaging.is_empty()).then(|| AveragingCheck {
        loss_tokens: averaging.iter().map(|a| a[0]).collect(),
        loss_instances: averaging.iter().map(|a| a[1]).collect(),
        cosine: averaging.iter().map(|a| a[2]).collect(),
        norm_ratio: averaging.iter().map(|a| a[3]).collect(),
    });
    pr.record.targets.push(s);
    Ok(t)
}

/// What a context's targets depend on beyond the run's common settings: the inner step, its
/// own K values and `W_0^ret`'s settings. Not the number of contexts, so drawing more
/// contexts, or giving more of them every K, keeps the files already computed.
#[derive(serde::Serialize)]
struct ContextKey<'a> {
    eta: f64,
    ks: &'a [usize],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    averaging_check: bool,
    adapter: &'a crate::experiment::profile::AdapterSettings,
    support: usize,
    pool_size: usize,
}

/// The stamp of context `ctx`'s file.
fn context_stamp(cx: &Ctx<'_>, ctx: &Context) -> Stamp {
    let p = cx.p;
    let key = ContextKey {
        eta: p.targets.eta,
        ks: &ctx.ks,
        averaging_check: ctx.averaging_check,
        adapter: &p.adapter,
        support: p.support,
        pool_size: p.pool_size,
    };
    cx.key("targets", &key)
}

/// A context's targets and `h̄(C)`: read back when its stamp matches, else computed and
/// saved.
#[allow(clippy::too_many_arguments)]
fn context_file(
    cx: &Ctx<'_>,
    frozen: &mut FrozenStates,
    encoder: &Deploy<'_>,
    pool: &mut Pool,
    ctx: &Context,
    w0: &W0,
    path: &std::path::Path,
    stamp: &Stamp,
) -> Result<Computed> {
    if let Some(file) = TensorFile::load_or_rebuild(path, stamp)? {
        return Ok(Computed { file, fresh: false });
    }
    let started = Instant::now();
    let demos = pool.context(&ctx.idx);
    let steps = gd_steps(
        cx.model,
        frozen,
        cx.layout,
        &w0.flat,
        &demos,
        cx.p.targets.eta,
        &ctx.ks,
        "targets",
    )?;
    let mut f = TensorFile::default();
    for (k, prm) in steps.ks.iter().zip(&steps.params) {
        f.tensors.insert(format!("k{k}"), prm.clone());
    }
    f.tensors.insert("losses".into(), steps.losses);
    if ctx.averaging_check {
        let batch = AnswerBatch::averaged(cx.model, frozen, &demos, Averaging::Instances)?;
        let split = frozen.split();
        let other = gd_steps_on(
            cx.model,
            split,
            cx.layout,
            &w0.flat,
            &batch,
            cx.p.targets.eta,
            &[1],
            "targets",
        )?;
        f.tensors
            .insert("k1_instances".into(), other.params[0].clone());
        f.tensors.insert("losses_instances".into(), other.losses);
    }
    f.tensors
        .insert("hbar".into(), pool.pooled(encoder, frozen, &ctx.idx)?);
    f.meta.insert(
        "seconds".into(),
        started.elapsed().as_secs_f64().to_string(),
    );
    f.save(path, stamp)?;
    Ok(Computed {
        file: f,
        fresh: true,
    })
}

/// What the support loss's averaging changes on one context: `[L over tokens, L over
/// instances, mean block cosine of the two K = 1 targets, their norm ratio]`.
fn averaging_check(
    cx: &Ctx<'_>,
    file: &TensorFile,
    path: &std::path::Path,
    per_k: &[Option<FactoredDelta>],
    w0: &W0,
) -> Result<[f64; 4]> {
    let k1 = cx.p.targets.ks_sorted().iter().position(|&k| k == 1);
    let tokens = k1
        .and_then(|i| per_k[i].as_ref())
        .ok_or_else(|| Error::Format {
            path: path.to_path_buf(),
            reason: "an averaging check without a K = 1 target".into(),
        })?;
    let other = FactoredDelta::lora_change(cx.layout, file.get("k1_instances", path)?, &w0.flat);
    let total = |d: &FactoredDelta| d.norms().iter().map(|n| n * n).sum::<f64>().sqrt();
    Ok([
        f64::from(file.get("losses", path)?[0]),
        f64::from(file.get("losses_instances", path)?[0]),
        other.mean_cosine(tokens),
        total(&other) / total(tokens),
    ])
}

/// The support loss along the K steps (the mean over the contexts that took every step, so
/// each step averages the same contexts), the targets' mean block norm and the number of
/// contexts per K, and the cost per context.
fn summary(
    rname: &str,
    t: &Targets,
    support_losses: &[Vec<f32>],
    context_seconds: &[f64],
) -> TargetSummary {
    let kmax = t.ks.iter().copied().max().unwrap_or(1);
    let full: Vec<&Vec<f32>> = support_losses.iter().filter(|l| l.len() == kmax).collect();
    let mut support_loss = vec![0f64; kmax];
    for l in &full {
        for (s, &x) in l.iter().enumerate() {
            support_loss[s] += f64::from(x) / full.len() as f64;
        }
    }
    let mut mean_norm = BTreeMap::new();
    let mut contexts_per_k = BTreeMap::new();
    for (ki, k) in t.ks.iter().enumerate() {
        let have: Vec<&FactoredDelta> = t.deltas.iter().filter_map(|d| d[ki].as_ref()).collect();
        let all: Vec<f64> = have.iter().flat_map(|d| d.norms()).collect();
        mean_norm.insert(
            format!("k{k}"),
            all.iter().sum::<f64>() / all.len().max(1) as f64,
        );
        contexts_per_k.insert(format!("k{k}"), have.len());
    }
    TargetSummary {
        retriever: rname.to_string(),
        train_contexts: t.contexts.iter().filter(|c| !c.heldout).count(),
        heldout_contexts: t.contexts.iter().filter(|c| c.heldout).count(),
        support_loss,
        mean_norm,
        contexts_per_k,
        // As measured when each target was computed (also after a resume).
        seconds_per_context: context_seconds.iter().sum::<f64>()
            / context_seconds.len().max(1) as f64,
        averaging: None,
    }
}
