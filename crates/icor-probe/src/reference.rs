//! The constructed GD predictor (Eq. 4, Eq. 7) and its step size.
//!
//! Two implementations of the same predictor: [`gd_forward`] in burn tensors (so that its input
//! sensitivities come from autodiff like the trained models') and [`gd_predictions`] in f64 for
//! the step-size search over ≥ 10⁴ tasks. `icor-linear` proves that the LSA construction equals
//! this predictor; the tests here check the burn LSA with constructed weights against it.

use burn::tensor::Tensor;
use icor_linear::step_size::{OneStepQuery, optimal_one_step_eta};
use ndarray::Array1;

use crate::model::Input;
use crate::task::{Batch, Readout};

/// K steps of (optionally diagonally preconditioned) GD from each task's w0 on its N context
/// tokens, then the read-out at the query; `[B]`.
pub fn gd_forward(
    input: &Input,
    eta: Tensor<1>,
    gamma: Option<Tensor<2>>,
    steps: usize,
    readout: Readout,
) -> Tensor<1> {
    let [b, t, d] = input.tokens.dims();
    let (n, dx) = (t - 1, d - 1);
    let x = input.tokens.clone().slice([0..b, 0..n, 0..dx]);
    let y = input
        .tokens
        .clone()
        .slice([0..b, 0..n, dx..d])
        .reshape([b, n]);
    let xq = input
        .tokens
        .clone()
        .slice([0..b, n..t, 0..dx])
        .reshape([b, dx]);
    let eta = eta.reshape([1, 1]);
    let mut w = input.w0.clone();
    for _ in 0..steps {
        let r = x
            .clone()
            .matmul(w.clone().reshape([b, dx, 1]))
            .reshape([b, n])
            - y.clone();
        let mut grad = r.reshape([b, 1, n]).matmul(x.clone()).reshape([b, dx]) / n as f64; // ∇L, Eq. 4
        if let Some(g) = &gamma {
            grad = grad * g.clone(); // ΔW = −η ∇L Γ, Γ = diag(γ)
        }
        w = w - grad * eta.clone();
    }
    let w = match readout {
        Readout::WithBase => w,
        Readout::ShiftOnly => w - input.w0.clone(),
    };
    (w * xq).sum_dim(1).reshape([b])
}

/// The same predictor in f64, one value per task of `batch`.
pub fn gd_predictions(batch: &Batch, eta: f64, steps: usize, readout: Readout) -> Vec<f64> {
    let (n, dx, d, t) = (batch.n(), batch.dx(), batch.d, batch.t);
    (0..batch.b)
        .map(|task| {
            let tok = &batch.tokens[task * t * d..(task + 1) * t * d];
            let w0: Vec<f64> = batch.w0[task * dx..(task + 1) * dx]
                .iter()
                .map(|&v| v as f64)
                .collect();
            let mut w = w0.clone();
            for _ in 0..steps {
                let mut grad = vec![0.0; dx];
                for i in 0..n {
                    let row = &tok[i * d..(i + 1) * d];
                    let r: f64 = row[..dx]
                        .iter()
                        .zip(&w)
                        .map(|(a, b)| *a as f64 * b)
                        .sum::<f64>()
                        - row[dx] as f64;
                    for (g, a) in grad.iter_mut().zip(&row[..dx]) {
                        *g += r * *a as f64 / n as f64;
                    }
                }
                for (wi, g) in w.iter_mut().zip(&grad) {
                    *wi -= eta * g;
                }
            }
            let q = &tok[n * d..n * d + dx];
            let base = if readout == Readout::ShiftOnly {
                &w0[..]
            } else {
                &vec![0.0; dx][..]
            };
            q.iter()
                .zip(&w)
                .zip(base)
                .map(|((x, w), b)| *x as f64 * (w - b))
                .sum()
        })
        .collect()
}

/// Half mean squared error, the authors' loss: ½·mean (ŷ − y)².
pub fn half_mse(preds: &[f64], targets: &[f32]) -> f64 {
    preds
        .iter()
        .zip(targets)
        .map(|(p, y)| (p - *y as f64).powi(2))
        .sum::<f64>()
        / (2.0 * preds.len().max(1) as f64)
}

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
    let loss = |eta: f64| half_mse(&gd_predictions(batch, eta, steps, readout), &batch.targets);
    let grid_eta = (grid || steps > 1).then(|| {
        authors_grid()
            .min_by(|a, b| loss(*a).total_cmp(&loss(*b)))
            .unwrap_or(0.001)
    });
    let eta = if steps == 1 {
        let base = gd_predictions(batch, 0.0, 1, readout);
        let unit = gd_predictions(batch, 1.0, 1, readout);
        let qs: Vec<OneStepQuery> = (0..batch.b)
            .map(|i| OneStepQuery {
                base: Array1::from_elem(1, base[i]),
                unit_shift: Array1::from_elem(1, unit[i] - base[i]),
                target: Array1::from_elem(1, batch.targets[i] as f64),
            })
            .collect();
        optimal_one_step_eta(&qs).unwrap_or(0.0)
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
