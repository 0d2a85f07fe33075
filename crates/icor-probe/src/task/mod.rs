//! In-context regression tasks built from the unified RAG view (§4.1, App. C).
//!
//! A batch holds B tasks; each task is N context tokens (x, y) followed by one query token
//! (x_q, 0), laid out as a `[B, N+1, D]` tensor with D = d_x + 1 (scalar targets, as in the
//! paper). Two protocols are offered:
//! - [`authors`]: exactly what the authors' public code does (§3.2b of the paper notes);
//! - [`stated`]: the paper's formulas taken literally, for both retrieval interfaces.

pub mod authors;
pub mod retrieved;
pub mod stated;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use authors::Authors;
pub use retrieved::Retrieved;
pub use stated::{DotProduct, Projection};

/// B sampled tasks, row-major f32, ready to become tensors.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Tasks in the batch.
    pub b: usize,
    /// Tokens per task: N context tokens plus the query.
    pub t: usize,
    /// Token width d_x + 1.
    pub d: usize,
    /// `[b, t, d]`: context tokens (x, y), query token (x_q, 0) last.
    pub tokens: Vec<f32>,
    /// `[b]`: the query's true y.
    pub targets: Vec<f32>,
    /// `[b, d_x]`: the GD reference's initial weights W⁽⁰⁾ per task (0 where it starts at zero).
    pub w0: Vec<f32>,
    /// Extra key/value tokens per task (`[b, m, d]`, m of them), e.g. document tokens h_d.
    pub extra_kv: Option<(Vec<f32>, usize)>,
}

impl Batch {
    /// Context size N.
    pub fn n(&self) -> usize {
        self.t - 1
    }
    /// Input width d_x.
    pub fn dx(&self) -> usize {
        self.d - 1
    }
}

/// The authors' key/value mixing: in the trained model, columns `cols` of every context
/// token's key and value inputs become `keep`·x + (1 − keep)·`doc` (App. C code, §3.2b).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvMix {
    /// First mixed column.
    pub start: usize,
    /// The fixed document vector doc_weight, one value per mixed column.
    pub doc: Vec<f32>,
    /// Weight of the original input (0.1 in the authors' code).
    pub keep: f32,
}

/// How the GD reference reads its prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Readout {
    /// ŷ = W⁽ᴷ⁾x_q: the full predictor after K steps (the paper's Eq. 7).
    WithBase,
    /// ŷ = (W⁽ᴷ⁾ − W⁽⁰⁾)x_q: the authors' code leaves out the base term W⁽⁰⁾x_q.
    ShiftOnly,
}

/// Any task family of the study.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "snake_case")]
pub enum Task {
    /// The authors' dot-product setting.
    Authors(Authors),
    /// As stated, projection interface.
    Projection(Projection),
    /// As stated, dot-product interface.
    DotProduct(DotProduct),
    /// Dot-product retrieval from a table (§4.3); built from data, not stored in results.
    #[serde(skip)]
    Retrieved(Retrieved),
}

impl Task {
    /// Draws `b` tasks with inputs x ~ U(−α, α).
    pub fn sample(&self, rng: &mut ChaCha8Rng, b: usize, alpha: f64) -> Batch {
        match self {
            Task::Authors(t) => t.sample(rng, b, alpha),
            Task::Projection(t) => t.sample(rng, b, alpha),
            Task::DotProduct(t) => t.sample(rng, b, alpha),
            Task::Retrieved(t) => t.sample(rng, b), // real inputs: no range to set
        }
    }

    /// The input range the models are trained on (α of x ~ U(−α, α)).
    pub fn train_alpha(&self) -> f64 {
        match self {
            Task::Authors(_) => 0.5,
            _ => 1.0,
        }
    }

    /// Key/value mixing applied by the trained models (authors' protocol only).
    pub fn kv_mix(&self) -> Option<KvMix> {
        match self {
            Task::Authors(t) => Some(t.kv_mix()),
            _ => None,
        }
    }

    /// How the GD reference reads out.
    pub fn readout(&self) -> Readout {
        match self {
            Task::Authors(_) => Readout::ShiftOnly,
            _ => Readout::WithBase,
        }
    }

    /// Short label for reports.
    pub fn label(&self) -> String {
        match self {
            Task::Authors(t) => format!("authors, dot-product, {} docs", t.docs),
            Task::Projection(t) => format!("as stated, projection, {} docs", t.docs),
            Task::DotProduct(t) => format!("as stated, dot-product, {} docs", t.docs),
            Task::Retrieved(t) => format!(
                "{}, {} input, {} retrieved rows",
                t.name(),
                t.norm().name(),
                t.n()
            ),
        }
    }
}

/// A deterministic RNG for a named stream of a run: the same (seed, stream) gives the same draws.
pub fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// Fisher–Yates shuffle in place.
pub(crate) fn shuffle<T>(v: &mut [T], rng: &mut ChaCha8Rng) {
    use rand::Rng;
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

/// Fills `n` values i.i.d. U(−a, a).
pub(crate) fn uniform(rng: &mut ChaCha8Rng, n: usize, a: f64) -> Vec<f64> {
    use rand::Rng;
    (0..n)
        .map(|_| {
            if a > 0.0 {
                rng.random_range(-a..=a)
            } else {
                0.0
            }
        })
        .collect()
}

/// Fills `n` values i.i.d. N(0, σ²).
pub(crate) fn normal(rng: &mut ChaCha8Rng, n: usize, sigma: f64) -> Vec<f64> {
    use rand_distr::{Distribution, Normal};
    let d = Normal::new(0.0, sigma).expect("σ is a positive constant");
    (0..n).map(|_| d.sample(rng)).collect()
}

/// Appends one task: N context tokens (x, w·x) and the query (x_q, 0), whose w·x_q goes to
/// `targets`; `draw_x` draws each token's input in turn.
pub(crate) fn push_task(
    rng: &mut ChaCha8Rng,
    w: &[f64],
    n: usize,
    tokens: &mut Vec<f32>,
    targets: &mut Vec<f32>,
    draw_x: &dyn Fn(&mut ChaCha8Rng) -> Vec<f64>,
) {
    for i in 0..=n {
        let x = draw_x(rng);
        let y = dot(w, &x);
        tokens.extend(x.iter().map(|&v| v as f32));
        tokens.push(if i < n { y as f32 } else { 0.0 });
        if i == n {
            targets.push(y as f32);
        }
    }
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
