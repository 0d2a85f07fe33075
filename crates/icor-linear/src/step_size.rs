//! Step sizes: the stability bound of GD on Eq. 3, exact line search on one context, and the
//! closed-form step that minimises the one-step query loss over many tasks (the "line search
//! over 10⁴ tasks" of App. C.1, without a grid).

use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::{Array1, ArrayView1};

use crate::error::{Error, Result};
use crate::gd::gradient;
use crate::predictor::LinearRag;
use crate::tokens::Tokens;

/// λ_max of the input second moment Σ = (1/N) Σᵢ xⁱ(xⁱ)ᵀ, with x = (x₁, x₂).
/// Plain GD on Eq. 3 contracts every residual direction iff 0 < η < 2/λ_max.
pub fn max_curvature(context: &Tokens) -> Result<f64> {
    context.require_nonempty("max_curvature")?;
    let x = context.x();
    let sigma = x.t().dot(&x) / context.len() as f64;
    let dx = sigma.nrows();
    let m = DMatrix::from_iterator(dx, dx, sigma.t().iter().copied());
    let eig = SymmetricEigen::try_new(m, f64::EPSILON, 10_000).ok_or(Error::Numerical {
        what: "max_curvature",
        reason: "symmetric eigen-decomposition of the input second moment did not converge".into(),
    })?;
    Ok(eig.eigenvalues.iter().copied().fold(0.0_f64, f64::max))
}

/// The stability bound 2/λ_max of plain GD on Eq. 3 (∞ when every input is zero).
pub fn stable_step_bound(context: &Tokens) -> Result<f64> {
    let l = max_curvature(context)?;
    Ok(if l > 0.0 { 2.0 / l } else { f64::INFINITY })
}

/// Exact line search along −∇L on the context: the η minimising L(W − η∇L), a quadratic in η,
/// η* = Σᵢ rᵢ·(G xⁱ) / Σᵢ ‖G xⁱ‖². Returns 0 when the gradient vanishes.
pub fn exact_line_search(model: &LinearRag, context: &Tokens) -> Result<f64> {
    let r = model.residuals(context)?;
    let g = gradient(model, context)?.joint();
    let gx = context.x().dot(&g.t()); // rows G xⁱ
    let num: f64 = (&r * &gx).sum();
    let den: f64 = gx.iter().map(|v| v * v).sum();
    Ok(if den > 0.0 { num / den } else { 0.0 })
}

/// One query of one task for the step-size fit: the prediction before the step (W⁽⁰⁾x_q),
/// the shift that one step of unit size would add (Δy at η = 1), and the target.
#[derive(Debug, Clone, PartialEq)]
pub struct OneStepQuery {
    /// W⁽⁰⁾ x_q.
    pub base: Array1<f64>,
    /// Δy(η = 1); the shift is linear in η (Eq. 4).
    pub unit_shift: Array1<f64>,
    /// The query's true y.
    pub target: Array1<f64>,
}

/// Half mean squared error over the queries after one step of size η: (1/2T) Σ ‖base + η u − y‖².
pub fn one_step_loss(queries: &[OneStepQuery], eta: f64) -> f64 {
    let t = queries.len().max(1) as f64;
    queries
        .iter()
        .map(|q| residual(q.base.view(), q.unit_shift.view(), q.target.view(), eta))
        .sum::<f64>()
        / (2.0 * t)
}

fn residual(base: ArrayView1<f64>, u: ArrayView1<f64>, y: ArrayView1<f64>, eta: f64) -> f64 {
    base.iter()
        .zip(u)
        .zip(y)
        .map(|((b, u), y)| (b + eta * u - y).powi(2))
        .sum()
}

/// The η minimising [`one_step_loss`]: the loss is a quadratic in η, so
/// η* = −Σ (base − y)·u / Σ ‖u‖². Errors when every unit shift is zero.
pub fn optimal_one_step_eta(queries: &[OneStepQuery]) -> Result<f64> {
    let (mut num, mut den) = (0.0, 0.0);
    for q in queries {
        num -= (&q.base - &q.target).dot(&q.unit_shift);
        den += q.unit_shift.dot(&q.unit_shift);
    }
    if den > 0.0 {
        Ok(num / den)
    } else {
        Err(Error::Numerical {
            what: "optimal_one_step_eta",
            reason: "every unit shift is zero: the loss does not depend on η".into(),
        })
    }
}

/// The authors' brute-force scan: the grid point of `grid` with the smallest [`one_step_loss`].
pub fn grid_search_eta(
    queries: &[OneStepQuery],
    grid: impl IntoIterator<Item = f64>,
) -> Option<f64> {
    grid.into_iter()
        .map(|eta| (eta, one_step_loss(queries, eta)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(eta, _)| eta)
}
