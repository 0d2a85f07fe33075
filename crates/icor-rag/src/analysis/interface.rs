//! The interface study's report (issue 23, item 1): `W_0^ret` trained on the top `L` layers
//! (and rank `r`) of the backbone until its dev loss stops improving, one stage-1 run per
//! interface; their learning curves, dev EM, cost per step, and the choice the decided
//! profile takes: the cheapest interface (seconds per step) whose dev EM is within
//! [`WITHIN`] points of the best, where costs within [`COST_TIE`] of the cheapest count as
//! equal and the higher dev EM among them wins.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::analysis::stats::{Estimate, bootstrap_avg};
use crate::error::{Error, Result, io_err};
use crate::experiment::results::{AdapterSummary, Results};
use crate::experiment::run::load_results;

/// EM points below the best dev EM that still count as "as good" for the choice.
pub const WITHIN: f64 = 1.0;

/// Seconds per step within this fraction of the cheapest candidate's count as the same
/// cost: a LoRA's rank changes an interface's cost by a few percent, less than the spread of
/// wall times on a shared 2-core machine, so such a difference must not decide.
pub const COST_TIE: f64 = 0.10;

/// One interface of the study: its settings and its stage-1 results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Variant {
    /// Top layers that carry the interface (0: every layer).
    pub layers: usize,
    pub rank: usize,
    pub results: Results,
}

impl Variant {
    /// `top 2, r 16` / `all, r 16`.
    pub fn label(&self) -> String {
        match self.layers {
            0 => format!("all layers, r {}", self.rank),
            l => format!("top {l}, r {}", self.rank),
        }
    }

    fn adapter(&self) -> Result<&AdapterSummary> {
        self.results
            .adapters
            .first()
            .filter(|a| a.dev_answers.is_some())
            .ok_or_else(|| {
                Error::Config(format!(
                    "{}: no W_0^ret with dev answers (does the profile stop early?)",
                    self.label()
                ))
            })
    }

    /// Seconds per optimiser step: the median of the steps' own times where the run kept
    /// them for at least half its steps (the training step alone, and robust to other jobs
    /// sharing the machine for part of the run), else the run's wall time over its steps
    /// (the dev-loss measurements included).
    fn seconds_per_step(a: &AdapterSummary) -> (f64, Cost) {
        if a.step_seconds.len() * 2 >= a.steps.max(1) {
            let mut t: Vec<f32> = a.step_seconds.clone();
            t.sort_by(f32::total_cmp);
            return (f64::from(t[t.len() / 2]), Cost::MedianStep);
        }
        (
            a.seconds.unwrap_or(f64::NAN) / a.steps.max(1) as f64,
            Cost::RunOverSteps,
        )
    }
}

/// How a row's seconds per step were measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cost {
    /// The median of the optimiser steps' own wall times.
    MedianStep,
    /// The training run's wall time over its steps, dev-loss measurements included (results
    /// from before per-step times were kept).
    RunOverSteps,
}

impl Cost {
    fn label(self) -> &'static str {
        match self {
            Cost::MedianStep => "median step",
            Cost::RunOverSteps => "run ÷ steps",
        }
    }
}

/// The study's variants as written by `icor rag interface` (`<dir>/*.json`), ordered by rank
/// and then by the number of layers (every layer last), for re-rendering the report.
pub fn load_variants(dir: &Path) -> Result<Vec<Variant>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let results = load_results(&path)?;
        out.push(Variant {
            layers: results.profile.interface_layers,
            rank: results.profile.adapter.rank,
            results,
        });
    }
    out.sort_by_key(|v| (v.rank, if v.layers == 0 { usize::MAX } else { v.layers }));
    Ok(out)
}

/// One row of the study's table.
struct Row<'a> {
    v: &'a Variant,
    a: &'a AdapterSummary,
    em: Estimate,
    f1: f64,
    bare: Estimate,
    per_step: f64,
    cost: Cost,
}

/// The variant the profile takes: among those whose dev EM is within [`WITHIN`] of the best,
/// those costing at most [`COST_TIE`] more per step than the cheapest of them; of these the
/// one with the highest dev EM (the cheaper on equal EM, the first in the given order on
/// equal both).
fn choice(rows: &[Row<'_>]) -> Option<usize> {
    let best = rows
        .iter()
        .map(|r| r.em.mean)
        .fold(f64::NEG_INFINITY, f64::max);
    let good: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].em.mean >= best - WITHIN / 100.0)
        .collect();
    let cheapest = good
        .iter()
        .map(|&i| rows[i].per_step)
        .fold(f64::INFINITY, f64::min);
    good.into_iter()
        .filter(|&i| rows[i].per_step <= cheapest * (1.0 + COST_TIE))
        .min_by(|&i, &j| {
            (rows[j].em.mean.total_cmp(&rows[i].em.mean))
                .then(rows[i].per_step.total_cmp(&rows[j].per_step))
        })
}

/// The report: the table, the choice, and each interface's dev curve.
pub fn render(profile: &str, variants: &[Variant]) -> Result<String> {
    let rows = variants
        .iter()
        .map(|v| {
            let a = v.adapter()?;
            let d = a.dev_answers.as_ref().expect("checked by adapter()");
            let b = v.results.profile.eval.bootstrap;
            Ok(Row {
                v,
                a,
                em: bootstrap_avg(std::slice::from_ref(&d.em), b, 0),
                f1: d.f1.iter().sum::<f64>() / d.f1.len().max(1) as f64,
                bare: bootstrap_avg(std::slice::from_ref(&d.em_bare), b, 0),
                per_step: Variant::seconds_per_step(a).0,
                cost: Variant::seconds_per_step(a).1,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut out = String::new();
    header(&mut out, profile, variants);
    table(&mut out, &rows);
    evidence(&mut out, &rows);
    without_docs(&mut out, &rows);
    chosen(&mut out, &rows);
    curves(&mut out, profile, &rows);
    Ok(out)
}

/// Each interface's dev EM split by whether the prompt shows a golden answer, where the
/// results measured it: the ceiling the corpus and the document cut set, and how much of it
/// the interface reaches.
fn evidence(out: &mut String, rows: &[Row<'_>]) {
    let split: Vec<_> = rows
        .iter()
        .filter_map(|r| {
            let d = r.a.dev_answers.as_ref()?;
            Some((r, d.evidence_split()?, d.em.len()))
        })
        .collect();
    let Some(&(first, _, _)) = split.first() else {
        return;
    };
    let p = &first.v.results.profile;
    let _ = writeln!(
        out,
        "\nWhere the evidence is: a dev prompt \"shows an answer\" when a golden answer occurs \
         in its {} documents as the prompt shows them ({}), by FlashRAG's recall rule. \
         Elsewhere the interface can answer only from what the backbone knows.\n",
        p.docs,
        if p.doc_tokens > 0 {
            format!("title and first {} tokens of each", p.doc_tokens)
        } else {
            "whole".to_string()
        }
    );
    let (_, s0, total0) = split[0];
    let _ = writeln!(
        out,
        "Through the evidence an interface can add at most {:.1} points of dev EM to what it \
         answers from the backbone's own knowledge (the share of prompts showing an answer). \
         Where the interfaces' dev EMs differ by less than their CIs, the rule below chooses \
         by cost.\n",
        100.0 * s0.shown as f64 / total0.max(1) as f64
    );
    let _ = writeln!(
        out,
        "| interface | dev prompts showing an answer | dev EM on them | bare backbone on them | \
         dev EM on the others |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for (r, s, total) in &split {
        let _ = writeln!(
            out,
            "| {} | {} of {} ({:.1} %) | {:.1} | {:.1} | {:.1} |",
            r.v.label(),
            s.shown,
            total,
            100.0 * s.shown as f64 / (*total).max(1) as f64,
            s.em_shown,
            s.em_bare_shown,
            s.em_other,
        );
    }
}

/// A warning where a row's dev prompts carried no documents (runs before the dev questions
/// were retrieved for).
fn without_docs(out: &mut String, rows: &[Row<'_>]) {
    let old: Vec<String> = rows
        .iter()
        .filter(|r| !r.a.dev_with_docs)
        .map(|r| r.v.label())
        .collect();
    if old.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n**The dev measurements of {} are of prompts without documents.** These runs were made \
         before the run retrieved for its dev questions (fixed on 2026-12-07): their dev \
         prompts held the question alone, so the dev loss, the step early stopping kept and \
         the dev EM measure answers without the evidence the interface is meant to use. The \
         choice below applies the rule to those numbers; `icor rag interface` reruns such \
         interfaces, and the choice stands only once it has.",
        old.join(", ")
    );
}

fn header(out: &mut String, profile: &str, variants: &[Variant]) {
    let _ = writeln!(out, "# Interface study for W_0^ret (profile `{profile}`)\n");
    let _ = writeln!(
        out,
        "Generated by `icor rag interface` from `reports/rag/interface/{profile}/*.json`; \
         `cargo xtask rag-report` re-renders it.\n"
    );
    if let Some(v) = variants.first() {
        let p = &v.results.profile;
        let e = p.adapter.early_stop;
        let _ = writeln!(
            out,
            "Each interface is LoRA on Q/K/V of the top L layers of {} (α = 2r), trained on {} \
             RAG instances of `{}` (retriever {}, {} documents) with AdamW at lr {}, {} per \
             step, for at most {} steps; its answer loss on {} dev questions (the same pool's \
             next questions, never evaluated or meta-trained on) is measured every {} steps and \
             training stops after {} measurements without a new best, keeping the best \
             parameters. Dev EM: those parameters' greedy answers on the dev questions (95 % \
             bootstrap CI); the bare backbone answers the same prompts. The cost is the wall \
             time of one optimiser step on this machine ({} backend): the median of the run's \
             steps, each timed alone (\"median step\"), or for results made before steps were \
             timed, the run's wall time over its steps with the dev-loss measurements \
             (\"run ÷ steps\").\n",
            p.model,
            p.adapter.train_questions,
            p.train_pools[0],
            p.retrievers.join(", "),
            p.docs,
            p.adapter.lr,
            p.adapter.micro_batch * p.adapter.grad_accum,
            p.adapter.steps,
            e.map_or(0, |e| e.dev_questions),
            e.map_or(0, |e| e.eval_every),
            e.map_or(0, |e| e.patience),
            v.results.backend,
        );
    }
}

fn table(out: &mut String, rows: &[Row<'_>]) {
    let _ = writeln!(
        out,
        "| interface | steps run | best dev loss (step) | dev EM [95 % CI] | dev F1 | bare \
         backbone dev EM | s / step (how) | training time |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let best =
            r.a.dev_curve
                .iter()
                .copied()
                .fold((0, f32::INFINITY), |b, x| if x.1 < b.1 { x } else { b });
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} ({}) | {:.1} [{:.1}, {:.1}] | {:.1} | {:.1} | {:.2} ({}) | {:.1} min |",
            r.v.label(),
            r.a.steps,
            best.1,
            best.0,
            100.0 * r.em.mean,
            100.0 * r.em.lo,
            100.0 * r.em.hi,
            100.0 * r.f1,
            100.0 * r.bare.mean,
            r.per_step,
            r.cost.label(),
            r.a.seconds.unwrap_or(f64::NAN) / 60.0,
        );
    }
}

fn chosen(out: &mut String, rows: &[Row<'_>]) {
    if rows.len() < 2 {
        let _ = writeln!(
            out,
            "\n**No choice yet**: {} interface(s) finished; the choice compares at least two.",
            rows.len()
        );
        return;
    }
    let Some(i) = choice(rows) else {
        return;
    };
    let best = rows
        .iter()
        .map(|r| r.em.mean)
        .fold(f64::NEG_INFINITY, f64::max);
    let _ = writeln!(
        out,
        "\n**Choice: {}** — of the {} interfaces in this report, the cheapest per step whose \
         dev EM ({:.1}) is within {WITHIN} point of the best ({:.1}); costs within {:.0} % of \
         the cheapest such interface count as equal, and the higher dev EM among them wins. \
         With {} dev questions the CIs are about ±{:.1} points wide, so the rule separates \
         interfaces only where their EM differs by more than that.",
        rows[i].v.label(),
        rows.len(),
        100.0 * rows[i].em.mean,
        100.0 * best,
        100.0 * COST_TIE,
        rows[i].em.n,
        50.0 * (rows[i].em.hi - rows[i].em.lo),
    );
}

fn curves(out: &mut String, profile: &str, rows: &[Row<'_>]) {
    let _ = writeln!(out, "\n## Dev loss over the steps\n");
    let _ = writeln!(
        out,
        "![dev loss over the steps, and dev EM against seconds per step](figures/rag-interface-{profile}.svg)\n"
    );
    for r in rows {
        let points: Vec<String> =
            r.a.dev_curve
                .iter()
                .map(|(s, l)| format!("{s}: {l:.3}"))
                .collect();
        let _ = writeln!(out, "- {}: {}", r.v.label(), points.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::dev_answers::DevAnswers;

    fn variant(layers: usize, em: &[f64], seconds: f64) -> Variant {
        let mut results = Results::fixture(crate::Profile::named("smoke").unwrap(), Vec::new());
        results.adapters = vec![AdapterSummary {
            retriever: "bm25".into(),
            steps: 10,
            instances: 16,
            loss_start: 2.0,
            loss_end: 1.0,
            curve: vec![2.0, 1.0],
            seconds: Some(seconds),
            step_seconds: Vec::new(),
            dev_curve: vec![(5, 1.5), (10, 1.4)],
            dev_answers: Some(DevAnswers {
                em: em.to_vec(),
                f1: em.to_vec(),
                em_bare: vec![0.0; em.len()],
                f1_bare: vec![0.0; em.len()],
                in_prompt: (0..em.len()).map(|i| i % 10 == 0).collect(),
            }),
            dev_with_docs: true,
        }];
        Variant {
            layers,
            rank: 16,
            results,
        }
    }

    /// The cheapest of the interfaces within a point of the best is chosen, not the best;
    /// one more than a point below is not a candidate however cheap.
    #[test]
    fn the_cheapest_interface_within_a_point_of_the_best_is_chosen() {
        let ems = |hits: usize| -> Vec<f64> {
            (0..1000).map(|i| f64::from(u8::from(i < hits))).collect()
        };
        let vs = [
            variant(2, &ems(80), 10.0),  // 8.0 EM, cheapest, too far below
            variant(8, &ems(95), 40.0),  // 9.5 EM, within a point
            variant(0, &ems(100), 90.0), // 10.0 EM, the best
        ];
        let md = render("smoke", &vs).unwrap();
        assert!(md.contains("**Choice: top 8, r 16**"), "{md}");
        // every tenth dev prompt shows an answer: 10 of those 100 are among the 95 hits
        assert!(
            md.contains("| top 8, r 16 | 100 of 1000 (10.0 %) | 10.0 | 0.0 | 9.4 |"),
            "{md}"
        );
        let md = render("smoke", &vs[..2]).unwrap();
        assert!(md.contains("**Choice: top 8, r 16**"), "{md}");
        let md = render("smoke", &vs[..1]).unwrap();
        assert!(md.contains("**No choice yet**"), "{md}");
    }

    /// Costs within 10 % of the cheapest candidate are a tie, which the higher dev EM wins;
    /// a larger saving wins over a higher EM within the point.
    /// Where a run timed its steps, their median is its cost, not the run's wall time over
    /// its steps (which holds the dev-loss measurements and whatever else shared the
    /// machine); a row says which it shows.
    #[test]
    fn the_median_step_time_is_the_cost_where_steps_were_timed() {
        let ems = vec![1.0; 100];
        let mut timed = variant(16, &ems, 1000.0); // 100 s per step over the run
        timed.results.adapters[0].step_seconds = vec![2.0, 3.0, 90.0]; // of 10 steps: too few
        let untimed = variant(8, &ems, 50.0); // 5 s per step
        let md = render("smoke", &[timed.clone(), untimed.clone()]).unwrap();
        assert!(md.contains("**Choice: top 8, r 16**"), "{md}");
        timed.results.adapters[0].step_seconds = vec![2.0, 3.0, 90.0, 2.5, 2.2, 3.1];
        let md = render("smoke", &[timed, untimed]).unwrap();
        assert!(md.contains("**Choice: top 16, r 16**"), "{md}");
        assert!(md.contains("| 3.00 (median step) |"), "{md}");
        assert!(md.contains("| 5.00 (run ÷ steps) |"), "{md}");
    }

    #[test]
    fn costs_within_the_tie_go_to_the_higher_dev_em() {
        let ems = |hits: usize| -> Vec<f64> {
            (0..1000).map(|i| f64::from(u8::from(i < hits))).collect()
        };
        let tied = [variant(8, &ems(92), 40.0), variant(16, &ems(100), 43.0)];
        let md = render("smoke", &tied).unwrap();
        assert!(md.contains("**Choice: top 16, r 16**"), "{md}");
        let apart = [variant(8, &ems(92), 40.0), variant(16, &ems(100), 48.0)];
        let md = render("smoke", &apart).unwrap();
        assert!(md.contains("**Choice: top 8, r 16**"), "{md}");
    }

    /// A stage-1 result without dev answers (a profile without early stopping) is an error
    /// naming the interface.
    #[test]
    fn a_run_without_dev_answers_is_refused() {
        let mut v = variant(16, &[1.0], 1.0);
        v.results.adapters[0].dev_answers = None;
        let err = render("smoke", &[v]).unwrap_err().to_string();
        assert!(err.contains("top 16, r 16"), "{err}");
    }
}
