//! `reports/rag-<profile>.md`: every table computed from a [`Results`] file — EM/F1 with
//! bootstrap CIs per method × retriever × set (all questions, and those whose top-k holds a
//! golden answer), paired comparisons, the K sweep, transfer, per-query cost, training,
//! target fidelity and the collapse check, with the paper's numbers beside ours. Nothing here
//! is typed by hand except the paper's published numbers, which are cited.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::analysis::claims::{Metric, Sets, paired_diff, seed_for};
use crate::analysis::stats::{Estimate, bootstrap_avg, median_p90};
use crate::experiment::methods::{Method, MethodKind};
use crate::experiment::profile::Profile;
use crate::experiment::results::{PredictorSummary, Results, SetRecord};

/// Which questions a table reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subset {
    All,
    /// Questions whose top-k documents hold a golden answer.
    GoldInDocs,
    /// Questions whose top-k documents hold a golden answer in the part the prompt shows
    /// (each cut to `doc_tokens`); none in records that did not measure it.
    GoldInPrompt,
    /// The first `n` questions (the TT-SGD subset).
    First(usize),
}

impl Subset {
    /// The questions method `m` runs on under profile `p`: its first `n` or all of them.
    pub fn of(m: &Method, p: &Profile) -> Self {
        m.subset(p).map_or(Subset::All, Subset::First)
    }

    /// How a table names the subset.
    pub fn label(self) -> String {
        match self {
            Subset::All => "all".into(),
            Subset::GoldInDocs => "gold in top-k".into(),
            Subset::GoldInPrompt => "gold in the prompt".into(),
            Subset::First(n) => format!("first {n} per set"),
        }
    }
}

/// Per-question scores (mean over seeds) of `method` on `set`: `(EM, F1)` lists.
pub fn question_scores(set: &SetRecord, method: &str, subset: Subset) -> (Vec<f64>, Vec<f64>) {
    let (mut em, mut f1) = (Vec::new(), Vec::new());
    for (i, q) in set.questions.iter().enumerate() {
        let keep = match subset {
            Subset::All => true,
            Subset::GoldInDocs => q.gold_in_docs,
            Subset::GoldInPrompt => q.gold_in_prompt == Some(true),
            Subset::First(n) => i < n,
        };
        if !keep {
            continue;
        }
        let Some(s) = q.scores.get(method) else {
            continue;
        };
        if s.is_empty() {
            continue;
        }
        let n = s.len() as f64;
        em.push(100.0 * s.iter().map(|x| x[0]).sum::<f64>() / n);
        f1.push(100.0 * s.iter().map(|x| x[1]).sum::<f64>() / n);
    }
    (em, f1)
}

/// The paper's Qwen-2.5-7B average EM over its seven sets (Table 2–3, Fig. 3a), by method id
/// prefix and retriever (`bm25`, and E5 for our `dense`).
fn paper_avg_em(method: &Method, retriever: &str) -> Option<f64> {
    let e5 = retriever != "bm25";
    let v = match method.kind {
        MethodKind::QueryOnly => (18.94, 18.94),
        MethodKind::VanillaRag => (27.16, 32.61),
        MethodKind::BaseAdapter => (29.71, 34.16),
        MethodKind::RagGd {
            k: 1,
            per_task: false,
            term: crate::method::matching::NormTerm::LogSquared,
        } => (32.25, 36.35),
        MethodKind::RagGd {
            k: 5,
            per_task: false,
            term: crate::method::matching::NormTerm::LogSquared,
        } => (32.43, 36.71),
        MethodKind::RagGd {
            k: 10,
            per_task: false,
            term: crate::method::matching::NormTerm::LogSquared,
        } => (32.40, 36.68),
        MethodKind::TtSgd { k: 5 } => (32.36, 36.54),
        MethodKind::FewShot { adapter: false } => (27.14, 32.14),
        MethodKind::FewShot { adapter: true } => (31.58, 36.22),
        MethodKind::HyperTuning { k: 5 } => (31.69, 35.85),
        MethodKind::PromptTuning => (30.60, 34.59),
        _ => return None,
    };
    Some(if e5 { v.1 } else { v.0 })
}

fn fmt_est(e: &Estimate) -> String {
    if e.mean.is_nan() {
        "–".into()
    } else if e.lo.is_nan() {
        format!("{:.1}", e.mean)
    } else {
        format!("{:.1} [{:.1}, {:.1}]", e.mean, e.lo, e.hi)
    }
}

fn retrievers(r: &Results) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for s in &r.sets {
        if !v.contains(&s.retriever) {
            v.push(s.retriever.clone());
        }
    }
    v
}

fn sets_of<'a>(r: &'a Results, retriever: &str) -> Vec<&'a SetRecord> {
    r.sets.iter().filter(|s| s.retriever == retriever).collect()
}

/// The score table of one retriever and subset.
fn score_table(out: &mut String, r: &Results, retriever: &str, subset: Subset) {
    let sets = sets_of(r, retriever);
    let b = r.profile.eval.bootstrap;
    let _ = write!(out, "| method |");
    for s in &sets {
        let _ = write!(out, " {} EM | {} F1 |", s.set, s.set);
    }
    let _ = writeln!(out, " Avg EM | Avg F1 | paper Avg EM (Qwen-7B) |");
    let _ = write!(out, "|---|");
    for _ in &sets {
        let _ = write!(out, "---|---|");
    }
    let _ = writeln!(out, "---|---|---|");
    for m in &r.methods {
        let sub = match (subset, m.subset(&r.profile)) {
            (Subset::All, Some(n)) => Subset::First(n),
            (s, _) => s,
        };
        let mut ems = Vec::new();
        let mut f1s = Vec::new();
        let _ = write!(out, "| {} |", m.label);
        for s in &sets {
            let (em, f1) = question_scores(s, &m.id, sub);
            let e = bootstrap_avg(
                std::slice::from_ref(&em),
                b,
                seed_for(&[&s.set, retriever, &m.id, "em"]),
            );
            let f = bootstrap_avg(
                std::slice::from_ref(&f1),
                b,
                seed_for(&[&s.set, retriever, &m.id, "f1"]),
            );
            let _ = write!(out, " {} | {} |", fmt_est(&e), fmt_est(&f));
            ems.push(em);
            f1s.push(f1);
        }
        let e = bootstrap_avg(&ems, b, seed_for(&[retriever, &m.id, "avg-em"]));
        let f = bootstrap_avg(&f1s, b, seed_for(&[retriever, &m.id, "avg-f1"]));
        let paper = paper_avg_em(m, retriever).map_or("–".into(), |v| format!("{v:.2}"));
        let _ = writeln!(out, " {} | {} | {paper} |", fmt_est(&e), fmt_est(&f));
    }
    let counts: Vec<String> = sets
        .iter()
        .map(|s| {
            let n = match subset {
                Subset::All => s.questions.len(),
                Subset::GoldInDocs => s.questions.iter().filter(|q| q.gold_in_docs).count(),
                Subset::GoldInPrompt => s
                    .questions
                    .iter()
                    .filter(|q| q.gold_in_prompt == Some(true))
                    .count(),
                Subset::First(k) => k.min(s.questions.len()),
            };
            format!("{} {n}", s.set)
        })
        .collect();
    let _ = writeln!(out, "\nQuestions: {}.", counts.join(", "));
    if subset == Subset::All {
        for m in &r.methods {
            if let Some(n) = m.subset(&r.profile) {
                let _ = writeln!(
                    out,
                    "{} runs on the first {n} questions of each set only; its cells are on that subset.",
                    m.label
                );
            }
        }
    }
}

fn method<'a>(r: &'a Results, pred: impl Fn(&MethodKind) -> bool) -> Option<&'a Method> {
    r.methods.iter().find(|m| pred(&m.kind))
}

/// What several sections compare against: the K values (ascending), the middle K, RAG-GD at
/// it (per query, log² term), the base adapter and TT-SGD.
struct Anchors<'a> {
    ks: Vec<usize>,
    mid: usize,
    ragk: Option<&'a Method>,
    base: Option<&'a Method>,
    tt: Option<&'a Method>,
}

fn anchors(r: &Results) -> Anchors<'_> {
    let mut ks = r.profile.targets.ks.clone();
    ks.sort_unstable();
    let mid = ks[ks.len() / 2];
    Anchors {
        ragk: method(
            r,
            |k| matches!(k, MethodKind::RagGd { k, per_task: false, term: crate::method::matching::NormTerm::LogSquared } if *k == mid),
        ),
        base: method(r, |k| matches!(k, MethodKind::BaseAdapter)),
        tt: method(r, |k| matches!(k, MethodKind::TtSgd { .. })),
        ks,
        mid,
    }
}

/// Paired differences of two methods' EM and F1 over a retriever's sets.
fn paired_line(
    out: &mut String,
    r: &Results,
    retriever: &str,
    a: &Method,
    b: &Method,
    subset: Subset,
) {
    let mut cells = Vec::new();
    for metric in [Metric::Em, Metric::F1] {
        let Some(p) = paired_diff(r, retriever, a, b, subset, Sets::All, metric) else {
            cells.push(("–".to_string(), "–".to_string(), "–"));
            continue;
        };
        let verdict = if p.diff.lo > 0.0 {
            "higher"
        } else if p.diff.hi < 0.0 {
            "lower"
        } else {
            "inconclusive"
        };
        cells.push((fmt_est(&p.diff), format!("{:.3}", p.p_le_zero), verdict));
    }
    let _ = writeln!(
        out,
        "| {retriever} | {} − {} | {} | {} | {} | {} | {} | {} | {} |",
        a.label,
        b.label,
        subset.label(),
        cells[0].0,
        cells[0].1,
        cells[0].2,
        cells[1].0,
        cells[1].1,
        cells[1].2
    );
}

/// Renders the whole report: one section after another.
pub fn render(r: &Results) -> String {
    let mut out = String::new();
    header(&mut out, r);
    settings(&mut out, r);
    score_tables(&mut out, r);
    paired(&mut out, r);
    k_sweep(&mut out, r);
    transfer(&mut out, r);
    cost(&mut out, r);
    training(&mut out, r);
    out
}

/// Title, provenance, and what a partial run lacks.
fn header(out: &mut String, r: &Results) {
    let p = &r.profile;
    let _ = writeln!(
        out,
        "# RAG-GD on a frozen LLM — profile `{}` (generated)\n",
        p.name
    );
    let _ = writeln!(
        out,
        "Generated by `cargo xtask rag-report` from `reports/rag/{}.json`, written by `icor rag run --profile {}`. Do not edit.\n",
        p.name, p.name
    );
    let _ = writeln!(
        out,
        "Model `{}` (sha256 `{}`), backend {}, {} threads, code {}. Wall time of the process that wrote the results: {:.1} min (stages it resumed from stored artefacts count only their loading).\n",
        p.model,
        r.model_sha256,
        r.backend,
        r.threads,
        r.code_version,
        r.total_seconds / 60.0
    );
    if !r.complete {
        let done: Vec<String> = retrievers(r);
        let sets: Vec<String> = r
            .sets
            .iter()
            .map(|s| s.set.clone())
            .filter({
                let mut seen = Vec::new();
                move |s| {
                    if seen.contains(s) {
                        false
                    } else {
                        seen.push(s.clone());
                        true
                    }
                }
            })
            .collect();
        let full = crate::Profile::named(&p.name).ok();
        let missing_sets: Vec<String> = full.as_ref().map_or(Vec::new(), |f| {
            f.eval_sets
                .iter()
                .filter(|s| !sets.contains(s))
                .cloned()
                .collect()
        });
        let missing_ret: Vec<String> = full.as_ref().map_or(Vec::new(), |f| {
            f.retrievers
                .iter()
                .filter(|s| !done.contains(s))
                .cloned()
                .collect()
        });
        let _ = writeln!(
            out,
            "**Partial results** of profile `{}`: retriever(s) {} on set(s) {}. Not run: retriever(s) [{}], set(s) [{}].\n",
            p.name,
            done.join(", "),
            sets.join(", "),
            missing_ret.join(", "),
            missing_sets.join(", ")
        );
    }
}

/// The settings against the paper's (App. G).
fn settings(out: &mut String, r: &Results) {
    let _ = writeln!(out, "## Settings, and where they differ from the paper\n");
    let _ = writeln!(out, "| setting | here | paper (App. G) |\n|---|---|---|");
    let rows = data_rows(r).into_iter().chain(training_rows(r));
    for (k, here, paper) in rows {
        let _ = writeln!(out, "| {k} | {here} | {paper} |");
    }
    let _ = writeln!(out);
}

/// The settings rows of the model, the data and the retrieval.
fn data_rows(r: &Results) -> Vec<(&'static str, String, &'static str)> {
    let p = &r.profile;
    vec![
        (
            "backbone",
            p.model.clone(),
            "Qwen2.5-7B-Instruct, Llama-3.1-8B-Instruct (4-bit NF4)",
        ),
        (
            "retrievers",
            p.retrievers.join(", "),
            "BM25, E5-large (dense: MiniLM-L6 here)",
        ),
        (
            "corpus",
            "10,033 Wikipedia lead sections".into(),
            "FlashRAG wiki-18 (21 M passages)",
        ),
        (
            "evaluated sets",
            p.eval_sets.join(", "),
            "NQ, TriviaQA, PopQA, HotpotQA, 2Wiki, MuSiQue, Bamboogle",
        ),
        (
            "meta-training pools",
            format!(
                "{}: {} questions each, {}",
                p.train_pools.join(", "),
                p.pool_size,
                if r.splits >= 2 {
                    "every set shuffled with its own seed"
                } else {
                    "every set shuffled with the same seed (split scheme 1)"
                }
            ),
            "NQ, TriviaQA, HotpotQA, 2Wiki, MuSiQue",
        ),
        (
            "support pools",
            if r.splits >= 2 {
                format!(
                    "in-domain sets: {} further questions of their training pool's data, disjoint \
                     from it and from W_0^ret's; held-out sets: {} later questions of their own",
                    p.pool_size, p.pool_size
                )
            } else {
                format!(
                    "in-domain sets: their meta-training pool itself (split scheme 1: held-out \
                     contexts may reuse training demonstrations); held-out sets: {} later \
                     questions of their own",
                    p.pool_size
                )
            },
            "not stated",
        ),
        (
            "documents, token budget",
            format!(
                "top {}, {} tokens each",
                p.docs,
                if p.doc_tokens == 0 {
                    "all".into()
                } else {
                    p.doc_tokens.to_string()
                }
            ),
            "top 5, not stated",
        ),
        (
            "interface layers",
            if p.interface_layers == 0 {
                "every layer".into()
            } else {
                format!("top {}", p.interface_layers)
            },
            "every layer",
        ),
        (
            "LoRA",
            format!("r {}, α {}", p.adapter.rank, p.adapter.alpha),
            "r 16, α 32",
        ),
    ]
}

/// The settings rows of the training stages and the evaluation.
fn training_rows(r: &Results) -> Vec<(&'static str, String, &'static str)> {
    let p = &r.profile;
    vec![
        (
            "W_0^ret training",
            format!(
                "{} steps × {} × accum {}, lr {}, on {} NQ questions",
                p.adapter.steps,
                p.adapter.micro_batch,
                p.adapter.grad_accum,
                p.adapter.lr,
                p.adapter.train_questions
            ),
            "3,000 steps, accum 4, lr 1e-4",
        ),
        (
            "targets",
            format!(
                "η {}, K ∈ {:?}, N = {}, {} contexts per pool{}; L(W; C) the mean over every \
                 answer token of C",
                p.targets.eta,
                p.targets.ks,
                p.support,
                p.targets.train_contexts_per_pool,
                p.targets
                    .all_k_contexts_per_pool
                    .filter(|&n| n < p.targets.train_contexts_per_pool)
                    .map_or(String::new(), |n| format!(
                        " (K > {} on the first {n} of each pool and every held-out context)",
                        p.targets.ks_sorted()[0]
                    ))
            ),
            "η 1e-2, K ∈ {1, 5, 10}, N = 3; averaging of L(W; C) not stated",
        ),
        (
            "g_φ",
            format!(
                "MLP {} → {}, heads R = {} in fitted bases, {} steps, lr {}, λ {}",
                p.predictor.hidden,
                p.predictor.code,
                p.predictor.basis_rank,
                p.predictor.steps,
                p.predictor.lr,
                p.predictor.lambda
            ),
            "MLP 256 → 64, U,V ∈ R^{d×16} heads, 3,000 steps, lr 5e-4, λ 0.1",
        ),
        (
            "matching norm term",
            "log² (signed log as ablation)".into(),
            "log (as printed)",
        ),
        (
            "evaluation",
            format!(
                "first {} questions, {} support seeds ({} for the ablation rows{}), greedy ≤ {} tokens",
                p.eval.questions,
                p.eval.support_seeds,
                p.eval.ablation_seeds,
                if p.eval.sweep_seeds > 0 {
                    format!(" and {} for K ≠ {}", p.eval.sweep_seeds, p.mid_k())
                } else {
                    String::new()
                },
                p.eval.max_new_tokens
            ),
            "not stated",
        ),
        (
            "TT-SGD",
            format!(
                "K = {}, first {} questions, {} seed(s)",
                p.eval.tt_sgd_k, p.eval.tt_sgd_questions, p.eval.tt_sgd_seeds
            ),
            "K = 5, all questions",
        ),
        (
            "+ few shot",
            format!(
                "N = {} demonstrations as answered chat turns before the question, first {} questions{}, {} seed(s) (RAG-GD's first draws)",
                p.support,
                p.eval.few_shot_questions,
                p.eval
                    .few_shot_top_up
                    .as_ref()
                    .map_or(String::new(), |t| format!(
                        " ({} extended to the first {} afterwards)",
                        t.methods.join(", "),
                        t.questions
                    )),
                p.eval.few_shot_seeds
            ),
            "demonstrations concatenated into the prompt (format not stated)",
        ),
        (
            "prompt tuning",
            p.prompt_tuning
                .as_ref()
                .map_or("not run in this profile".into(), |t| {
                    format!(
                        "{} virtual tokens, {} steps, lr {}, first {} questions",
                        t.virtual_tokens, t.train.steps, t.train.lr, t.questions
                    )
                }),
            "soft prefix, W_0^ret's supervision (length, lr, steps not stated)",
        ),
        (
            "HyperTuning",
            format!(
                "g_φ as RAG-GD's (same bases, scale, input), {} steps of {} contexts through the answer loss of other questions of the task, lr {}",
                p.predictor.hyper_steps, p.predictor.batch, p.predictor.lr
            ),
            "same predictor architecture, downstream task loss (settings not stated)",
        ),
    ]
}

/// Whether the records say which prompts show a golden answer (runs since 2026-12-07).
fn measured_in_prompt(r: &Results) -> bool {
    r.sets
        .iter()
        .flat_map(|s| &s.questions)
        .any(|q| q.gold_in_prompt.is_some())
}

/// EM / F1 per retriever, all questions, those whose documents hold an answer and those
/// whose prompt shows one.
fn score_tables(out: &mut String, r: &Results) {
    let p = &r.profile;
    for retriever in retrievers(r) {
        let _ = writeln!(
            out,
            "## EM / F1 (%), retriever `{retriever}`, all questions\n"
        );
        let _ = writeln!(
            out,
            "95 % bootstrap CIs over questions (a question's score is its mean over support seeds); Avg is the unweighted mean over sets, each set resampled on its own.\n"
        );
        score_table(out, r, &retriever, Subset::All);
        let _ = writeln!(
            out,
            "\n## EM / F1 (%), retriever `{retriever}`, questions whose top-{} holds a golden answer\n",
            p.docs
        );
        let _ = writeln!(
            out,
            "The passages read whole; with a 10k-passage corpus most questions have no answer in their top-{}.\n",
            p.docs
        );
        score_table(out, r, &retriever, Subset::GoldInDocs);
        if measured_in_prompt(r) {
            let _ = writeln!(
                out,
                "\n## EM / F1 (%), retriever `{retriever}`, questions whose prompt shows a golden answer\n"
            );
            let _ = writeln!(
                out,
                "The top-{} as the prompt shows them{}: only here can the documents help.\n",
                p.docs,
                if p.doc_tokens > 0 {
                    format!(", each cut to its first {} tokens", p.doc_tokens)
                } else {
                    String::new()
                }
            );
            score_table(out, r, &retriever, Subset::GoldInPrompt);
        }
        let _ = writeln!(out);
    }
}

/// Paired comparisons of the methods.
fn paired(out: &mut String, r: &Results) {
    let p = &r.profile;
    let _ = writeln!(
        out,
        "## Paired comparisons (EM and F1 points, averaged over sets)\n"
    );
    let _ = writeln!(
        out,
        "| retriever | difference | questions | EM Δ [95 % CI] | P(Δ ≤ 0) | EM verdict | F1 Δ [95 % CI] | P(Δ ≤ 0) | F1 verdict |\n|---|---|---|---|---|---|---|---|---|"
    );
    let Anchors { ragk, base, tt, .. } = anchors(r);
    let signed = method(r, |k| {
        matches!(
            k,
            MethodKind::RagGd {
                term: crate::method::matching::NormTerm::Log,
                ..
            }
        )
    });
    let task = method(r, |k| matches!(k, MethodKind::RagGd { per_task: true, .. }));
    let vanilla = method(r, |k| matches!(k, MethodKind::VanillaRag));
    let hyper = method(r, |k| matches!(k, MethodKind::HyperTuning { .. }));
    let base_fs = method(r, |k| matches!(k, MethodKind::FewShot { adapter: true }));
    for retriever in retrievers(r) {
        if let (Some(a), Some(b)) = (ragk, base) {
            paired_line(out, r, &retriever, a, b, Subset::All);
            paired_line(out, r, &retriever, a, b, Subset::GoldInDocs);
            if measured_in_prompt(r) {
                paired_line(out, r, &retriever, a, b, Subset::GoldInPrompt);
            }
        }
        if let (Some(a), Some(b)) = (ragk, tt) {
            paired_line(
                out,
                r,
                &retriever,
                a,
                b,
                Subset::First(p.eval.tt_sgd_questions),
            );
        }
        if let (Some(a), Some(b)) = (ragk, hyper) {
            paired_line(out, r, &retriever, a, b, Subset::All);
        }
        if let (Some(a), Some(b)) = (ragk, base_fs) {
            paired_line(out, r, &retriever, a, b, Subset::of(b, p));
        }
        if let (Some(a), Some(b)) = (ragk, signed) {
            paired_line(out, r, &retriever, a, b, Subset::All);
        }
        if let (Some(a), Some(b)) = (ragk, task) {
            paired_line(out, r, &retriever, a, b, Subset::All);
        }
        if let (Some(a), Some(b)) = (base, vanilla) {
            paired_line(out, r, &retriever, a, b, Subset::All);
        }
    }
    let _ = writeln!(
        out,
        "\nΔ is the first method minus the second, a question's score being its mean over support seeds; P(Δ ≤ 0) is the bootstrap share of replicates at or below 0. Verdict: the CI lies above 0 (higher), below 0 (lower) or straddles it.\n"
    );
    crate::analysis::claims::render(out, r);
}

/// The inner-step sweep (the paper's Fig. 3b).
fn k_sweep(out: &mut String, r: &Results) {
    let p = &r.profile;
    let Anchors { ks, .. } = anchors(r);
    let _ = writeln!(
        out,
        "## Inner steps K (the paper's Fig. 3b): average EM, all questions\n"
    );
    let _ = writeln!(
        out,
        "| retriever | {} | paper Qwen-7B (BM25 / E5) |",
        ks.iter()
            .map(|k| format!("K = {k}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|---|{}---|", "---|".repeat(ks.len()));
    for retriever in retrievers(r) {
        let sets = sets_of(r, &retriever);
        let mut cells = Vec::new();
        for k in &ks {
            let id = format!("rag-gd-k{k}");
            let ems: Vec<Vec<f64>> = sets
                .iter()
                .map(|s| question_scores(s, &id, Subset::All).0)
                .collect();
            cells.push(fmt_est(&bootstrap_avg(
                &ems,
                p.eval.bootstrap,
                seed_for(&[&retriever, &id, "k"]),
            )));
        }
        let _ = writeln!(
            out,
            "| {retriever} | {} | 32.25 / 32.43 / 32.40 (BM25); 36.35 / 36.71 / 36.68 (E5) |",
            cells.join(" | ")
        );
    }
    let _ = writeln!(out);
}

/// RAG-GD's gain over the base adapter, in-domain against held out.
fn transfer(out: &mut String, r: &Results) {
    let p = &r.profile;
    let Anchors {
        mid, ragk, base, ..
    } = anchors(r);
    let _ = writeln!(
        out,
        "## Transfer: gain of RAG-GD (K = {mid}) over the base adapter, in-domain vs held-out (points)\n"
    );
    let _ = writeln!(
        out,
        "| retriever | set | held out | ΔEM [95 % CI] | ΔF1 [95 % CI] |\n|---|---|---|---|---|"
    );
    if let (Some(a), Some(b)) = (ragk, base) {
        for retriever in retrievers(r) {
            let cells = |s: &SetRecord| -> Vec<String> {
                [0, 1]
                    .iter()
                    .map(|&k| {
                        let pick = |m: &Method| {
                            let (em, f1) = question_scores(s, &m.id, Subset::All);
                            if k == 0 { em } else { f1 }
                        };
                        let pd = crate::analysis::stats::paired(
                            &[pick(a)],
                            &[pick(b)],
                            p.eval.bootstrap,
                            seed_for(&[&retriever, &s.set, "transfer", &k.to_string()]),
                        );
                        fmt_est(&pd.diff)
                    })
                    .collect()
            };
            for s in sets_of(r, &retriever) {
                let c = cells(s);
                let _ = writeln!(
                    out,
                    "| {retriever} | {} | {} | {} | {} |",
                    s.set,
                    if s.held_out { "yes" } else { "no" },
                    c[0],
                    c[1]
                );
            }
            for (sets, name) in [
                (Sets::InDomain, "**in-domain average**"),
                (Sets::HeldOut, "**held-out average**"),
            ] {
                let c: Vec<String> = [Metric::Em, Metric::F1]
                    .iter()
                    .map(|&m| {
                        paired_diff(r, &retriever, a, b, Subset::All, sets, m)
                            .map_or("–".into(), |p| fmt_est(&p.diff))
                    })
                    .collect();
                let held = if sets == Sets::HeldOut { "yes" } else { "no" };
                let _ = writeln!(
                    out,
                    "| {retriever} | {name} | {held} | {} | {} |",
                    c[0], c[1]
                );
            }
        }
    }
    let _ = writeln!(out);
}

/// Per-query cost of every method.
fn cost(out: &mut String, r: &Results) {
    let p = &r.profile;
    let Anchors { ragk, tt, .. } = anchors(r);
    let _ = writeln!(
        out,
        "## Per-query cost (seconds, each method run alone on the first {} questions of every set, cold caches)\n",
        p.eval.cost_questions
    );
    let _ = writeln!(
        out,
        "| retriever | method | retrieval | demo encoding | g_φ | gradient steps | generation | total median | total p90 | n |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut medians: BTreeMap<(String, String), f64> = BTreeMap::new();
    for retriever in retrievers(r) {
        for m in &r.methods {
            let samples: Vec<_> = sets_of(r, &retriever)
                .iter()
                .flat_map(|s| {
                    s.costs
                        .iter()
                        .filter(|c| c.method == m.id)
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .collect();
            if samples.is_empty() {
                continue;
            }
            let med = |f: &dyn Fn(&crate::experiment::results::CostSample) -> f64| {
                median_p90(&samples.iter().map(f).collect::<Vec<_>>()).0
            };
            let (tm, tp) = median_p90(&samples.iter().map(|c| c.total()).collect::<Vec<_>>());
            medians.insert((retriever.clone(), m.id.clone()), tm);
            let _ = writeln!(
                out,
                "| {retriever} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {tm:.3} | {tp:.3} | {} |",
                m.label,
                med(&|c| c.retrieval),
                med(&|c| c.encode),
                med(&|c| c.predictor),
                med(&|c| c.sgd),
                med(&|c| c.generation),
                samples.len()
            );
        }
        let once: Vec<f64> = sets_of(r, &retriever)
            .iter()
            .map(|s| s.per_task_once)
            .collect();
        let _ = writeln!(
            out,
            "| {retriever} | per-task update, once per task | | | | | | {:.3} | | {} |",
            median_p90(&once).0,
            once.len()
        );
    }
    let _ = writeln!(out);
    if let (Some(a), Some(b)) = (ragk, tt) {
        for retriever in retrievers(r) {
            if let (Some(x), Some(y)) = (
                medians.get(&(retriever.clone(), b.id.clone())),
                medians.get(&(retriever.clone(), a.id.clone())),
            ) {
                let _ = writeln!(
                    out,
                    "- `{retriever}`: TT-SGD / RAG-GD per-query cost (medians) = **{:.2}×**.",
                    x / y
                );
            }
        }
        let _ = writeln!(out);
    }
}

/// How each stage's training went, the collapse check and the stage times.
fn training(out: &mut String, r: &Results) {
    let p = &r.profile;
    let _ = writeln!(out, "## Training\n");
    let _ = writeln!(
        out,
        "| retriever | W_0^ret steps | instances | answer loss, first tenth → last tenth |\n|---|---|---|---|"
    );
    for a in &r.adapters {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.3} → {:.3} |",
            a.retriever, a.steps, a.instances, a.loss_start, a.loss_end
        );
    }
    early_stops(out, r);
    if let Some(pt) = &p.prompt_tuning {
        let _ = writeln!(
            out,
            "\nPrompt tuning: {} virtual tokens, {} steps × {} × accum {}, lr {}, on the same instances.\n\n| retriever | steps | instances | answer loss, first tenth → last tenth |\n|---|---|---|---|",
            pt.virtual_tokens,
            pt.train.steps,
            pt.train.micro_batch,
            pt.train.grad_accum,
            pt.train.lr
        );
        for a in &r.prompts {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.3} → {:.3} |",
                a.retriever, a.steps, a.instances, a.loss_start, a.loss_end
            );
        }
    }
    targets_table(out, r);
    averaging_lines(out, r);
    let _ = writeln!(
        out,
        "\n## Target fidelity of g_φ (held-out contexts) and its size\n"
    );
    let _ = writeln!(
        out,
        "Cosine: mean over (layer, projection) blocks of cos(gΔW, ΔW*), then over contexts (95 % CI). Control: the same cosine for a predictor that ignores the context and always answers the training targets' mean in the bases; g_φ − control is paired over the held-out contexts, and only where it is above 0 does g_φ read anything of the context. Ceiling: the best cosine the fitted bases allow (‖PᵀΔW*Q‖ / ‖ΔW*‖), the price of the small heads. Norm ratio: median over blocks of ‖gΔW‖ / ‖ΔW*‖, median over contexts.\n"
    );
    let _ = writeln!(
        out,
        "| retriever | predictor | norm term | cosine held-out | control (targets' mean) | g_φ − control | cosine train | ceiling held-out | norm ratio | L_match first → last tenth | g_φ weights | naive heads | backbone |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for s in &r.predictors {
        let est = |v: &[f64]| {
            fmt_est_plain(&bootstrap_avg(
                &[v.to_vec()],
                p.eval.bootstrap,
                seed_for(&[&s.retriever, &s.method, "fid"]),
            ))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.3} → {:.3} | {} | {} | {} |",
            s.retriever,
            s.method,
            s.term,
            est(&s.heldout_cosine),
            est_or_dash(&s.heldout_mean_cosine, &est),
            est_or_dash(&paired_gain(s), &est),
            est(&s.train_cosine),
            est(&s.heldout_ceiling),
            median_p90(&s.heldout_norm_ratio).0,
            s.loss_start,
            s.loss_end,
            s.params,
            s.naive_head_params,
            s.backbone_params
        );
    }
    curve_table(out, r);
    let _ = writeln!(out, "\n## Collapse check\n");
    let _ = writeln!(
        out,
        "Mean pairwise cosine of updates (block-averaged). If g_φ conditioned on the context, predictions would differ across contexts roughly as the targets do; a predicted cosine near 1 everywhere means g_φ acts as a second shared adapter.\n"
    );
    let _ = writeln!(
        out,
        "| retriever | predictor | predicted, same task | predicted, across tasks | targets, same task | targets, across tasks | deployed per query, same set | deployed, across sets |\n|---|---|---|---|---|---|---|---|"
    );
    for c in &r.collapse {
        let within: Vec<String> = c
            .deployed_within
            .iter()
            .map(|(k, v)| format!("{k} {v:.3}"))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {:.3} |",
            c.retriever,
            c.method,
            c.predicted_within,
            c.predicted_across,
            c.target_within,
            c.target_across,
            within.join(", "),
            c.deployed_across
        );
    }
    let _ = writeln!(out);
    for c in &r.collapse {
        let verdict = if c.predicted_across >= 0.9 {
            "acts as a second shared adapter: its updates hardly change across tasks".to_string()
        } else if c.predicted_within > c.target_within + 0.1 {
            format!(
                "conditions on the context, but its updates are more alike within a task than the targets are ({:.2} vs {:.2})",
                c.predicted_within, c.target_within
            )
        } else {
            "conditions on the context about as much as the targets differ".to_string()
        };
        let _ = writeln!(out, "- `{}` {}: g_φ {verdict}.", c.retriever, c.method);
    }
    compute_times(out, r);
    eval_split(out, r);
    let _ = writeln!(
        out,
        "\n## Stage times of the last process\n\nWall times of the process that wrote this file; stages it resumed from stored artefacts show only the loading time (the table above has what they cost).\n\n| stage | seconds |\n|---|---|"
    );
    for s in &r.stages {
        let _ = writeln!(out, "| {} | {:.1} |", s.stage, s.seconds);
    }
}

/// Where each set's evaluation time went ([`crate::experiment::results::EvalSplit`]), for
/// the sets that recorded it: seconds per question and each part's share.
fn eval_split(out: &mut String, r: &Results) {
    let sets: Vec<_> = r
        .sets
        .iter()
        .filter_map(|s| Some((s, s.split?, s.seconds?)))
        .collect();
    let Some((_, first, _)) = sets.first() else {
        return;
    };
    let names: Vec<&str> = first.parts().iter().map(|p| p.0).collect();
    let _ = writeln!(
        out,
        "\n## Where the evaluation's time went\n\nSeconds per question of each set, and each part's share of it (the rest: scoring, records, checkpoints).\n\n| retriever | set | questions | s per question | {} | rest |\n|---|---|---|---|{}---|",
        names.join(" | "),
        "---|".repeat(names.len())
    );
    for (set, split, seconds) in sets {
        let n = set.questions.len().max(1) as f64;
        let share = |x: f64| format!("{:.0} %", 100.0 * x / seconds.max(f64::MIN_POSITIVE));
        let parts: Vec<String> = split.parts().iter().map(|p| share(p.1)).collect();
        let rest = seconds - split.parts().iter().map(|p| p.1).sum::<f64>();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} | {} | {} |",
            set.retriever,
            set.set,
            set.questions.len(),
            seconds / n,
            parts.join(" | "),
            share(rest)
        );
    }
}

/// Where `W_0^ret` was stopped early on its dev pool: the best dev loss and its step.
fn early_stops(out: &mut String, r: &Results) {
    for a in r.adapters.iter().filter(|a| !a.dev_curve.is_empty()) {
        let best = a
            .dev_curve
            .iter()
            .copied()
            .fold((0, f32::INFINITY), |b, x| if x.1 < b.1 { x } else { b });
        let _ = writeln!(
            out,
            "\nW_0^ret ({}) on its dev pool: dev loss {:.3} at step {}, best {:.3} at step {}, \
             whose parameters are kept; training ran {} of {} steps{}.",
            a.retriever,
            a.dev_curve[0].1,
            a.dev_curve[0].0,
            best.1,
            best.0,
            a.steps,
            r.profile.adapter.steps,
            if a.steps < r.profile.adapter.steps {
                " (stopped early)"
            } else {
                ""
            }
        );
        if let Some(d) = &a.dev_answers {
            let b = r.profile.eval.bootstrap;
            let ci = |v: &[f64]| crate::analysis::stats::bootstrap_avg(&[v.to_vec()], b, 0);
            let (w0, bare) = (ci(&d.em), ci(&d.em_bare));
            let _ = writeln!(
                out,
                "Its greedy answers on the {} dev questions: EM {:.1} [{:.1}, {:.1}] against                  {:.1} [{:.1}, {:.1}] for the bare backbone on the same prompts.",
                d.em.len(),
                100.0 * w0.mean,
                100.0 * w0.lo,
                100.0 * w0.hi,
                100.0 * bare.mean,
                100.0 * bare.lo,
                100.0 * bare.hi,
            );
        }
    }
}

/// `g_φ`'s held-out target cosine over the number of training contexts it was fitted on.
fn curve_table(out: &mut String, r: &Results) {
    if r.context_curve.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n## g_φ's learning curve: held-out target cosine over the training contexts\n"
    );
    let _ = writeln!(
        out,
        "RAG-GD at K = {} (log² term), bases and predictor refitted on the first n training contexts (round-robin over the pools), checked on the same held-out contexts as above.\n",
        r.context_curve[0].summary.k
    );
    let _ = writeln!(
        out,
        "| retriever | training contexts | cosine held-out | control (targets' mean) | g_φ − control | cosine train | ceiling held-out |\n|---|---|---|---|---|---|---|"
    );
    // Each retriever's curve ends with the predictor fitted on every training context.
    let mut rows: Vec<(String, &PredictorSummary)> = Vec::new();
    for c in &r.context_curve {
        rows.push((c.contexts.to_string(), &c.summary));
        let last = r
            .context_curve
            .iter()
            .rfind(|x| x.summary.retriever == c.summary.retriever)
            .is_some_and(|x| std::ptr::eq(x, c));
        let full = r
            .predictors
            .iter()
            .find(|s| s.retriever == c.summary.retriever && s.method == c.summary.method);
        let n = r
            .targets
            .iter()
            .find(|t| t.retriever == c.summary.retriever)
            .map(|t| t.train_contexts);
        if let (true, Some(full), Some(n)) = (last, full, n) {
            rows.push((format!("{n} (all)"), full));
        }
    }
    for (contexts, s) in rows {
        let est = |v: &[f64]| {
            fmt_est_plain(&bootstrap_avg(
                &[v.to_vec()],
                r.profile.eval.bootstrap,
                seed_for(&[&s.retriever, &s.method, "curve"]),
            ))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            s.retriever,
            contexts,
            est(&s.heldout_cosine),
            est_or_dash(&s.heldout_mean_cosine, &est),
            est_or_dash(&paired_gain(s), &est),
            est(&s.train_cosine),
            est(&s.heldout_ceiling),
        );
    }
}

/// Per held-out context, g_φ's cosine minus the context-free control's (empty when the
/// control was not measured).
fn paired_gain(s: &PredictorSummary) -> Vec<f64> {
    if s.heldout_mean_cosine.len() != s.heldout_cosine.len() {
        return Vec::new();
    }
    s.heldout_cosine
        .iter()
        .zip(&s.heldout_mean_cosine)
        .map(|(g, c)| g - c)
        .collect()
}

/// `est(v)`, or "–" for a measurement the results do not hold.
fn est_or_dash(v: &[f64], est: &dyn Fn(&[f64]) -> String) -> String {
    if v.is_empty() { "–".into() } else { est(v) }
}

fn fmt_est_plain(e: &Estimate) -> String {
    if e.lo.is_nan() {
        format!("{:.3}", e.mean)
    } else {
        format!("{:.3} [{:.3}, {:.3}]", e.mean, e.lo, e.hi)
    }
}

/// What each stage's artefacts cost to make, summed over the processes that made them (a run
/// resumed from stored artefacts still reports its first computation).
fn compute_times(out: &mut String, r: &Results) {
    let _ = writeln!(
        out,
        "\n## Compute time of each stage (seconds, as recorded with its artefacts)\n\n| retriever | W_0^ret | prompt tuning | targets | g_φ (all predictors) | HyperTuning | evaluation | total |\n|---|---|---|---|---|---|---|---|"
    );
    let fmt = |x: Option<f64>| x.map_or("not recorded".to_string(), |v| format!("{v:.0}"));
    let mut grand: Option<f64> = Some(0.0);
    for retriever in retrievers(r) {
        let w0 = r
            .adapters
            .iter()
            .find(|a| a.retriever == retriever)
            .and_then(|a| a.seconds);
        let pt = if r.profile.prompt_tuning.is_some() {
            r.prompts
                .iter()
                .find(|a| a.retriever == retriever)
                .and_then(|a| a.seconds)
        } else {
            Some(0.0)
        };
        let targets = r
            .targets
            .iter()
            .find(|t| t.retriever == retriever)
            .map(|t| t.seconds_per_context * (t.train_contexts + t.heldout_contexts) as f64)
            .filter(|s| *s > 0.0);
        let (mut g, mut hyper) = (0.0, 0.0);
        for pr in r.predictors.iter().filter(|p| p.retriever == retriever) {
            if pr.term == "answer loss" {
                hyper += pr.seconds;
            } else {
                g += pr.seconds;
            }
        }
        let eval = sets_of(r, &retriever)
            .iter()
            .map(|s| s.seconds)
            .sum::<Option<f64>>();
        let total = [w0, pt, targets, Some(g), Some(hyper), eval]
            .into_iter()
            .sum::<Option<f64>>();
        grand = grand.zip(total).map(|(a, b)| a + b);
        let _ = writeln!(
            out,
            "| {retriever} | {} | {} | {} | {g:.0} | {hyper:.0} | {} | {} |",
            fmt(w0),
            fmt(pt),
            fmt(targets),
            fmt(eval),
            fmt(total)
        );
    }
    if let Some(g) = grand {
        let _ = writeln!(
            out,
            "\nAll stages together: **{:.1} min** of compute on {} thread(s) per process.",
            g / 60.0,
            r.threads
        );
    }
}

/// Stage 2's table: contexts, the support loss along the K steps, the targets' norms (with
/// the number of contexts per K where not every context has every K) and the cost.
fn targets_table(out: &mut String, r: &Results) {
    let _ = writeln!(
        out,
        "\n| retriever | contexts (train / held-out) | support loss L(W^(t); C) at t = 0 … K_max | mean ‖ΔW*‖ per block | s per context |\n|---|---|---|---|---|"
    );
    for t in &r.targets {
        let mut curve: Vec<String> = t.support_loss.iter().map(|x| format!("{x:.3}")).collect();
        let all = t.train_contexts + t.heldout_contexts;
        if let Some(&n) = t.contexts_per_k.values().min().filter(|&&n| n < all)
            && let Some(last) = curve.last_mut()
        {
            last.push_str(&format!(" (the {n} contexts with every K)"));
        }
        let norms: Vec<String> = t
            .mean_norm
            .iter()
            .map(|(k, v)| match t.contexts_per_k.get(k) {
                Some(&n) if n < t.train_contexts + t.heldout_contexts => {
                    format!("{k} {v:.2e} ({n} contexts)")
                }
                _ => format!("{k} {v:.2e}"),
            })
            .collect();
        let mixed = t.contexts_per_k.values().min().is_some_and(|&n| n < all);
        let secs = if t.seconds_per_context > 0.0 && mixed {
            format!(
                "{:.1} (mean over every context, whatever its K)",
                t.seconds_per_context
            )
        } else if t.seconds_per_context > 0.0 {
            format!("{:.1}", t.seconds_per_context)
        } else {
            "not recorded (targets made before timings were stored)".into()
        };
        let _ = writeln!(
            out,
            "| {} | {} / {} | {} | {} | {secs} |",
            t.retriever,
            t.train_contexts,
            t.heldout_contexts,
            curve.join(", "),
            norms.join(", ")
        );
    }
}

/// What the support loss's averaging changes, where the run measured it
/// (`targets.averaging_check`): the loss under both, and the K = 1 targets' agreement.
fn averaging_lines(out: &mut String, r: &Results) {
    for t in &r.targets {
        let Some(a) = &t.averaging else { continue };
        let est = |v: &[f64], what: &str| {
            fmt_est_plain(&bootstrap_avg(
                &[v.to_vec()],
                r.profile.eval.bootstrap,
                seed_for(&[&t.retriever, "averaging", what]),
            ))
        };
        let _ = writeln!(
            out,
            "\nSupport-loss averaging ({}, {} held-out contexts): L(W_0^ret; C) is {} as the mean over answer tokens (this run's choice) and {} as the mean over instances; the K = 1 targets under the two agree to a mean block cosine of {}, with norm ratio (instances / tokens) {}.",
            t.retriever,
            a.cosine.len(),
            est(&a.loss_tokens, "tokens"),
            est(&a.loss_instances, "instances"),
            est(&a.cosine, "cosine"),
            est(&a.norm_ratio, "ratio"),
        );
    }
}
