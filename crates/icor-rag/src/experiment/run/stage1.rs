//! Stage 1 (§5.1): the base retrieval adapter `W_0^ret`, trained on RAG-formatted instances
//! of the first training pool's adapter questions, and the prompt-tuning baseline trained on
//! the same instances and budget. Both are checkpointed and resume.

use std::path::Path;

use icor_llm::{GenerateOptions, LoraAdapter};
use icor_qa::metrics::{AnswerPattern, HitRule, recall_hit};

use super::TRAINED_ON;
use super::context::{Ctx, Progress, timed};
use crate::baselines::prompt_tuning::{SoftPrompt, train_prompt};
use crate::error::Result;
use crate::experiment::prompt::Instance;
use crate::experiment::results::AdapterSummary;
use crate::experiment::retrieval::Items;
use crate::experiment::store::{Stamp, load_or_rebuild, save_json};
use crate::method::adapter::{TrainedAdapter, train_adapter};
use crate::method::dev_answers::{DevAnswers, DevDecoder};
use crate::method::frozen::FrozenStates;

/// `W_0^ret`: its factors in the layout's flat order and the adapter on the model's device.
pub(super) struct W0 {
    pub flat: Vec<f32>,
    pub adapter: LoraAdapter,
}

/// `W_0^ret`'s (and prompt tuning's) training instances, and `W_0^ret`'s dev instances
/// for early stopping, with their retrieved documents.
pub(super) fn instances(cx: &Ctx<'_>, items: &Items<'_>) -> Result<(Vec<Instance>, Vec<Instance>)> {
    let set = &cx.p.train_pools[0];
    let of = |qs: &[icor_qa::data::QaExample]| -> Result<Vec<Instance>> {
        qs.iter()
            .map(|q| cx.prompter.rag_instance(&items.item(set, q)?))
            .collect()
    };
    Ok((of(&cx.splits.adapter_train)?, of(&cx.splits.adapter_dev)?))
}

/// Whether each dev question's prompt shows a golden answer (its documents as the prompt
/// cuts them): where `W_0^ret` can answer from the evidence at all.
pub(super) fn dev_in_prompt(cx: &Ctx<'_>, items: &Items<'_>) -> Result<Vec<bool>> {
    let set = &cx.p.train_pools[0];
    let regex = icor_qa::data::find_dataset(set, None)?.regex_answers;
    cx.splits
        .adapter_dev
        .iter()
        .map(|q| {
            let item = items.item(set, q)?;
            let shown = cx.prompter.shown_docs(&item.docs)?;
            let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
            let gold = AnswerPattern::all(&q.golden_answers, regex)?;
            Ok(recall_hit(&shown, &gold, shown.len(), HitRule::FlashRag))
        })
        .collect()
}

/// How a training run went: steps, mean loss of the first and last tenth, the curve.
fn summary(rname: &str, trained: &TrainedAdapter, instances: usize) -> AdapterSummary {
    let (losses, dev_curve) = (&trained.losses, &trained.dev_curve);
    let avg = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len().max(1) as f64;
    let tenth = (losses.len() / 10).max(1).min(losses.len());
    AdapterSummary {
        retriever: rname.to_string(),
        steps: losses.len(),
        instances,
        loss_start: avg(&losses[..tenth]),
        loss_end: avg(&losses[losses.len() - tenth..]),
        curve: losses.to_vec(),
        seconds: trained.total_seconds,
        step_seconds: trained.step_seconds.clone(),
        dev_curve: dev_curve.to_vec(),
        dev_answers: None,
        dev_with_docs: !dev_curve.is_empty(),
    }
}

/// Trains (or resumes) `W_0^ret` when a selected method reads it, and exports it with its
/// training questions; otherwise the zero adapter (`B = 0`, the bare backbone).
pub(super) fn base_adapter(
    cx: &Ctx<'_>,
    frozen: &mut FrozenStates,
    pr: &mut Progress,
    (train, dev, dev_in_prompt): (&[Instance], &[Instance], &[bool]),
    needed: bool,
) -> Result<W0> {
    let rname = cx.rname;
    let flat = if needed {
        let trained = timed(
            &mut pr.record.stages,
            format!("stage 1: W_0^ret ({rname})"),
            || {
                train_adapter(
                    cx.model,
                    frozen,
                    cx.layout,
                    train,
                    dev,
                    &cx.p.adapter,
                    cx.p.seed,
                    &cx.path(&format!("adapter-{rname}.safetensors")),
                    &adapter_stamp(cx),
                    cx.options.progress,
                    None,
                )
            },
        )?;
        let mut s = summary(rname, &trained, train.len());
        if !trained.dev_curve.is_empty() {
            let adapter = cx.layout.adapter(&trained.params, &cx.options.device);
            let mut answers = timed(
                &mut pr.record.stages,
                format!("stage 1: W_0^ret dev answers ({rname})"),
                || stored_dev_answers(cx, frozen, &adapter, dev),
            )?;
            answers.in_prompt = dev_in_prompt.to_vec();
            s.dev_answers = Some(answers);
        }
        pr.record.adapters.push(s);
        trained.params
    } else {
        vec![0f32; cx.layout.len]
    };
    let adapter = cx.layout.adapter(&flat, &cx.options.device);
    if needed {
        let set = &cx.p.train_pools[0];
        let trained_on: Vec<String> = cx
            .splits
            .adapter_train
            .iter()
            .map(|q| format!("{set}:{}", q.id))
            .collect();
        export(
            &adapter,
            &trained_on,
            &cx.path(&format!("w0-{rname}.safetensors")),
        )?;
    }
    Ok(W0 { flat, adapter })
}

/// [`dev_answers`], read back from `adapter-<retriever>.dev.json` where an earlier run of
/// these settings stored them (a resumed part need not decode the dev questions again).
fn stored_dev_answers(
    cx: &Ctx<'_>,
    frozen: &mut FrozenStates,
    w0: &LoraAdapter,
    dev: &[Instance],
) -> Result<DevAnswers> {
    let path = cx.path(&format!("adapter-{}.dev.json", cx.rname));
    let stamp = cx.key(
        "adapter-dev",
        &(adapter_stamp(cx), cx.p.eval.max_new_tokens),
    );
    if let Some(answers) = load_or_rebuild(&path, &stamp)? {
        return Ok(answers);
    }
    let answers = dev_answers(cx, frozen, w0, dev)?;
    save_json(&path, &stamp, &answers)?;
    Ok(answers)
}

/// The stamp of `W_0^ret`'s checkpoint: its settings, the questions it trains and stops on,
/// and with early stopping the marker that its dev prompts carry their retrieved documents (a
/// checkpoint stopped on dev prompts without them, as runs before 2026-12-07 made, is
/// retrained).
///
/// The questions are named because the settings do not fix them: they follow the pools
/// (`2 · pool_size` rows), so a checkpoint from another pool size was trained on questions
/// that now sit in the meta-training or held-out support pools.
fn adapter_stamp(cx: &Ctx<'_>) -> Stamp {
    #[derive(serde::Serialize)]
    struct Key<'a> {
        #[serde(flatten)]
        adapter: &'a crate::experiment::profile::AdapterSettings,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        dev_with_docs: bool,
        questions: String,
    }
    let key = Key {
        adapter: &cx.p.adapter,
        dev_with_docs: cx.p.adapter.early_stop.is_some(),
        questions: questions_fingerprint(
            &cx.p.train_pools[0],
            &[&cx.splits.adapter_train, &cx.splits.adapter_dev],
        ),
    };
    cx.key("adapter", &key)
}

/// FNV-1a of the first training pool's name and the ids of `sets`' questions, in order: what a
/// stage trained on, in its stamp.
fn questions_fingerprint(set: &str, sets: &[&[icor_qa::data::QaExample]]) -> String {
    let ids = sets
        .iter()
        .map(|qs| {
            qs.iter()
                .map(|q| q.id.as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect::<Vec<_>>()
        .join(";");
    let named = format!("{set}:{ids}");
    format!("{:016x}", crate::experiment::store::fnv1a(named.as_bytes()))
}

/// `W_0^ret` (the kept parameters) and the bare backbone answering the dev questions that
/// early stopping read.
fn dev_answers(
    cx: &Ctx<'_>,
    frozen: &mut FrozenStates,
    w0: &LoraAdapter,
    dev: &[Instance],
) -> Result<DevAnswers> {
    let regex = icor_qa::data::find_dataset(&cx.p.train_pools[0], None)?.regex_answers;
    let gold = cx
        .splits
        .adapter_dev
        .iter()
        .map(|q| Ok(AnswerPattern::all(&q.golden_answers, regex)?))
        .collect::<Result<Vec<_>>>()?;
    let text = |ids: &[u32]| -> Result<String> {
        Ok(cx.prompter.tokenizer.decode(ids, true)?.trim().to_string())
    };
    let decoder = DevDecoder {
        model: cx.model,
        text: &text,
        opts: GenerateOptions {
            max_new_tokens: cx.p.eval.max_new_tokens,
            stop_ids: cx.prompter.tokenizer.stop_ids.clone(),
        },
        batch: cx.options.eval_batch,
    };
    decoder.score(frozen, w0, dev, &gold)
}

/// The soft prefix of prompt tuning (the same instances and budget as `W_0^ret`), when the
/// profile has it and a selected method reads it.
pub(super) fn prompt_tuning(
    cx: &Ctx<'_>,
    pr: &mut Progress,
    train: &[Instance],
    needed: bool,
) -> Result<Option<SoftPrompt>> {
    let Some(pt) = cx.p.prompt_tuning.as_ref().filter(|_| needed) else {
        return Ok(None);
    };
    let rname = cx.rname;
    let (soft, t) = timed(
        &mut pr.record.stages,
        format!("stage 1: prompt tuning ({rname})"),
        || {
            train_prompt(
                cx.model,
                train,
                pt,
                cx.p.seed,
                &cx.path(&format!("prompt-{rname}.safetensors")),
                &cx.key(
                    "prompt-tuning",
                    &(
                        pt,
                        questions_fingerprint(&cx.p.train_pools[0], &[&cx.splits.adapter_train]),
                    ),
                ),
                cx.options.progress,
                None,
            )
        },
    )?;
    pr.record.prompts.push(summary(rname, &t, train.len()));
    Ok(Some(soft))
}

/// `W_0^ret` in PEFT's LoRA layout (what `icor rag mechanism --adapter` and PyTorch's PEFT
/// read), with the keys of its training questions (`name/split:id`, one per line) in the
/// metadata entry [`TRAINED_ON`], written through a temporary file so a killed run leaves
/// no partial file.
fn export(w0: &LoraAdapter, trained_on: &[String], path: &Path) -> Result<()> {
    let tmp = path.with_extension("safetensors.tmp");
    w0.save_with(&tmp, &[(TRAINED_ON.to_string(), trained_on.join("\n"))])?;
    std::fs::rename(&tmp, path).map_err(crate::error::io_err(path))
}

#[cfg(test)]
mod tests {
    use icor_qa::data::QaExample;

    use super::questions_fingerprint;

    fn qs(ids: &[&str]) -> Vec<QaExample> {
        ids.iter()
            .map(|id| QaExample {
                id: (*id).to_string(),
                question: format!("question {id}"),
                golden_answers: vec![],
                metadata: serde_json::Value::Null,
            })
            .collect()
    }

    /// The stamp names the questions: another pool size (other rows), another order, another
    /// pool or another train/dev cut each give another fingerprint; the same questions the
    /// same one.
    #[test]
    fn fingerprint_follows_the_questions() {
        let (a, b) = (qs(&["dev_40", "dev_41"]), qs(&["dev_42"]));
        let base = questions_fingerprint("nq/dev", &[&a, &b]);
        assert_eq!(base, questions_fingerprint("nq/dev", &[&a, &b]));
        let shifted = (qs(&["dev_200", "dev_201"]), qs(&["dev_202"]));
        assert_ne!(
            base,
            questions_fingerprint("nq/dev", &[&shifted.0, &shifted.1])
        );
        assert_ne!(base, questions_fingerprint("nq/dev", &[&b, &a]));
        assert_ne!(base, questions_fingerprint("triviaqa/dev", &[&a, &b]));
        let (a2, b2) = (qs(&["dev_40"]), qs(&["dev_41", "dev_42"]));
        assert_ne!(base, questions_fingerprint("nq/dev", &[&a2, &b2]));
    }
}
