//! Ablations run as separate results files (`icor rag run --interface-layers 0 …`): a variant
//! of a profile that differs from it in named settings, compared with the profile's own run
//! question by question — paired EM/F1 differences with bootstrap CIs for every method both
//! ran, and both runs' `W_0^ret` training side by side.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::analysis::claims::seed_for;
use crate::analysis::report::{Subset, question_scores};
use crate::analysis::stats::{Estimate, bootstrap_avg, paired};
use crate::error::{Error, Result};
use crate::experiment::results::{Results, SetRecord};

const RESAMPLES: usize = 2000;

/// Profile settings a variant may leave out or narrow without being another experiment:
/// which retrievers and sets it ran, and prompt tuning (absent where not run).
const SCOPE: [&str; 3] = ["retrievers", "eval_sets", "prompt_tuning"];

/// The profile settings in which `variant` differs from `base`: `(name, base, variant)` as
/// JSON text, every setting outside [`SCOPE`].
pub fn differences(base: &Results, variant: &Results) -> Result<Vec<(String, String, String)>> {
    let as_map = |r: &Results| -> Result<BTreeMap<String, serde_json::Value>> {
        match serde_json::to_value(&r.profile) {
            Ok(serde_json::Value::Object(m)) => Ok(m.into_iter().collect()),
            Ok(_) => Err(Error::Config("a profile is not a JSON object".into())),
            Err(e) => Err(Error::Config(format!("profile to JSON: {e}"))),
        }
    };
    let (a, b) = (as_map(base)?, as_map(variant)?);
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    Ok(keys
        .into_iter()
        .filter(|k| !SCOPE.contains(&k.as_str()))
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |m: &BTreeMap<String, serde_json::Value>| {
                m.get(k)
                    .map_or_else(|| "–".to_string(), ToString::to_string)
            };
            (k.clone(), show(&a), show(&b))
        })
        .collect())
}

/// One method's scores on the questions both runs answered, per set: `(set, base, variant)`
/// with each side's per-question `(EM, F1)` in the same question order.
type Paired2 = Vec<(String, (Vec<f64>, Vec<f64>), (Vec<f64>, Vec<f64>))>;

fn shared_scores(base: &[&SetRecord], variant: &[&SetRecord], method: &str) -> Paired2 {
    let mut out = Vec::new();
    for v in variant {
        let Some(b) = base.iter().find(|b| b.set == v.set) else {
            continue;
        };
        // Restrict both sides to the questions both hold, in the variant's order.
        let ids: Vec<&str> = v
            .questions
            .iter()
            .filter(|q| q.scores.contains_key(method))
            .filter(|q| {
                b.questions
                    .iter()
                    .any(|p| p.id == q.id && p.scores.contains_key(method))
            })
            .map(|q| q.id.as_str())
            .collect();
        if ids.is_empty() {
            continue;
        }
        let restrict = |s: &SetRecord| {
            let mut r = s.clone();
            r.questions = ids
                .iter()
                .filter_map(|id| s.questions.iter().find(|q| q.id == *id).cloned())
                .collect();
            question_scores(&r, method, Subset::All)
        };
        out.push((v.set.clone(), restrict(b), restrict(v)));
    }
    out
}

fn ci(e: &Estimate) -> String {
    format!("{:.1} [{:.1}, {:.1}]", e.mean, e.lo, e.hi)
}

fn signed_ci(e: &Estimate) -> String {
    format!("{:+.1} [{:+.1}, {:+.1}]", e.mean, e.lo, e.hi)
}

/// The ablation section: `variant` (results file `variant_name`) against `base`.
/// Refused when the two runs used other model weights or differ in no setting.
pub fn render(
    base: &Results,
    base_name: &str,
    variant: &Results,
    variant_name: &str,
) -> Result<String> {
    if base.model_sha256 != variant.model_sha256 {
        return Err(Error::Config(format!(
            "{variant_name} ran other model weights than {base_name}: not an ablation of it"
        )));
    }
    let diffs = differences(base, variant)?;
    if diffs.is_empty() {
        return Err(Error::Config(format!(
            "{variant_name} has the same settings as {base_name}: nothing is ablated"
        )));
    }
    let mut s = String::new();
    let _ = writeln!(s, "\n## Ablation: `{variant_name}` against `{base_name}`\n");
    let _ = writeln!(
        s,
        "The variant's settings differ from the profile's only in:\n"
    );
    for (k, a, b) in &diffs {
        let _ = writeln!(s, "- `{k}`: {a} → {b}");
    }
    let _ = writeln!(
        s,
        "\nEvery method both runs evaluated, on the questions both answered (matched by id); Δ = \
         variant − profile, paired per question, averaged over sets with each set resampled on \
         its own ({RESAMPLES} resamples, 95 % CI).\n"
    );
    let _ = writeln!(
        s,
        "| retriever | method | sets | questions | EM profile | EM variant | ΔEM | F1 profile | F1 variant | ΔF1 |"
    );
    let _ = writeln!(s, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows = 0;
    for retriever in &variant.profile.retrievers {
        let of = |r: &'_ Results| -> Vec<SetRecord> {
            r.sets
                .iter()
                .filter(|x| &x.retriever == retriever)
                .cloned()
                .collect()
        };
        let (bs, vs) = (of(base), of(variant));
        let (bs, vs): (Vec<&SetRecord>, Vec<&SetRecord>) =
            (bs.iter().collect(), vs.iter().collect());
        for m in &variant.methods {
            let per = shared_scores(&bs, &vs, &m.id);
            if per.is_empty() {
                continue;
            }
            let mut groups: Vec<(String, Vec<usize>)> =
                vec![("all".into(), (0..per.len()).collect())];
            if per.len() > 1 {
                groups.extend((0..per.len()).map(|i| (per[i].0.clone(), vec![i])));
            }
            for (label, idx) in groups {
                let pick = |side: usize, metric: usize| -> Vec<Vec<f64>> {
                    idx.iter()
                        .map(|&i| {
                            let (em, f1) = if side == 0 { &per[i].1 } else { &per[i].2 };
                            if metric == 0 { em.clone() } else { f1.clone() }
                        })
                        .collect()
                };
                let n: usize = idx.iter().map(|&i| per[i].1.0.len()).sum();
                let seed = |metric: &str| {
                    seed_for(&["ablation", variant_name, retriever, &m.id, &label, metric])
                };
                let cell = |metric: usize, name: &str| {
                    let (b, v) = (pick(0, metric), pick(1, metric));
                    (
                        bootstrap_avg(&b, RESAMPLES, seed(name)),
                        bootstrap_avg(&v, RESAMPLES, seed(name) ^ 1),
                        paired(&v, &b, RESAMPLES, seed(name) ^ 2).diff,
                    )
                };
                let (eb, ev, ed) = cell(0, "em");
                let (fb, fv, fd) = cell(1, "f1");
                let _ = writeln!(
                    s,
                    "| {retriever} | {} | {label} | {n} | {} | {} | {} | {} | {} | {} |",
                    m.label,
                    ci(&eb),
                    ci(&ev),
                    signed_ci(&ed),
                    ci(&fb),
                    ci(&fv),
                    signed_ci(&fd)
                );
                rows += 1;
            }
        }
    }
    if rows == 0 {
        return Err(Error::Config(format!(
            "{variant_name} and {base_name} share no evaluated question of any method"
        )));
    }
    let _ = writeln!(
        s,
        "\n`W_0^ret` training (loss: mean of the first and last tenth of the steps):\n"
    );
    let _ = writeln!(
        s,
        "| retriever | run | steps | loss start | loss end | seconds |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|");
    for retriever in &variant.profile.retrievers {
        for (name, r) in [(base_name, base), (variant_name, variant)] {
            if let Some(a) = r.adapters.iter().find(|a| &a.retriever == retriever) {
                let secs = a
                    .seconds
                    .map_or_else(|| "not recorded".into(), |x| format!("{x:.0}"));
                let _ = writeln!(
                    s,
                    "| {retriever} | `{name}` | {} | {:.3} | {:.3} | {secs} |",
                    a.steps, a.loss_start, a.loss_end
                );
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::methods::registry;
    use crate::experiment::profile::Profile;
    use crate::experiment::results::{AdapterSummary, QuestionRecord};

    /// The quick profile with `layers` interface layers, BM25 only, base adapter only, one set
    /// of four questions with the given EMs (F1 = EM).
    fn run(layers: usize, ems: [f64; 4]) -> Results {
        let mut profile = Profile::named("quick").unwrap();
        profile.retrievers = vec!["bm25".into()];
        profile.interface_layers = layers;
        let mut methods = registry(&profile);
        methods.retain(|m| m.id == "base-adapter");
        let questions = ems
            .iter()
            .enumerate()
            .map(|(i, &em)| QuestionRecord {
                id: format!("q{i}"),
                gold_in_docs: true,
                gold_in_prompt: None,
                scores: [("base-adapter".to_string(), vec![[em, em]])].into(),
                predictions: Default::default(),
            })
            .collect();
        Results {
            adapters: vec![AdapterSummary {
                retriever: "bm25".into(),
                steps: 80,
                instances: 160,
                loss_start: 4.0,
                loss_end: if layers == 0 { 3.0 } else { 3.5 },
                curve: Vec::new(),
                seconds: Some(1.0),
                step_seconds: Vec::new(),
                dev_curve: Vec::new(),
                dev_answers: None,
                dev_with_docs: false,
            }],
            sets: vec![SetRecord {
                retriever: "bm25".into(),
                set: "nq/test".into(),
                held_out: false,
                pool: "nq/dev".into(),
                questions,
                costs: Vec::new(),
                per_task_once: 0.0,
                seconds: None,
                split: None,
            }],
            total_seconds: 1.0,
            ..Results::fixture(profile, methods)
        }
    }

    #[test]
    fn the_ablated_setting_is_named_and_the_difference_is_paired_per_question() {
        let base = run(2, [0.0, 0.0, 1.0, 0.0]);
        let variant = run(0, [1.0, 1.0, 1.0, 1.0]);
        let d = differences(&base, &variant).unwrap();
        assert_eq!(d, vec![("interface_layers".into(), "2".into(), "0".into())]);
        let md = render(&base, "quick", &variant, "quick--all-layers").unwrap();
        assert!(md.contains("- `interface_layers`: 2 → 0"), "{md}");
        // EM 25 → 100 on the four shared questions: +75 points.
        let row = md
            .lines()
            .find(|l| l.starts_with("| bm25 | Base adapter | all | 4 |"))
            .unwrap();
        assert!(row.contains("| 25.0 ["), "{row}");
        assert!(row.contains("| 100.0 [100.0, 100.0] | +75.0 ["), "{row}");
        assert!(
            md.contains("| bm25 | `quick--all-layers` | 80 | 4.000 | 3.000 | 1 |"),
            "{md}"
        );
    }

    #[test]
    fn only_the_questions_both_runs_answered_are_compared() {
        let base = run(2, [0.0, 0.0, 0.0, 0.0]);
        let mut variant = run(0, [1.0, 1.0, 1.0, 1.0]);
        variant.sets[0].questions.truncate(2);
        let md = render(&base, "quick", &variant, "v").unwrap();
        assert!(
            md.contains("| bm25 | Base adapter | all | 2 | 0.0 [0.0, 0.0] | 100.0"),
            "{md}"
        );
    }

    #[test]
    fn a_run_with_the_same_settings_or_other_weights_is_not_an_ablation() {
        let base = run(2, [0.0; 4]);
        let same = run(2, [1.0; 4]);
        assert!(render(&base, "quick", &same, "v").is_err());
        let mut other = run(0, [1.0; 4]);
        other.model_sha256 = "def".into();
        assert!(render(&base, "quick", &other, "v").is_err());
    }
}
