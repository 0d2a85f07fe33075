//! Stage 4 (Algorithm 1 and the baselines): every selected method on every evaluated set,
//! per question and resumable; then the collapse check of the updates `g_φ` deployed.

use std::collections::BTreeMap;
use std::time::Instant;

use icor_qa::retrieve::Retriever;

use super::context::{Ctx, Progress};
use crate::error::{Error, Result};
use crate::experiment::eval::{Deploy, Pool, deployed_coefficients, evaluate_set};
use crate::experiment::methods::MethodKind;
use crate::experiment::prompt::Item;
use crate::experiment::results::StageTime;
use crate::experiment::retrieval::Items;
use crate::method::frozen::FrozenStates;
use crate::method::meta::mean_pairwise_cos_coeffs;

/// The coefficients `g_φ` deployed per query (seed 0), by method id, then evaluated set.
type Deployed = BTreeMap<String, BTreeMap<String, Vec<Vec<f32>>>>;

/// Evaluates every set and records its scores; then the collapse check of what was deployed.
#[allow(clippy::too_many_arguments)]
pub(super) fn evaluate(
    cx: &Ctx<'_>,
    frozen: &mut FrozenStates,
    pr: &mut Progress,
    pools: &mut BTreeMap<String, Pool>,
    deploy: &Deploy<'_>,
    items: &Items<'_>,
    retriever: &dyn Retriever,
) -> Result<()> {
    let p = cx.p;
    let rname = cx.rname;
    let estamp = cx.key(
        "eval",
        &(
            &p.eval.for_stamp(),
            &p.targets.for_stamp(),
            &p.predictor,
            &p.adapter,
            p.support,
            p.pool_size,
            cx.methods,
        ),
    );
    let started = Instant::now();
    let mut deployed = Deployed::new();
    for task in &cx.splits.eval {
        let its: Vec<Item> = task
            .questions
            .iter()
            .map(|q| items.item(&task.key, q))
            .collect::<Result<_>>()?;
        let pool = pools
            .get_mut(&task.pool_key)
            .ok_or_else(|| Error::Config(format!("no pool {}", task.pool_key)))?;
        let qo = pr.record.sets.iter().find(|s| s.set == task.key);
        let rec = evaluate_set(
            deploy,
            frozen,
            &task.key,
            task.held_out,
            task.spec.regex_answers,
            rname,
            Some(retriever),
            &its,
            pool,
            qo,
            &cx.path("eval")
                .join(rname)
                .join(format!("{}.json", super::sanitize(&task.key))),
            &estamp,
            cx.options.progress,
        )?;
        for m in cx.methods {
            if matches!(
                m.kind,
                MethodKind::RagGd {
                    per_task: false,
                    ..
                } | MethodKind::HyperTuning { .. }
            ) {
                let c = deployed_coefficients(
                    deploy,
                    frozen,
                    pool,
                    &m.id,
                    its.len(),
                    &cx.options.device,
                )?;
                deployed
                    .entry(m.id.clone())
                    .or_default()
                    .insert(task.key.clone(), c);
            }
        }
        pr.record.sets.push(rec);
    }
    let seconds = started.elapsed().as_secs_f64();
    pr.record.stages.push(StageTime {
        stage: format!("stage 4: evaluation ({rname})"),
        seconds,
    });
    eprintln!("  stage 4: evaluation ({rname}): {seconds:.1} s");
    collapse(cx, pr, &deployed);
    Ok(())
}

/// Mean pairwise cosine of the deployed updates within each set and across sets, into the
/// collapse rows of this retriever.
fn collapse(cx: &Ctx<'_>, pr: &mut Progress, deployed: &Deployed) {
    let blocks = cx.layout.blocks.len();
    for c in pr
        .record
        .collapse
        .iter_mut()
        .filter(|c| c.retriever == cx.rname)
    {
        let Some(per_set) = deployed.get(&c.method) else {
            continue;
        };
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
}
