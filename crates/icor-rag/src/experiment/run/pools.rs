//! The support and training pools with their demonstrations: every pool's questions with
//! their retrieved documents, as text (few-shot prompts) and as RAG instances (the support
//! loss). Golden answers that are regular expressions (CuratedTREC) become readable text.

use std::collections::BTreeMap;

use icor_qa::data::QaExample;

use super::context::Ctx;
use crate::error::Result;
use crate::experiment::eval::Pool;
use crate::experiment::prompt::Item;
use crate::experiment::retrieval::Items;
use crate::experiment::tasks::{Splits, regex_answer_text};

/// A pool's data set (`name/split`), its questions, and whether its answers are regexes.
pub(super) type Source = (String, Vec<QaExample>, bool);

/// Every pool of a run by name: the training pools, then each evaluated set's support pool.
pub(super) fn sources(splits: &Splits) -> BTreeMap<String, Source> {
    let mut out = BTreeMap::new();
    for tp in &splits.train_pools {
        out.insert(tp.key.clone(), (tp.key.clone(), tp.pool.clone(), false));
    }
    for t in &splits.eval {
        out.entry(t.pool_key.clone())
            .or_insert_with(|| (t.pool_set.clone(), t.pool.clone(), t.spec.regex_answers));
    }
    out
}

/// Every `(data set, question)` the run reads: `W_0^ret`'s training and dev questions, every
/// pool's and every evaluated question.
pub(super) fn wanted<'a>(
    splits: &'a Splits,
    sources: &'a BTreeMap<String, Source>,
    adapter_set: &str,
) -> Vec<(String, &'a QaExample)> {
    let mut wanted: Vec<(String, &QaExample)> = splits
        .adapter_train
        .iter()
        .chain(&splits.adapter_dev)
        .map(|q| (adapter_set.to_string(), q))
        .collect();
    for (set, rows, _) in sources.values() {
        wanted.extend(rows.iter().map(|q| (set.clone(), q)));
    }
    for t in &splits.eval {
        wanted.extend(t.questions.iter().map(|q| (t.key.clone(), q)));
    }
    wanted
}

/// The pools, built from their sources with the retriever's documents.
pub(super) fn build(
    cx: &Ctx<'_>,
    items: &Items<'_>,
    sources: &BTreeMap<String, Source>,
) -> Result<BTreeMap<String, Pool>> {
    let mut pools = BTreeMap::new();
    for (pkey, (set, rows, regex)) in sources {
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
            .map(|item| cx.prompter.rag_instance(item))
            .collect::<Result<Vec<_>>>()?;
        pools.insert(pkey.clone(), Pool::new(pkey.clone(), demos, inst));
    }
    Ok(pools)
}
