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
use crate::experiment::results::{StageTime, TargetSummary};
use crate::experiment::store::{Stamp, remove_partials};
use crate::experiment::tensors::TensorFile;
use crate::method::factored::FactoredDelta;
use crate::method::frozen::FrozenStates;
use crate::method::target::gd_steps;

/// Every context's targets and encoding.
pub(super) struct Targets {
    pub contexts: Vec<Context>,
    /// The K values, ascending.
    pub ks: Vec<usize>,
    /// `[context][k]`.
    pub deltas: Vec<Vec<FactoredDelta>>,
    /// `h̄(C)` per context.
    pub hbars: Vec<Vec<f32>>,
}

impl Targets {
    /// The set `g_φ` is fitted and checked on.
    pub fn set(&self, cx: &Ctx<'_>) -> TargetSet<'_> {
        TargetSet {
            contexts: self
                .contexts
                .iter()
                .zip(&self.deltas)
                .zip(&self.hbars)
                .map(|((c, d), h)| TargetContext {
                    task: &c.task,
                    heldout: c.heldout,
                    deltas: d,
                    hbar: h,
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
    let tstamp = cx.key("targets", &(&p.targets, &p.adapter, p.support, p.pool_size));
    let tdir = cx.path("targets").join(rname);
    remove_partials(&tdir)?;
    let mut ks = p.targets.ks.clone();
    ks.sort_unstable();
    let mut t = Targets {
        contexts: Vec::new(),
        ks,
        deltas: Vec::new(),
        hbars: Vec::new(),
    };
    let mut support_losses: Vec<Vec<f32>> = Vec::new();
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
        let Computed { file, fresh } =
            context_file(cx, frozen, &encoder, pool, ctx, w0, &t.ks, &path, &tstamp)?;
        computed += usize::from(fresh);
        let per_k =
            t.ks.iter()
                .map(|k| {
                    Ok(FactoredDelta::lora_change(
                        cx.layout,
                        file.get(&format!("k{k}"), &path)?,
                        &w0.flat,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
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
    pr.record
        .targets
        .push(summary(rname, &t, &support_losses, &context_seconds));
    Ok(t)
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
    ks: &[usize],
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
        ks,
        "targets",
    )?;
    let mut f = TensorFile::default();
    for (k, prm) in steps.ks.iter().zip(&steps.params) {
        f.tensors.insert(format!("k{k}"), prm.clone());
    }
    f.tensors.insert("losses".into(), steps.losses);
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

/// The support loss along the K steps (mean over contexts), the targets' mean block norm
/// per K, and the cost per context.
fn summary(
    rname: &str,
    t: &Targets,
    support_losses: &[Vec<f32>],
    context_seconds: &[f64],
) -> TargetSummary {
    let kmax = t.ks.iter().copied().max().unwrap_or(1);
    let mut support_loss = vec![0f64; kmax];
    for l in support_losses {
        for (s, &x) in l.iter().enumerate() {
            support_loss[s] += f64::from(x) / support_losses.len() as f64;
        }
    }
    let mut mean_norm = BTreeMap::new();
    for (ki, k) in t.ks.iter().enumerate() {
        let all: Vec<f64> = t.deltas.iter().flat_map(|d| d[ki].norms()).collect();
        mean_norm.insert(
            format!("k{k}"),
            all.iter().sum::<f64>() / all.len().max(1) as f64,
        );
    }
    TargetSummary {
        retriever: rname.to_string(),
        train_contexts: t.contexts.iter().filter(|c| !c.heldout).count(),
        heldout_contexts: t.contexts.iter().filter(|c| c.heldout).count(),
        support_loss,
        mean_norm,
        // As measured when each target was computed (also after a resume).
        seconds_per_context: context_seconds.iter().sum::<f64>()
            / context_seconds.len().max(1) as f64,
    }
}
