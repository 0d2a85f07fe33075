//! One context's measurements as stored (`contexts/<i>.json` in the run folder, small enough
//! to commit): every effect's summary and every compared pair, keyed by name.
//!
//! Effect names: `icl/right`, `icl/reordered` (demonstrations in reverse order),
//! `icl/shuffled` (answers deranged), `icl/other` (the partner context's demonstrations),
//! `icl/specific` (`icl/right − icl/other`); `gd/<interface>/<η>/<kind>` with kind `right`,
//! `shuffled`, `other`, `random` (equal per-matrix norms), `random-scaled` (rescaled to move
//! the first-answer log-probabilities as far as `right`) and `specific` (`right − other`);
//! `<η>` is `1e-2` after one step and `1e-2x3` after three (K > 1 keeps every step).
//! Pair names: `<a> | <b>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::effect::EffectSummary;
use super::pair::PairMetrics;

/// Token counts of the context's sequences.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tokens {
    /// `P Q a`.
    pub query_alone: usize,
    /// `P D₁ … D_N Q a`.
    pub in_context: usize,
    /// Summed over the gradient step's examples `P Dᵢ`.
    pub examples: usize,
    /// The gold answer's tokens (end of turn included).
    pub answer: usize,
}

/// Everything measured on one context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextRecord {
    pub index: usize,
    pub partner: usize,
    /// `set:id` of the query and of each demonstration.
    pub query: String,
    pub demos: Vec<String>,
    pub tokens: Tokens,
    /// The demonstrations' mean answer loss before each step, per demonstration set
    /// (`right`, `shuffled`, `other`) and interface/η for K > 1.
    pub losses: BTreeMap<String, Vec<f32>>,
    /// `‖ΔW_GD‖_F` of each update, by effect name.
    pub update_norms: BTreeMap<String, f64>,
    /// Scale applied to the equal-norm random update to move the output as far as the step.
    pub random_scale: BTreeMap<String, f64>,
    pub effects: BTreeMap<String, EffectSummary>,
    pub pairs: BTreeMap<String, PairMetrics>,
    pub seconds: f64,
}

/// The name of the pair `a` against `b`.
pub fn pair_key(a: &str, b: &str) -> String {
    format!("{a} | {b}")
}

/// One point of an interface's schedule: K steps of size η.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub eta: f64,
    pub k: usize,
}

impl Point {
    /// As written in names: `1e-2` for one step, `1e-2x3` for three.
    pub fn label(&self) -> String {
        if self.k == 1 {
            format!("{:e}", self.eta)
        } else {
            format!("{:e}x{}", self.eta, self.k)
        }
    }
}

/// The name of an update's effect.
pub fn gd_key(interface: &str, p: Point, kind: &str) -> String {
    format!("gd/{interface}/{}/{kind}", p.label())
}
