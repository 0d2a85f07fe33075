//! The constructed GD predictor (Eq. 4, Eq. 7) and its step size.
//!
//! Two implementations of the same predictor: [`gd_forward`] in burn tensors (so that its input
//! sensitivities come from autodiff like the trained models') and [`gd_predictions`] in f64 for
//! checking the fast form the step-size search uses ([`polynomial`]: each task's prediction as
//! a polynomial in η, [`step_size`]: the search over ≥ 10⁴ tasks). `icor-linear` proves that the LSA construction equals
//! this predictor; the tests here check the burn LSA with constructed weights against it.

pub mod polynomial;
pub mod step_size;

pub use polynomial::GdPolynomials;
pub use step_size::{StepSize, authors_grid, fit_eta};

use burn::tensor::Tensor;

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
