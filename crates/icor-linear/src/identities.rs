//! The exact identities of the theory, each checked on one seeded random case.
//!
//! Every check returns the largest error divided by the magnitude of the terms that produce it
//! (a bound on |result| that ignores cancellation, as faer's reconstruct-and-compare tests do),
//! and a tolerance of 16·ε·(number of accumulated terms). Both implementations being compared
//! are exact in real arithmetic, so an error above the tolerance is a bug, not noise.

use nalgebra::{DMatrix, DVector};
use ndarray::{Array1, Array2, ArrayView2, Axis, s};

use crate::appendix_b;
use crate::construction::{lemma1_layer, lemma1_two_heads};
use crate::error::Result;
use crate::gd::{GdStep, gd_step, gd_trajectory};
use crate::interface::{DotProductInterface, ProjectionInterface};
use crate::lsa::{LsaLayer, LsaStack};
use crate::multistep::{k_step_stack, read_prediction};
use crate::precondition::{preconditioned_layer, preconditioned_step};
use crate::predictor::LinearRag;
use crate::sample::{CaseSpec, Sampler};
use crate::step_size::max_curvature;
use crate::tokens::Tokens;

/// One identity of `proofs/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Identity {
    /// Lemma 1, projection interface: LSA update = GD prediction shift (Eq. 5–6).
    Lemma1Projection,
    /// Lemma 1, dot-product interface, shared encoder (M = W_eᵀW_e symmetric).
    Lemma1DotProductSymmetric,
    /// Lemma 1, dot-product interface, dual encoder (M general, non-square).
    Lemma1DotProductGeneral,
    /// App. B: Eq. 11 = Eq. 13 = Eq. 15 = Eq. 17 = Eq. 19 and the unified predictor.
    AppendixB,
    /// Eq. 7: K stacked layers = K GD steps (context y-slots and query prediction).
    KSteps,
    /// One preconditioned step ΔW = −η∇LΓ = the LSA layer with W_Q = diag(Γ, 0).
    Preconditioned,
    /// Lemma 1 split over two heads (one per retrieval slot) = the single-head layer.
    TwoHeads,
    /// Eq. 5: the layer leaves x₁, x₂ untouched and adds Δy to any y-slot content.
    YSlotOnly,
    /// η = 0 gives the identity map, bit for bit (one layer and a K-layer stack).
    EtaZero,
}

/// Named scalars and matrices of one case: inputs, constructed weights and both outputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// Scalars (η, N, …).
    pub scalars: Vec<(String, f64)>,
    /// Matrices, one token or one row per row.
    pub matrices: Vec<(String, Array2<f64>)>,
}

impl Record {
    fn scalar(&mut self, name: impl Into<String>, v: f64) {
        self.scalars.push((name.into(), v));
    }
    fn matrix(&mut self, name: impl Into<String>, m: impl Into<Array2<f64>>) {
        self.matrices.push((name.into(), m.into()));
    }
    fn layer(&mut self, prefix: &str, layer: &LsaLayer) {
        for (h, head) in layer.heads.iter().enumerate() {
            let tag = if layer.heads.len() == 1 {
                prefix.to_string()
            } else {
                format!("{prefix}head{h}.")
            };
            self.matrix(format!("{tag}W_K"), head.w_k.clone());
            self.matrix(format!("{tag}W_Q"), head.w_q.clone());
            self.matrix(format!("{tag}W_V"), head.w_v.clone());
            self.matrix(format!("{tag}P"), head.p.clone());
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// max |a − b| / magnitude of the terms.
    pub rel_err: f64,
    /// The tolerance this check allows (0 for bit-exact identities).
    pub tol: f64,
    /// Everything needed to re-check the case with another tool.
    pub record: Record,
}

impl Outcome {
    /// True when the error is within tolerance (NaN fails).
    pub fn passed(&self) -> bool {
        self.rel_err <= self.tol
    }
}

/// An identity checked on a range of seeded cases (`Identity::sweep`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sweep {
    /// The largest relative error over the cases.
    pub max_rel_err: f64,
    /// The first seed whose case missed its tolerance, if any.
    pub first_failure: Option<u64>,
}

/// 16·ε·n: the tolerance for a result accumulated from `n_terms` rounded terms.
pub fn tolerance(n_terms: usize) -> f64 {
    16.0 * f64::EPSILON * n_terms as f64
}

impl Identity {
    /// Every identity, in report order.
    pub const ALL: [Identity; 9] = [
        Identity::Lemma1Projection,
        Identity::Lemma1DotProductSymmetric,
        Identity::Lemma1DotProductGeneral,
        Identity::AppendixB,
        Identity::KSteps,
        Identity::Preconditioned,
        Identity::TwoHeads,
        Identity::YSlotOnly,
        Identity::EtaZero,
    ];

    /// Short name used by `icor verify`.
    pub fn name(self) -> &'static str {
        match self {
            Identity::Lemma1Projection => "lemma1-projection",
            Identity::Lemma1DotProductSymmetric => "lemma1-dot-product-symmetric",
            Identity::Lemma1DotProductGeneral => "lemma1-dot-product-general",
            Identity::AppendixB => "appendix-b-eq11-eq19",
            Identity::KSteps => "k-layers-k-steps",
            Identity::Preconditioned => "preconditioned-step",
            Identity::TwoHeads => "lemma1-two-heads",
            Identity::YSlotOnly => "y-slot-only",
            Identity::EtaZero => "eta-zero-identity",
        }
    }

    /// The proof file the identity checks.
    pub fn proof(self) -> &'static str {
        match self {
            Identity::Lemma1Projection
            | Identity::Lemma1DotProductSymmetric
            | Identity::Lemma1DotProductGeneral => "proofs/lemma1.md",
            Identity::TwoHeads | Identity::YSlotOnly => "proofs/lemma1.md",
            Identity::AppendixB => "proofs/appendix_b.md",
            Identity::KSteps | Identity::EtaZero => "proofs/k_steps.md",
            Identity::Preconditioned => "proofs/preconditioned.md",
        }
    }

    /// Runs the check on the cases `CaseSpec::from_seed(s)` for every `s` in `seeds`.
    pub fn sweep(self, seeds: std::ops::Range<u64>) -> Result<Sweep> {
        let mut out = Sweep {
            max_rel_err: 0.0,
            first_failure: None,
        };
        for seed in seeds {
            let o = self.check(&CaseSpec::from_seed(seed))?;
            out.max_rel_err = out.max_rel_err.max(o.rel_err);
            if !o.passed() && out.first_failure.is_none() {
                out.first_failure = Some(seed);
            }
        }
        Ok(out)
    }

    /// Runs the check on the case `spec`.
    pub fn check(self, spec: &CaseSpec) -> Result<Outcome> {
        let mut s = Sampler::new(spec.seed);
        match self {
            Identity::Lemma1Projection => lemma1(projection_problem(spec, &mut s)?, &mut s),
            Identity::Lemma1DotProductSymmetric => lemma1(dot_problem(spec, &mut s, true)?, &mut s),
            Identity::Lemma1DotProductGeneral => lemma1(dot_problem(spec, &mut s, false)?, &mut s),
            Identity::AppendixB => appendix_b_check(spec, &mut s),
            Identity::KSteps => {
                let p = match spec.seed % 3 {
                    0 => projection_problem(spec, &mut s)?,
                    1 => dot_problem(spec, &mut s, true)?,
                    _ => dot_problem(spec, &mut s, false)?,
                };
                k_steps(p, spec.steps, &mut s)
            }
            Identity::Preconditioned => preconditioned(generic_problem(spec, &mut s)?, &mut s),
            Identity::TwoHeads => two_heads(generic_problem(spec, &mut s)?, &mut s),
            Identity::YSlotOnly => y_slot_only(generic_problem(spec, &mut s)?, &mut s),
            Identity::EtaZero => eta_zero(generic_problem(spec, &mut s)?, spec.steps),
        }
    }
}

/// A random in-context problem: current weights, N context tokens and some query tokens.
struct Problem {
    model: LinearRag,
    context: Tokens,
    queries: Tokens,
    record: Record,
}

/// Splits `rows` of x₁, x₂ into N context tokens (with targets y) and query tokens (y = 0).
fn split(
    x1: ArrayView2<f64>,
    x2: ArrayView2<f64>,
    y: ArrayView2<f64>,
    n: usize,
) -> Result<(Tokens, Tokens)> {
    let ctx = Tokens::from_parts(x1.slice(s![..n, ..]), x2.slice(s![..n, ..]), y)?;
    let q = Tokens::queries(x1.slice(s![n.., ..]), x2.slice(s![n.., ..]), y.ncols())?;
    Ok((ctx, q))
}

fn init(s: &mut Sampler, spec: &CaseSpec, rows: usize, cols: usize) -> Array2<f64> {
    if spec.zero_init {
        Array2::zeros((rows, cols))
    } else {
        s.normal(rows, cols, 1.0)
    }
}

/// Projection interface: x₁ = x_q (d₁), x₂ = k concatenated documents of width 1..=3 each.
fn projection_problem(spec: &CaseSpec, s: &mut Sampler) -> Result<Problem> {
    let (n, m) = (spec.n, spec.n + spec.queries);
    let doc_width = 1 + (spec.d_doc - 1) % 3;
    let x_q = s.inputs(m, spec.d1, spec.badly_scaled);
    let docs = s
        .uniform(m, spec.docs * doc_width, 0.5)
        .into_shape_with_order((m, spec.docs, doc_width))
        .expect("sizes match");
    let features = ProjectionInterface::features(docs.view());
    let y = s.normal(n, spec.dy, 1.0);
    let w1 = init(s, spec, spec.dy, spec.d1);
    let w_d = s.normal(spec.d1, features.ncols(), 1.0 / (spec.d1 as f64).sqrt());
    let interface = ProjectionInterface::new(w1, w_d)?;
    let model = interface.predictor()?;
    let (context, queries) = split(x_q.view(), features.view(), y.view(), n)?;
    let mut record = Record::default();
    record.matrix("W1", interface.w1.clone());
    record.matrix("W_d", interface.w_d.clone());
    record.matrix("W2", model.w2.clone());
    Ok(Problem {
        model,
        context,
        queries,
        record,
    })
}

/// Dot-product interface: x₁ = x₂ = x_q, W₂ = W_z D Mᵀ; M = W_eᵀW_e or W_{e,q}ᵀW_{e,d}.
fn dot_problem(spec: &CaseSpec, s: &mut Sampler, symmetric: bool) -> Result<Problem> {
    let (d, e) = (spec.d1, spec.d2);
    let d_doc = if symmetric { d } else { spec.d_doc };
    let x_q = s.inputs(spec.n + spec.queries, d, spec.badly_scaled);
    let y = s.normal(spec.n, spec.dy, 1.0);
    let w_q = init(s, spec, spec.dy, d);
    let w_z = s.normal(spec.dy, d_doc, 0.1);
    let docs = s.uniform(spec.docs, d_doc, 0.5);
    let interface = if symmetric {
        let w_e = s.normal(e, d, 0.1);
        DotProductInterface::shared_encoder(w_q, w_z, w_e.view(), docs)?
    } else {
        let (w_eq, w_ed) = (s.normal(e, d, 0.1), s.normal(e, d_doc, 0.1));
        DotProductInterface::dual_encoder(w_q, w_z, w_eq.view(), w_ed.view(), docs)?
    };
    let model = interface.predictor()?;
    let (context, queries) = split(x_q.view(), x_q.view(), y.view(), spec.n)?;
    let mut record = Record::default();
    record.matrix("W_q", interface.w_q.clone());
    record.matrix("W_z", interface.w_z.clone());
    record.matrix("M", interface.m.clone());
    record.matrix("docs", interface.docs.clone());
    record.matrix("D", interface.second_moment());
    record.matrix("W2", model.w2.clone());
    Ok(Problem {
        model,
        context,
        queries,
        record,
    })
}

/// A generic layout (d₁, d₂, d_y) with arbitrary W₁, W₂.
fn generic_problem(spec: &CaseSpec, s: &mut Sampler) -> Result<Problem> {
    let m = spec.n + spec.queries;
    let x1 = s.inputs(m, spec.d1, spec.badly_scaled);
    let x2 = s.inputs(m, spec.d2, spec.badly_scaled);
    let y = s.normal(spec.n, spec.dy, 1.0);
    let model = LinearRag::new(
        init(s, spec, spec.dy, spec.d1),
        init(s, spec, spec.dy, spec.d2),
    )?;
    let (context, queries) = split(x1.view(), x2.view(), y.view(), spec.n)?;
    let mut record = Record::default();
    record.matrix("W1", model.w1.clone());
    record.matrix("W2", model.w2.clone());
    Ok(Problem {
        model,
        context,
        queries,
        record,
    })
}

fn row_norms(a: ArrayView2<f64>) -> Array1<f64> {
    a.map_axis(Axis(1), |r| r.dot(&r).sqrt())
}

/// Magnitude of (η/N) Σᵢ rᵢ (xⁱ)ᵀ G xʲ for each token j without cancellation:
/// (|η|/N) Σᵢ (w‖xⁱ‖ + ‖yⁱ‖) ‖xⁱ‖ · ‖G xʲ‖-bound, with `gx_norms[j]` ≥ ‖G xʲ‖.
fn shift_scale(w_norm: f64, context: &Tokens, eta: f64, gx_norms: &Array1<f64>) -> Array1<f64> {
    let xn = row_norms(context.x());
    let yn = row_norms(context.y());
    let sum: f64 = xn.iter().zip(&yn).map(|(x, y)| (w_norm * x + y) * x).sum();
    gx_norms * (eta.abs() * sum / context.len() as f64)
}

/// max over rows j and columns of |a − b| / scale_j; 0 for identical inputs, ∞ if a scale is 0 and they differ.
fn rel_err(a: ArrayView2<f64>, b: ArrayView2<f64>, scale: &Array1<f64>) -> f64 {
    let mut worst: f64 = 0.0;
    for ((ra, rb), &sc) in a.rows().into_iter().zip(b.rows()).zip(scale) {
        for (x, y) in ra.iter().zip(rb) {
            let d = (x - y).abs();
            if d.is_nan() {
                return f64::NAN;
            }
            if d > 0.0 {
                worst = worst.max(if sc > 0.0 { d / sc } else { f64::INFINITY });
            }
        }
    }
    worst
}

/// The query tokens a GD step predicts: x-slots unchanged, y-slot plus `shift` (for the dumps,
/// so that `lsa_output` and `gd_output` are both whole tokens).
fn shifted(tokens: &Tokens, shift: &Array2<f64>) -> Array2<f64> {
    let mut m = tokens.matrix().to_owned();
    let y = tokens.layout().y();
    let new_y = &m.slice(s![.., y.clone()]) + shift;
    m.slice_mut(s![.., y]).assign(&new_y);
    m
}

/// Records a one-layer case: η, N, the tokens, the layer's weights, the queries after the layer
/// and the queries as the GD `step` predicts them.
fn record_one_step(p: &mut Problem, eta: f64, layer: &LsaLayer, step: &GdStep) -> Result<()> {
    let (_, q_out) = layer.forward(&p.context, &p.queries)?;
    p.record.scalar("eta", eta);
    p.record.scalar("N", p.context.len() as f64);
    p.record.matrix("context", p.context.matrix().to_owned());
    p.record.matrix("queries", p.queries.matrix().to_owned());
    p.record.layer("", layer);
    p.record.matrix("lsa_output", q_out.into_matrix());
    p.record.matrix(
        "gd_output",
        shifted(&p.queries, &step.prediction_shift(&p.queries)?),
    );
    Ok(())
}

fn all_tokens(p: &Problem) -> Result<Tokens> {
    let m = ndarray::concatenate(Axis(0), &[p.context.matrix(), p.queries.matrix()])
        .expect("same width");
    Tokens::from_matrix(p.context.layout(), m)
}

/// Lemma 1 on every token (context and query): y-slot update of the layer = Δy of Eq. 4.
fn lemma1(mut p: Problem, s: &mut Sampler) -> Result<Outcome> {
    let (eta, n) = (s.eta(), p.context.len());
    let layer = lemma1_layer(&p.model, eta, n)?;
    let tokens = all_tokens(&p)?;
    let update = layer.update(&p.context, &tokens)?;
    let lsa = update.slice(s![.., p.model.layout().y()]);
    let step = gd_step(&p.model, &p.context, eta)?;
    let gd = step.prediction_shift(&tokens)?;
    let scale = shift_scale(p.model.norm(), &p.context, eta, &row_norms(tokens.x()));
    let rel = rel_err(lsa, gd.view(), &scale);
    record_one_step(&mut p, eta, &layer, &step)?;
    Ok(Outcome {
        rel_err: rel,
        tol: tolerance(n + tokens.layout().dim()),
        record: p.record,
    })
}

/// Eq. 7: the K-layer stack against K explicit GD steps.
fn k_steps(mut p: Problem, k: usize, s: &mut Sampler) -> Result<Outcome> {
    let n = p.context.len();
    let lambda = max_curvature(&p.context)?;
    let bound = if lambda > 0.0 { 2.0 / lambda } else { 1.0 };
    let etas: Vec<f64> = (0..k).map(|_| s.between(0.05, 0.95) * bound).collect();
    let stack = k_step_stack(&p.model, &etas, n)?;
    let (ctx_out, q_out) = stack.forward(&p.context, &p.queries)?;
    let path = gd_trajectory(&p.model, &p.context, &etas)?;
    let w_k = path.last().expect("trajectory has K + 1 points");
    // Context y-slots must hold yᵢ − (W⁽ᴷ⁾ − W⁽⁰⁾)xᵢ; the query read-out must be W⁽ᴷ⁾x_q.
    let drift = LinearRag {
        w1: &w_k.w1 - &p.model.w1,
        w2: &w_k.w2 - &p.model.w2,
    };
    let want_ctx = p.context.y().to_owned() - drift.predict(&p.context)?;
    let want_q = w_k.predict(&p.queries)?;
    let got_q = read_prediction(&p.model, &q_out)?;
    let w0 = p.model.norm();
    let mut scale_ctx = row_norms(p.context.y()) + &(row_norms(p.context.x()) * w0);
    let mut scale_q = row_norms(p.queries.x()) * w0;
    for (t, &eta) in etas.iter().enumerate() {
        let moved = w0
            + LinearRag {
                w1: &path[t].w1 - &p.model.w1,
                w2: &path[t].w2 - &p.model.w2,
            }
            .norm();
        scale_ctx += &shift_scale(moved, &p.context, eta, &row_norms(p.context.x()));
        scale_q += &shift_scale(moved, &p.context, eta, &row_norms(p.queries.x()));
    }
    let rel = rel_err(ctx_out.y(), want_ctx.view(), &scale_ctx).max(rel_err(
        got_q.view(),
        want_q.view(),
        &scale_q,
    ));
    p.record.scalar("N", n as f64);
    p.record.scalar("K", k as f64);
    for (t, eta) in etas.iter().enumerate() {
        p.record.scalar(format!("eta[{t}]"), *eta);
    }
    p.record.matrix("context", p.context.matrix().to_owned());
    p.record.matrix("queries", p.queries.matrix().to_owned());
    record_stack(&mut p.record, &stack);
    p.record.matrix("lsa_output", got_q);
    p.record.matrix("gd_output", want_q);
    Ok(Outcome {
        rel_err: rel,
        tol: tolerance(k * (n + p.context.layout().dim())),
        record: p.record,
    })
}

fn record_stack(record: &mut Record, stack: &LsaStack) {
    for (t, layer) in stack.layers.iter().enumerate() {
        if t == 0 {
            record.layer("", layer);
        } else {
            record.matrix(format!("layer{t}.P"), layer.heads[0].p.clone());
        }
    }
}

/// ΔW = −η∇LΓ against the layer with W_Q = diag(Γ, 0).
fn preconditioned(mut p: Problem, s: &mut Sampler) -> Result<Outcome> {
    let (eta, n, dx) = (s.eta(), p.context.len(), p.model.layout().dx());
    let a = s.normal(dx, dx, 1.0 / (dx as f64).sqrt());
    let gamma = if s.coin() { a.dot(&a.t()) } else { a }; // SPD or general
    let layer = preconditioned_layer(&p.model, eta, gamma.view(), n)?;
    let tokens = all_tokens(&p)?;
    let update = layer.update(&p.context, &tokens)?;
    let step = preconditioned_step(&p.model, &p.context, eta, gamma.view())?;
    let gd = step.prediction_shift(&tokens)?;
    let gamma_norm = gamma.iter().map(|v| v * v).sum::<f64>().sqrt();
    let scale = shift_scale(
        p.model.norm(),
        &p.context,
        eta,
        &(row_norms(tokens.x()) * gamma_norm),
    );
    let rel = rel_err(
        update.slice(s![.., p.model.layout().y()]),
        gd.view(),
        &scale,
    );
    p.record.matrix("Gamma", gamma);
    record_one_step(&mut p, eta, &layer, &step)?;
    Ok(Outcome {
        rel_err: rel,
        tol: tolerance(n + dx * dx + p.model.layout().dim()),
        record: p.record,
    })
}

/// Two heads (x₁ inner products, x₂ inner products) against the single-head layer.
fn two_heads(mut p: Problem, s: &mut Sampler) -> Result<Outcome> {
    let (eta, n) = (s.eta(), p.context.len());
    let one = lemma1_layer(&p.model, eta, n)?;
    let two = lemma1_two_heads(&p.model, eta, n)?;
    let tokens = all_tokens(&p)?;
    let (a, b) = (
        one.update(&p.context, &tokens)?,
        two.update(&p.context, &tokens)?,
    );
    let scale = shift_scale(p.model.norm(), &p.context, eta, &row_norms(tokens.x()));
    let rel = rel_err(a.view(), b.view(), &scale);
    p.record.scalar("eta", eta);
    p.record.matrix("context", p.context.matrix().to_owned());
    p.record.matrix("queries", p.queries.matrix().to_owned());
    p.record.layer("", &two);
    p.record.matrix("lsa_output", b);
    p.record.matrix("gd_output", a);
    Ok(Outcome {
        rel_err: rel,
        tol: tolerance(n + tokens.layout().dim()),
        record: p.record,
    })
}

/// Eq. 5 with query y-slots that are not zero: x-slots bit-identical, y-slot = y + Δy.
fn y_slot_only(mut p: Problem, s: &mut Sampler) -> Result<Outcome> {
    let (eta, n, l) = (s.eta(), p.context.len(), p.model.layout());
    let mut q = p.queries.clone().into_matrix();
    let y_q = s.normal(q.nrows(), l.dy, 1.0);
    q.slice_mut(s![.., l.y()]).assign(&y_q);
    let queries = Tokens::from_matrix(l, q)?;
    let layer = lemma1_layer(&p.model, eta, n)?;
    let (_, out) = layer.forward(&p.context, &queries)?;
    let x_changed = out.x() != queries.x();
    let want =
        queries.y().to_owned() + gd_step(&p.model, &p.context, eta)?.prediction_shift(&queries)?;
    let scale = shift_scale(p.model.norm(), &p.context, eta, &row_norms(queries.x()))
        + row_norms(queries.y());
    let rel = if x_changed {
        f64::INFINITY
    } else {
        rel_err(out.y(), want.view(), &scale)
    };
    p.record.scalar("eta", eta);
    p.record.matrix("context", p.context.matrix().to_owned());
    p.record.matrix("queries", queries.matrix().to_owned());
    p.record.layer("", &layer);
    p.record.matrix("lsa_output", out.into_matrix());
    p.record
        .matrix("gd_output", shifted(&queries, &(want - queries.y())));
    Ok(Outcome {
        rel_err: rel,
        tol: tolerance(n + l.dim()),
        record: p.record,
    })
}

/// η = 0: one layer and a K-layer stack return their input unchanged, bit for bit.
fn eta_zero(mut p: Problem, k: usize) -> Result<Outcome> {
    let n = p.context.len();
    let (c1, q1) = lemma1_layer(&p.model, 0.0, n)?.forward(&p.context, &p.queries)?;
    let stack = k_step_stack(&p.model, &vec![0.0; k], n)?;
    let (ck, qk) = stack.forward(&p.context, &p.queries)?;
    let max_diff = |a: ArrayView2<f64>, b: ArrayView2<f64>| {
        a.iter()
            .zip(b)
            .map(|(x, y)| {
                if x == y {
                    0.0
                } else {
                    (x - y).abs().max(f64::MIN_POSITIVE)
                }
            })
            .fold(0.0, f64::max)
    };
    let rel = [
        max_diff(c1.matrix(), p.context.matrix()),
        max_diff(q1.matrix(), p.queries.matrix()),
        max_diff(ck.matrix(), p.context.matrix()),
        max_diff(qk.matrix(), p.queries.matrix()),
    ]
    .into_iter()
    .fold(0.0, f64::max);
    p.record.scalar("eta", 0.0);
    p.record.scalar("K", k as f64);
    p.record.matrix("context", p.context.matrix().to_owned());
    p.record.matrix("queries", p.queries.matrix().to_owned());
    p.record.matrix("lsa_output", qk.into_matrix());
    p.record.matrix("gd_output", p.queries.matrix().to_owned());
    Ok(Outcome {
        rel_err: rel,
        tol: 0.0,
        record: p.record,
    })
}

fn to_na(a: ArrayView2<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

/// App. B: every line of the derivation (nalgebra) and both ndarray evaluations agree.
fn appendix_b_check(spec: &CaseSpec, s: &mut Sampler) -> Result<Outcome> {
    let symmetric = spec.seed % 2 == 0;
    let (d, e) = (spec.d1, spec.d2);
    let d_doc = if symmetric { d } else { spec.d_doc };
    let x_q = s.inputs(spec.queries, d, spec.badly_scaled);
    let w_q = s.normal(spec.dy, d, 1.0);
    let w_z = s.normal(spec.dy, d_doc, 0.1);
    let docs = s.uniform(spec.docs, d_doc, 0.5);
    let w_e = s.normal(e, d, 0.1);
    let w_ed = if symmetric {
        w_e.clone()
    } else {
        s.normal(e, d_doc, 0.1)
    };
    let iface = DotProductInterface::dual_encoder(
        w_q.clone(),
        w_z.clone(),
        w_e.view(),
        w_ed.view(),
        docs.clone(),
    )?;
    let unified = iface.predictor()?;
    let (nq, nz, nm) = (to_na(w_q.view()), to_na(w_z.view()), to_na(iface.m.view()));
    let nd: Vec<DVector<f64>> = docs
        .rows()
        .into_iter()
        .map(|r| DVector::from_iterator(d_doc, r.iter().copied()))
        .collect();
    let ne = to_na(w_e.view());
    let norm = |a: &Array2<f64>| a.iter().map(|v| v * v).sum::<f64>().sqrt();
    let doc_mass: f64 = docs.rows().into_iter().map(|r| r.dot(&r)).sum();
    let m_norm = if symmetric {
        norm(&w_e).powi(2)
    } else {
        norm(&w_e) * norm(&w_ed)
    };
    let mut worst: f64 = 0.0;
    let mut lines = Array2::zeros((spec.queries, spec.dy));
    for (j, x) in x_q.rows().into_iter().enumerate() {
        let nx = DVector::from_iterator(d, x.iter().copied());
        let reference = appendix_b::eq13_scores(&nq, &nz, &nm, &nd, &nx);
        let mut forms = vec![
            appendix_b::eq15_outer_products(&nq, &nz, &nm, &nd, &nx),
            appendix_b::eq17_second_moment(&nq, &nz, &nm, &nd, &nx),
            appendix_b::eq19_collapsed(&nq, &nz, &nm, &nd, &nx),
            DVector::from_vec(iface.predict_retrieval(x)?.to_vec()),
            DVector::from_vec(
                unified
                    .predict(&DotProductInterface::tokens(
                        x.insert_axis(Axis(0)),
                        Array2::zeros((1, spec.dy)).view(),
                    )?)?
                    .row(0)
                    .to_vec(),
            ),
        ];
        if symmetric {
            forms.push(appendix_b::eq11_shared_encoder(&nq, &nz, &ne, &nd, &nx));
        }
        let xn = x.dot(&x).sqrt();
        let scale = norm(&w_q) * xn + norm(&w_z) * m_norm * xn * doc_mass;
        for f in &forms {
            let d = (f - &reference).amax();
            worst = worst.max(if d == 0.0 {
                0.0
            } else if scale > 0.0 {
                d / scale
            } else {
                f64::INFINITY
            });
        }
        lines
            .row_mut(j)
            .assign(&Array1::from_vec(reference.iter().copied().collect()));
    }
    let mut record = Record::default();
    record.scalar("symmetric", if symmetric { 1.0 } else { 0.0 });
    record.matrix("x_q", x_q);
    record.matrix("W_q", w_q);
    record.matrix("W_z", w_z);
    record.matrix("W_e_query", w_e);
    record.matrix("W_e_doc", w_ed);
    record.matrix("M", iface.m.clone());
    record.matrix("docs", docs);
    record.matrix("D", iface.second_moment());
    record.matrix("eq13_output", lines);
    record.matrix("eq19_W", unified.joint());
    Ok(Outcome {
        rel_err: worst,
        tol: tolerance(d + d_doc + e + spec.docs),
        record,
    })
}
