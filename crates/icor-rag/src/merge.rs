//! `icor rag merge`: one results file from runs of the same profile over disjoint retrievers.
//!
//! A profile's retrievers are independent end to end (each has its own `W_0^ret`, targets,
//! `g_φ` and evaluation), so a profile too long for one sitting can be run one retriever at a
//! time (`icor rag run --retrievers dense`), on different days or machines, and merged here.
//! Merging is refused unless the parts are the same experiment: the same profile settings
//! (apart from the retriever list), model file (sha256), backend, code version and method
//! registry. The merged file is `complete` only when it covers every retriever and set of the
//! profile; every measured number (scores, costs, stage times, training summaries) is carried
//! over unchanged, and each part's stage times keep their retriever in their names.

use crate::error::{Error, Result};
use crate::profile::Profile;
use crate::results::Results;

/// The profile's settings as JSON, without the retriever list (the only field parts may differ
/// in).
fn settings_without_retrievers(p: &Profile) -> serde_json::Value {
    let mut v = serde_json::to_value(p).unwrap_or(serde_json::Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.remove("retrievers");
    }
    v
}

/// Merges `parts` (each a results file of `whole`, restricted to some of its retrievers).
///
/// Fails with [`Error::Config`] naming the first field in which two parts differ, or the
/// retriever two parts both hold.
pub fn merge(whole: &Profile, parts: Vec<Results>) -> Result<Results> {
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        return Err(Error::Config("merge: no results files given".into()));
    };
    let want = settings_without_retrievers(whole);
    let mut out = first;
    let check = |r: &Results, i: usize| -> Result<()> {
        if settings_without_retrievers(&r.profile) != want {
            return Err(Error::Config(format!(
                "merge: part {i} was run with other settings than profile `{}` (compare `icor rag show --profile {}`)",
                whole.name, whole.name
            )));
        }
        if let Some(bad) = r
            .profile
            .retrievers
            .iter()
            .find(|x| !whole.retrievers.contains(x))
        {
            return Err(Error::Config(format!(
                "merge: part {i} holds retriever `{bad}`, which profile `{}` does not have",
                whole.name
            )));
        }
        Ok(())
    };
    check(&out, 0)?;
    for (i, r) in parts.enumerate() {
        let i = i + 1;
        check(&r, i)?;
        for (what, a, b) in [
            ("model file (sha256)", &out.model_sha256, &r.model_sha256),
            ("backend", &out.backend, &r.backend),
            ("code version", &out.code_version, &r.code_version),
        ] {
            if a != b {
                return Err(Error::Config(format!(
                    "merge: part {i} differs in its {what}: `{b}` against `{a}`"
                )));
            }
        }
        if out.methods != r.methods {
            return Err(Error::Config(format!(
                "merge: part {i} registers other methods than part 0"
            )));
        }
        if out.threads != r.threads {
            return Err(Error::Config(format!(
                "merge: part {i} ran on {} threads, part 0 on {}: its costs are not comparable",
                r.threads, out.threads
            )));
        }
        if let Some(dup) = r
            .profile
            .retrievers
            .iter()
            .find(|x| out.profile.retrievers.contains(x))
        {
            return Err(Error::Config(format!(
                "merge: retriever `{dup}` is in two parts; merge disjoint runs only"
            )));
        }
        out.profile.retrievers.extend(r.profile.retrievers);
        out.stages.extend(r.stages);
        out.adapters.extend(r.adapters);
        out.prompts.extend(r.prompts);
        out.targets.extend(r.targets);
        out.predictors.extend(r.predictors);
        out.collapse.extend(r.collapse);
        out.sets.extend(r.sets);
        out.total_seconds += r.total_seconds;
    }
    // The profile's own retriever order, so a merged file reads like a whole run's.
    let rank = |x: &str| {
        whole
            .retrievers
            .iter()
            .position(|w| w == x)
            .unwrap_or(usize::MAX)
    };
    out.profile.retrievers.sort_by_key(|x| rank(x));
    out.adapters.sort_by_key(|a| rank(&a.retriever));
    out.prompts.sort_by_key(|a| rank(&a.retriever));
    out.targets.sort_by_key(|a| rank(&a.retriever));
    out.predictors.sort_by_key(|a| rank(&a.retriever));
    out.collapse.sort_by_key(|a| rank(&a.retriever));
    out.sets.sort_by_key(|a| rank(&a.retriever));
    out.complete = out.profile.retrievers == whole.retrievers
        && whole.retrievers.iter().all(|ret| {
            whole.eval_sets.iter().all(|set| {
                out.sets
                    .iter()
                    .any(|s| &s.retriever == ret && &s.set == set)
            })
        });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::registry;
    use crate::results::{AdapterSummary, QuestionRecord, SetRecord, StageTime};

    /// A run of the quick profile restricted to `retrievers`, every set evaluated on one
    /// question whose EM is `em`.
    fn part(retrievers: &[&str], em: f64) -> Results {
        let mut profile = Profile::named("quick").unwrap();
        profile.retrievers = retrievers.iter().map(|s| s.to_string()).collect();
        let methods = registry(&profile);
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
                    scores: [("vanilla".to_string(), vec![[em, em]])].into(),
                    predictions: Default::default(),
                }],
                costs: Vec::new(),
                per_task_once: 0.0,
                seconds: Some(1.0),
            })
            .collect();
        Results {
            complete: false,
            model_path: "m.gguf".into(),
            model_sha256: "abc".into(),
            backend: "flex".into(),
            threads: 2,
            code_version: "0.1.0".into(),
            methods,
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
                })
                .collect(),
            prompts: Vec::new(),
            targets: Vec::new(),
            predictors: Vec::new(),
            collapse: Vec::new(),
            sets,
            total_seconds: 10.0,
            profile,
        }
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
        d.methods.pop();
        assert!(err(d).contains("methods"));
        assert!(err(part(&["bm25"], 0.0)).contains("two parts"));
        let mut d = part(&["dense"], 0.0);
        d.profile.retrievers = vec!["splade".into()];
        assert!(err(d).contains("splade"));
    }
}
