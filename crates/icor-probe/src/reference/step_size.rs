//! The reference's step size η: the closed-form minimiser for one step, the authors' grid and a
//! golden-section refinement for K > 1, all on the polynomial form of [`super::polynomial`].

use icor_linear::step_size::{OneStepQuery, optimal_one_step_eta};
use ndarray::Array1;

use super::polynomial::GdPolynomials;
use crate::task::{Batch, Readout};

/// The authors' step-size grid: 0.001, 0.101, …, 24.901.
pub fn authors_grid() -> impl Iterator<Item = f64> {
    (0..250).map(|i| 0.001 + 0.1 * i as f64)
}

/// The chosen step size and how it was found.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct StepSize {
    /// η used by the reference.
    pub eta: f64,
    /// The best point of the authors' grid, where it was scanned.
    pub grid_eta: Option<f64>,
    /// Half-MSE of the reference on the fitting tasks at η.
    pub loss: f64,
}

/// Chooses η minimising the half-MSE of K-step GD on `batch`. K = 1: the exact minimiser of the
/// quadratic (closed form, `icor_linear::step_size`); K > 1: the authors' grid, refined by
/// golden-section search within one grid step. With `grid` (or K > 1) the authors' grid scan is
/// run too and its best point reported; otherwise `grid_eta` is None.
pub fn fit_eta(batch: &Batch, steps: usize, readout: Readout, grid: bool) -> StepSize {
    let poly = GdPolynomials::new(batch, steps, readout);
    let loss = |eta: f64| poly.half_mse(eta);
    let grid_eta = (grid || steps > 1).then(|| grid_argmin(&loss));
    let eta = if steps == 1 {
        one_step_eta(&poly)
    } else {
        let g = grid_eta.unwrap_or(0.001);
        golden(&loss, (g - 0.1).max(0.0), g + 0.1, 40)
    };
    StepSize {
        eta,
        grid_eta,
        loss: loss(eta),
    }
}

/// The authors' grid point of least loss, each point evaluated once; the first on a tie.
fn grid_argmin(loss: &dyn Fn(f64) -> f64) -> f64 {
    authors_grid()
        .map(|eta| (eta, loss(eta)))
        .reduce(|best, next| {
            if next.1.total_cmp(&best.1).is_lt() {
                next
            } else {
                best
            }
        })
        .map_or(0.001, |(eta, _)| eta)
}

/// K = 1: ŷ(η) = c₀ + η·c₁ is linear in η, so the half-MSE is a quadratic whose minimiser
/// `icor_linear::step_size` gives in closed form.
fn one_step_eta(poly: &GdPolynomials) -> f64 {
    let qs: Vec<OneStepQuery> = poly
        .targets()
        .iter()
        .enumerate()
        .map(|(i, &y)| {
            let c = poly.coefficients(i);
            OneStepQuery {
                base: Array1::from_elem(1, c[0]),
                unit_shift: Array1::from_elem(1, c[1]),
                target: Array1::from_elem(1, y),
            }
        })
        .collect();
    optimal_one_step_eta(&qs).unwrap_or(0.0)
}

/// Golden-section minimisation of a unimodal `f` on [lo, hi].
fn golden(f: &dyn Fn(f64) -> f64, mut lo: f64, mut hi: f64, iters: usize) -> f64 {
    let r = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (hi - r * (hi - lo), lo + r * (hi - lo));
    let (mut fa, mut fb) = (f(a), f(b));
    for _ in 0..iters {
        if fa < fb {
            hi = b;
            (b, fb) = (a, fa);
            a = hi - r * (hi - lo);
            fa = f(a);
        } else {
            lo = a;
            (a, fa) = (b, fb);
            b = lo + r * (hi - lo);
            fb = f(b);
        }
    }
    (lo + hi) / 2.0
}
