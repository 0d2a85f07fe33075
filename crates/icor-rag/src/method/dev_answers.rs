//! `W_0^ret`'s greedy answers on its dev questions (the interface study's dev EM): each dev
//! prompt is decoded twice in one batch, under `W_0^ret` and under the bare backbone, and both
//! answers are scored (EM, token F1) against the question's gold answers.
//!
//! The dev questions are the first training pool's questions after `W_0^ret`'s own (the ones
//! early stopping reads), never an evaluated or meta-training question.

use icor_llm::{Adaptation, GenerateOptions, Llm, LoraAdapter, RowDeltas};
use icor_qa::metrics::{AnswerPattern, score};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::experiment::prompt::Instance;
use crate::method::frozen::FrozenStates;

/// Per-question scores of the two rows, in the dev questions' order.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DevAnswers {
    /// Exact match (0 or 1) under `W_0^ret`.
    pub em: Vec<f64>,
    /// Token F1 under `W_0^ret`.
    pub f1: Vec<f64>,
    /// Exact match of the bare backbone on the same RAG prompt (vanilla RAG).
    pub em_bare: Vec<f64>,
    /// Token F1 of the bare backbone.
    pub f1_bare: Vec<f64>,
    /// Whether each dev prompt shows a golden answer in its documents as cut to the
    /// profile's `doc_tokens` ([`crate::experiment::prompt::Prompter::shown_docs`]): the
    /// questions where reading the evidence can give the answer. Empty in results made
    /// before 2026-12-07.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_prompt: Vec<bool>,
}

/// EM (points) of both rows on the dev questions whose prompt shows an answer and on the
/// others.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvidenceSplit {
    /// Dev questions whose prompt shows a golden answer.
    pub shown: usize,
    /// Mean EM under `W_0^ret` on them, and of the bare backbone.
    pub em_shown: f64,
    pub em_bare_shown: f64,
    /// Mean EM under `W_0^ret` on the other questions.
    pub em_other: f64,
}

impl DevAnswers {
    /// Mean EM under `W_0^ret`, in points.
    pub fn em_points(&self) -> f64 {
        mean(&self.em) * 100.0
    }

    /// Mean EM of the bare backbone, in points.
    pub fn em_bare_points(&self) -> f64 {
        mean(&self.em_bare) * 100.0
    }

    /// EM on the questions whose prompt shows an answer and on the others; `None` where
    /// that was not measured.
    pub fn evidence_split(&self) -> Option<EvidenceSplit> {
        let n = self.em.len();
        if n == 0 || self.in_prompt.len() != n || self.em_bare.len() != n {
            return None;
        }
        let pick = |v: &[f64], shown: bool| -> Vec<f64> {
            v.iter()
                .zip(&self.in_prompt)
                .filter(|&(_, &s)| s == shown)
                .map(|(&x, _)| x)
                .collect()
        };
        Some(EvidenceSplit {
            shown: self.in_prompt.iter().filter(|&&s| s).count(),
            em_shown: mean(&pick(&self.em, true)) * 100.0,
            em_bare_shown: mean(&pick(&self.em_bare, true)) * 100.0,
            em_other: mean(&pick(&self.em, false)) * 100.0,
        })
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// What decoding the dev questions needs.
pub struct DevDecoder<'a> {
    pub model: &'a Llm,
    /// Answer ids to text (the tokenizer's decoding, trimmed).
    pub text: &'a dyn Fn(&[u32]) -> Result<String>,
    pub opts: GenerateOptions,
    /// Prompts decoded as one batch.
    pub batch: usize,
}

impl DevDecoder<'_> {
    /// Scores `w0` and the bare backbone on `dev` (`gold[i]`: the answers of `dev[i]`).
    pub fn score(
        &self,
        frozen: &FrozenStates,
        w0: &LoraAdapter,
        dev: &[Instance],
        gold: &[Vec<AnswerPattern>],
    ) -> Result<DevAnswers> {
        let mut out = DevAnswers::default();
        for (chunk, gold) in dev
            .chunks(self.batch.max(1))
            .zip(gold.chunks(self.batch.max(1)))
        {
            let prompts: Vec<Vec<u32>> = chunk.iter().map(|i| i.prompt.clone()).collect();
            let prefix = self.model.frozen_prefix_batch(&prompts, frozen.split())?;
            // rows 2p and 2p + 1: prompt p under W_0^ret, then bare
            let row_prompts: Vec<usize> = (0..prompts.len()).flat_map(|p| [p, p]).collect();
            let adapts: Vec<Adaptation<'_>> = (0..prompts.len())
                .flat_map(|_| [Adaptation::lora(w0), Adaptation::none()])
                .collect();
            let stack = RowDeltas::stack(&self.model.config, &adapts, self.model.device())?;
            let answers = self.model.generate_greedy_rows_of(
                &prefix,
                &row_prompts,
                &self.opts,
                &Adaptation::per_row(&stack),
            )?;
            for (pair, gold) in answers.chunks(2).zip(gold) {
                let adapted = score(&(self.text)(&pair[0])?, gold);
                let bare = score(&(self.text)(&pair[1])?, gold);
                out.em.push(adapted.em);
                out.f1.push(adapted.f1);
                out.em_bare.push(bare.em);
                out.f1_bare.push(bare.f1);
            }
        }
        Ok(out)
    }
}
