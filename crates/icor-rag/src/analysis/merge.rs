//! `icor rag merge`: one results file from runs of the same profile over disjoint retrievers
//! or disjoint methods.
//!
//! A profile's retrievers are independent end to end (each has its own `W_0^ret`, targets,
//! `g_φ` and evaluation), and so are its methods on one retriever (each reads the same
//! retrieval and questions; `icor rag run --methods` skips the stages the others need). A
//! profile too long for one sitting can so be run in parts — one retriever at a time
//! (`--retrievers dense`), or a method added later (`--methods prompt-tuning`) — on different
//! days or machines, and merged here. Merging is refused unless the parts are the same
//! experiment: the same profile settings (apart from the retriever list and the settings of
//! methods a part does not run), model file (sha256), backend, threads and code version, every
//! method as the profile registers it, the same questions with the same retrieval, and no
//! (retriever, method) pair in two parts. The merged file is `complete` only when it covers
//! every retriever, set and method of the profile; every measured number (scores, costs, stage
//! times, training summaries) is carried over unchanged. Each part's stage times keep their
//! retriever in their names; a part that adds methods to a retriever already merged has its
//! methods appended to its stage names.

use std::collections::BTreeSet;

use crate::error::{Error, Result};
use crate::experiment::methods::{MethodKind, registry};
use crate::experiment::profile::Profile;
use crate::experiment::results::{Results, SetRecord, StageTime};

/// The profile's settings as JSON, without the fields parts may differ in: the retriever
/// list, and prompt tuning's settings (checked only for parts that run it).
fn shared_settings(p: &Profile) -> serde_json::Value {
    let mut v = serde_json::to_value(p).unwrap_or(serde_json::Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.remove("retrievers");
        m.remove("prompt_tuning");
    }
    v
}

fn refuse<T>(msg: String) -> Result<T> {
    Err(Error::Config(format!("merge: {msg}")))
}

/// Checks that part `i` is a run of `whole`.
fn check_part(whole: &Profile, r: &Results, i: usize) -> Result<()> {
    if shared_settings(&r.profile) != shared_settings(whole) {
        return refuse(format!(
            "part {i} was run with other settings than profile `{}` (compare `icor rag show --profile {}`)",
            whole.name, whole.name
        ));
    }
    if let Some(bad) = r
        .profile
        .retrievers
        .iter()
        .find(|x| !whole.retrievers.contains(x))
    {
        return refuse(format!(
            "part {i} holds retriever `{bad}`, which profile `{}` does not have",
            whole.name
        ));
    }
    let all = registry(whole);
    for m in &r.methods {
        if !all.contains(m) {
            return refuse(format!(
                "part {i} registers method `{}` ({:?}), which profile `{}` does not register so",
                m.id, m.kind, whole.name
            ));
        }
        if m.kind == MethodKind::PromptTuning && r.profile.prompt_tuning != whole.prompt_tuning {
            return refuse(format!(
                "part {i} ran prompt tuning with other settings than profile `{}`",
                whole.name
            ));
        }
    }
    Ok(())
}

/// Adds `b`'s methods to `a`, the same set under the same retriever.
fn join_set(a: &mut SetRecord, b: SetRecord, i: usize) -> Result<()> {
    let what = format!("set {} ({})", a.set, a.retriever);
    if a.questions.len() != b.questions.len()
        || a.questions
            .iter()
            .zip(&b.questions)
            .any(|(x, y)| x.id != y.id)
    {
        return refuse(format!("part {i} evaluated other questions on {what}"));
    }
    for (x, y) in a.questions.iter_mut().zip(b.questions) {
        // `gold_in_prompt` is compared where both parts measured it (parts made before it
        // existed read `None`)
        let prompt_differs = matches!(
            (x.gold_in_prompt, y.gold_in_prompt),
            (Some(a), Some(b)) if a != b
        );
        if x.gold_in_docs != y.gold_in_docs || prompt_differs {
            return refuse(format!(
                "part {i} retrieved other documents for question {} of {what}",
                x.id
            ));
        }
        x.scores.extend(y.scores);
        x.predictions.extend(y.predictions);
    }
    a.costs.extend(b.costs);
    a.per_task_once = a.per_task_once.max(b.per_task_once);
    a.seconds = a.seconds.zip(b.seconds).map(|(x, y)| x + y);
    a.split = a.split.zip(b.split).map(|(mut x, y)| {
        x.add(&y);
        x
    });
    Ok(())
}

/// Merges `parts` (each a results file of `whole`, restricted to some of its retrievers or
/// methods).
///
/// Fails with [`Error::Config`] naming the first field in which a part differs from the
/// profile or from part 0, or the (retriever, method) pair two parts both hold.
pub fn merge(whole: &Profile, parts: Vec<Results>) -> Result<Results> {
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        return refuse("no results files given".into());
    };
    check_part(whole, &first, 0)?;
    // The (retriever, method) pairs a file holds answers for, read off its scores: a merged
    // file lists the union of its parts' methods, which not every retriever need have run.
    let pairs = |r: &Results| -> BTreeSet<(String, String)> {
        r.sets
            .iter()
            .flat_map(|s| {
                s.questions.iter().flat_map(move |q| {
                    q.scores
                        .keys()
                        .map(move |m| (s.retriever.clone(), m.clone()))
                })
            })
            .collect()
    };
    let mut covered = pairs(&first);
    let mut out = first;
    for (i, r) in parts.enumerate() {
        let i = i + 1;
        check_part(whole, &r, i)?;
        compatible(&out, &r, i)?;
        for pair in pairs(&r) {
            if !covered.insert(pair.clone()) {
                return refuse(format!(
                    "retriever `{}` with method `{}` is in two parts; merge disjoint runs only",
                    pair.0, pair.1
                ));
            }
        }
        let adds_methods = r
            .profile
            .retrievers
            .iter()
            .any(|x| out.profile.retrievers.contains(x));
        let ids: Vec<&str> = r.methods.iter().map(|m| m.id.as_str()).collect();
        let tag = |stage: String| {
            if adds_methods {
                format!("{stage} [{}]", ids.join(", "))
            } else {
                stage
            }
        };
        for ret in &r.profile.retrievers {
            if !out.profile.retrievers.contains(ret) {
                out.profile.retrievers.push(ret.clone());
            }
        }
        for st in &r.stages {
            out.stages.push(StageTime {
                stage: tag(st.stage.clone()),
                seconds: st.seconds,
            });
        }
        absorb(&mut out, r, i)?;
    }
    Ok(in_profile_order(whole, out, &covered))
}

/// Refuses part `i` unless it ran on the same model file, backend, code, split scheme and
/// threads as part 0.
fn compatible(out: &Results, r: &Results, i: usize) -> Result<()> {
    for (what, a, b) in [
        ("model file (sha256)", &out.model_sha256, &r.model_sha256),
        ("backend", &out.backend, &r.backend),
        ("code version", &out.code_version, &r.code_version),
    ] {
        if a != b {
            return refuse(format!(
                "part {i} differs in its {what}: `{b}` against `{a}`"
            ));
        }
    }
    if out.splits != r.splits {
        return refuse(format!(
            "part {i} cut its pools with split scheme {}, part 0 with {}: other questions",
            r.splits, out.splits
        ));
    }
    if out.threads != r.threads {
        return refuse(format!(
            "part {i} ran on {} threads, part 0 on {}: its costs are not comparable",
            r.threads, out.threads
        ));
    }
    Ok(())
}

/// Adds part `i`'s training summaries, predictors and sets to `out`; a stage both parts ran
/// (the same `W_0^ret`, say) must have given the same summary.
fn absorb(out: &mut Results, r: Results, i: usize) -> Result<()> {
    // Training summaries of a stage both parts ran (the same `W_0^ret`, say) must agree.
    for a in r.adapters {
        match out.adapters.iter().find(|x| x.retriever == a.retriever) {
            Some(x) if x.curve != a.curve => {
                return refuse(format!(
                    "part {i} trained another W_0^ret for retriever `{}` (loss curves differ)",
                    a.retriever
                ));
            }
            Some(_) => {}
            None => out.adapters.push(a),
        }
    }
    for a in r.prompts {
        if !out.prompts.iter().any(|x| x.retriever == a.retriever) {
            out.prompts.push(a);
        }
    }
    for t in r.targets {
        match out.targets.iter().find(|x| x.retriever == t.retriever) {
            Some(x) if x.support_loss != t.support_loss => {
                return refuse(format!(
                    "part {i} computed other targets for retriever `{}` (support losses differ)",
                    t.retriever
                ));
            }
            Some(_) => {}
            None => out.targets.push(t),
        }
    }
    out.predictors.extend(r.predictors);
    out.collapse.extend(r.collapse);
    out.context_curve.extend(r.context_curve);
    for set in r.sets {
        match out
            .sets
            .iter_mut()
            .find(|s| s.retriever == set.retriever && s.set == set.set)
        {
            Some(s) => join_set(s, set, i)?,
            None => out.sets.push(set),
        }
    }
    out.total_seconds += r.total_seconds;
    Ok(())
}

/// `out` in the profile's own retriever and method order, so a merged file reads like a
/// whole run's, and marked complete when it covers the profile.
fn in_profile_order(
    whole: &Profile,
    mut out: Results,
    covered: &BTreeSet<(String, String)>,
) -> Results {
    // The profile's own retriever and method order, so a merged file reads like a whole run's.
    let rank = |x: &str| {
        whole
            .retrievers
            .iter()
            .position(|w| w == x)
            .unwrap_or(usize::MAX)
    };
    let all = registry(whole);
    let ran: BTreeSet<&str> = covered.iter().map(|(_, m)| m.as_str()).collect();
    out.methods = all
        .iter()
        .filter(|m| ran.contains(m.id.as_str()))
        .cloned()
        .collect();
    let mut profile = whole.clone();
    profile.retrievers = out.profile.retrievers.clone();
    profile.retrievers.sort_by_key(|x| rank(x));
    if !ran.contains("prompt-tuning") {
        profile.prompt_tuning = None;
    }
    out.profile = profile;
    out.adapters.sort_by_key(|a| rank(&a.retriever));
    out.prompts.sort_by_key(|a| rank(&a.retriever));
    out.targets.sort_by_key(|a| rank(&a.retriever));
    out.predictors.sort_by_key(|a| rank(&a.retriever));
    out.collapse.sort_by_key(|a| rank(&a.retriever));
    out.context_curve
        .sort_by_key(|c| (rank(&c.summary.retriever), c.contexts));
    out.sets.sort_by_key(|a| rank(&a.retriever));
    out.complete = whole.retrievers.iter().all(|ret| {
        whole.eval_sets.iter().all(|set| {
            out.sets
                .iter()
                .any(|s| &s.retriever == ret && &s.set == set)
        }) && all
            .iter()
            .all(|m| covered.contains(&(ret.clone(), m.id.clone())))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::methods::registry;
    use crate::experiment::results::{AdapterSummary, QuestionRecord, SetRecord, StageTime};

    /// A run of the quick profile restricted to `retrievers`, every set evaluated on one
    /// question on which every method scores EM = F1 = `em`.
    fn part(retrievers: &[&str], em: f64) -> Results {
        let mut profile = Profile::named("quick").unwrap();
        profile.retrievers = retrievers.iter().map(|s| s.to_string()).collect();
        let methods = registry(&profile);
        let ids: Vec<String> = methods.iter().map(|m| m.id.clone()).collect();
        let ids = &ids;
        let sets = retrievers
            .iter()
            .flat_map(|r| {
                profile
                    .eval_sets
                    .iter()
                    .map(move |s| (r.to_string(), s.clone()))
            })
            .map(|(retriever, set)| SetRecord {
                retriever,
                pool: set.clone(),
                set,
                held_out: false,
                questions: vec![QuestionRecord {
                    id: "q0".into(),
                    gold_in_docs: true,
                    gold_in_prompt: Some(true),
                    scores: ids.iter().map(|id| (id.clone(), vec![[em, em]])).collect(),
                    predictions: Default::default(),
                }],
                costs: Vec::new(),
                per_task_once: 0.0,
                seconds: Some(1.0),
                split: None,
            })
            .collect();
        Results {
            stages: retrievers
                .iter()
                .map(|r| StageTime {
                    stage: format!("stage 4: evaluation ({r})"),
                    seconds: 10.0,
                })
                .collect(),
            adapters: retrievers
                .iter()
                .map(|r| AdapterSummary {
                    retriever: r.to_string(),
                    steps: 1,
                    instances: 1,
                    loss_start: 1.0,
                    loss_end: 0.5,
                    curve: vec![1.0, 0.5],
                    seconds: Some(3.0),
                    step_seconds: Vec::new(),
                    dev_curve: Vec::new(),
                    dev_answers: None,
                    dev_with_docs: false,
                })
                .collect(),
            sets,
            total_seconds: 10.0,
            ..Results::fixture(profile, methods)
        }
    }

    /// A run of the quick profile on both retrievers restricted to the methods `ids`, each
    /// scoring `em` on every question.
    fn method_part(ids: &[&str], em: f64) -> Results {
        let mut r = part(&["bm25", "dense"], em);
        r.methods.retain(|m| ids.contains(&m.id.as_str()));
        for s in &mut r.sets {
            for q in &mut s.questions {
                q.scores = ids
                    .iter()
                    .map(|id| (id.to_string(), vec![[em, em]]))
                    .collect();
            }
        }
        r
    }

    #[test]
    fn a_part_of_other_methods_joins_the_same_questions() {
        let whole = Profile::named("quick").unwrap();
        let ids: Vec<String> = registry(&whole).into_iter().map(|m| m.id).collect();
        let rest: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| *id != "prompt-tuning")
            .collect();
        assert_eq!(rest.len() + 1, ids.len(), "quick registers prompt tuning");
        // As run before the profile had prompt tuning.
        let mut first = method_part(&rest, 1.0);
        first.profile.prompt_tuning = None;
        let m = merge(
            &whole,
            vec![first.clone(), method_part(&["prompt-tuning"], 0.0)],
        )
        .unwrap();
        assert!(m.complete);
        assert_eq!(m.profile, whole);
        assert_eq!(m.methods, registry(&whole));
        assert_eq!(m.sets.len(), 2 * whole.eval_sets.len());
        let q = &m.sets[0].questions[0];
        assert_eq!(q.scores["prompt-tuning"], vec![[0.0, 0.0]]);
        assert_eq!(q.scores["vanilla-rag"], vec![[1.0, 1.0]]);
        assert_eq!(m.sets[0].seconds, Some(2.0));
        assert!(
            m.stages
                .iter()
                .any(|s| s.stage.ends_with("[prompt-tuning]"))
        );
        assert_eq!(m.adapters.len(), 2);
        // Without the prompt-tuning part the run is not the whole profile, and its profile
        // does not claim prompt tuning.
        let alone = merge(&whole, vec![first]).unwrap();
        assert!(!alone.complete);
        assert_eq!(alone.profile.prompt_tuning, None);
    }

    #[test]
    fn a_method_added_one_retriever_at_a_time_merges_into_the_merged_file() {
        let whole = Profile::named("quick").unwrap();
        let rest: Vec<String> = registry(&whole)
            .into_iter()
            .map(|m| m.id)
            .filter(|id| id != "prompt-tuning")
            .collect();
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        let mut first = method_part(&rest, 1.0);
        first.profile.prompt_tuning = None;
        let on = |retriever: &str| {
            let mut r = method_part(&["prompt-tuning"], 0.0);
            r.profile.retrievers.retain(|x| x == retriever);
            r.sets.retain(|s| s.retriever == retriever);
            r.adapters.retain(|a| a.retriever == retriever);
            r.stages.retain(|s| s.stage.contains(retriever));
            r
        };
        let step1 = merge(&whole, vec![first, on("bm25")]).unwrap();
        assert!(!step1.complete, "dense lacks prompt tuning");
        // The merged file lists prompt tuning, but holds it for BM25 only: dense's part joins.
        let step2 = merge(&whole, vec![step1.clone(), on("dense")]).unwrap();
        assert!(step2.complete);
        let dense = step2.sets.iter().find(|s| s.retriever == "dense").unwrap();
        assert_eq!(dense.questions[0].scores["prompt-tuning"], vec![[0.0, 0.0]]);
        // The same part twice is still refused.
        let again = merge(&whole, vec![step1, on("bm25")])
            .unwrap_err()
            .to_string();
        assert!(
            again.contains("`bm25` with method `prompt-tuning` is in two parts"),
            "{again}"
        );
    }

    #[test]
    fn method_parts_on_other_questions_or_settings_are_refused() {
        let whole = Profile::named("quick").unwrap();
        let err = |d: Results| {
            merge(
                &whole,
                vec![method_part(&["vanilla-rag", "base-adapter"], 1.0), d],
            )
            .unwrap_err()
            .to_string()
        };
        let pt = || method_part(&["prompt-tuning"], 0.0);
        let mut d = pt();
        d.sets[3].questions[0].id = "q9".into();
        assert!(err(d).contains("other questions"));
        let mut d = pt();
        d.sets[0].questions[0].gold_in_docs = false;
        assert!(err(d).contains("other documents"));
        let mut d = pt();
        d.sets[0].questions[0].gold_in_prompt = Some(false);
        assert!(err(d).contains("other documents"));
        // a part made before `gold_in_prompt` was measured joins one that measured it
        let mut d = pt();
        d.sets[0].questions[0].gold_in_prompt = None;
        merge(
            &whole,
            vec![method_part(&["vanilla-rag", "base-adapter"], 1.0), d],
        )
        .unwrap();
        let mut d = pt();
        if let Some(t) = d.profile.prompt_tuning.as_mut() {
            t.virtual_tokens += 1;
        }
        assert!(err(d).contains("prompt tuning"));
        let mut d = pt();
        d.adapters[0].curve.push(0.1);
        assert!(err(d).contains("W_0^ret"));
        assert!(err(method_part(&["base-adapter"], 0.0)).contains("two parts"));
    }

    #[test]
    fn disjoint_parts_merge_in_the_profile_order_and_complete_the_run() {
        let whole = Profile::named("quick").unwrap();
        let (bm25, dense) = (part(&["bm25"], 1.0), part(&["dense"], 0.0));
        // Given in the other order, the merge still reads bm25 first, like a whole run.
        let m = merge(&whole, vec![dense.clone(), bm25.clone()]).unwrap();
        assert!(m.complete);
        assert_eq!(m.profile, whole);
        assert_eq!(m.sets.len(), 2 * whole.eval_sets.len());
        assert_eq!(m.sets[0], bm25.sets[0]);
        assert_eq!(m.sets.last(), dense.sets.last());
        assert_eq!(m.adapters[0].retriever, "bm25");
        assert_eq!(m.stages.len(), 2);
        assert_eq!(m.total_seconds, 20.0);
        // One part alone is not the whole profile.
        assert!(!merge(&whole, vec![bm25]).unwrap().complete);
    }

    #[test]
    fn a_missing_set_leaves_the_merge_incomplete() {
        let whole = Profile::named("quick").unwrap();
        let mut dense = part(&["dense"], 0.0);
        dense.sets.pop();
        let m = merge(&whole, vec![part(&["bm25"], 1.0), dense]).unwrap();
        assert!(!m.complete);
    }

    #[test]
    fn parts_of_different_experiments_are_refused_with_the_field_named() {
        let whole = Profile::named("quick").unwrap();
        let bm25 = part(&["bm25"], 1.0);
        let err = |d: Results| {
            merge(&whole, vec![bm25.clone(), d])
                .unwrap_err()
                .to_string()
        };
        let mut d = part(&["dense"], 0.0);
        d.model_sha256 = "other".into();
        assert!(err(d).contains("model file"));
        let mut d = part(&["dense"], 0.0);
        d.profile.seed += 1;
        assert!(err(d).contains("other settings"));
        let mut d = part(&["dense"], 0.0);
        d.threads = 1;
        assert!(err(d).contains("threads"));
        let mut d = part(&["dense"], 0.0);
        d.methods[1].label = "Another RAG".into();
        assert!(err(d).contains("vanilla-rag"));
        assert!(err(part(&["bm25"], 0.0)).contains("two parts"));
        let mut d = part(&["dense"], 0.0);
        d.profile.retrievers = vec!["splade".into()];
        assert!(err(d).contains("splade"));
    }
}
