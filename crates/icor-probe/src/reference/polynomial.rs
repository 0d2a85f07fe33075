//! K steps of GD written as a polynomial in the step size η, one per task.
//!
//! The step-size search evaluates the reference at hundreds of η (the authors' grid, then a
//! golden-section refinement) on ≥ 10⁴ tasks. Descending afresh costs O(K·N·d_x) per task and
//! η; the polynomial costs O(K²·N·d_x) once per task and O(K) per η after that.
//!
//! Eq. 4 with the affine gradient g(w) = A·w − b, A = XᵀX/N, b = Xᵀy/N:
//! w⁽ᵏ⁾ = w⁽ᵏ⁻¹⁾ − η·g(w⁽ᵏ⁻¹⁾). Writing w⁽ᵏ⁾ = Σⱼ ηʲ·v⁽ᵏ⁾ⱼ (j = 0…k),
//!
//! - v⁽ᵏ⁾₀ = w⁽⁰⁾,
//! - v⁽ᵏ⁾₁ = v⁽ᵏ⁻¹⁾₁ − g(w⁽⁰⁾)  (v⁽ᵏ⁻¹⁾₁ = 0 for k = 1),
//! - v⁽ᵏ⁾ⱼ = v⁽ᵏ⁻¹⁾ⱼ − A·v⁽ᵏ⁻¹⁾ⱼ₋₁ for j ≥ 2,
//!
//! and the read-out ŷ(η) = x_q·(w⁽ᴷ⁾ − base) = Σⱼ ηʲ·cⱼ with cⱼ = x_q·v⁽ᴷ⁾ⱼ (base = w⁽⁰⁾ for
//! [`Readout::ShiftOnly`], removed from c₀). The identity is exact algebra; the test below holds
//! it against [`super::gd_predictions`], the direct descent, in f64.

use crate::task::{Batch, Readout};

/// The K-step GD read-out of every task of a batch as a polynomial in η, with the targets.
#[derive(Debug, Clone)]
pub struct GdPolynomials {
    /// K + 1 coefficients per task.
    width: usize,
    /// `[b, K + 1]`: c₀ … c_K of each task, lowest degree first.
    coefficients: Vec<f64>,
    /// `[b]`: the query's true y.
    targets: Vec<f64>,
}

impl GdPolynomials {
    /// The polynomials of `steps` GD steps from each task's w⁽⁰⁾ on its context tokens.
    pub fn new(batch: &Batch, steps: usize, readout: Readout) -> Self {
        let coefficients = (0..batch.b)
            .flat_map(|task| task_coefficients(batch, task, steps, readout))
            .collect();
        Self {
            width: steps + 1,
            coefficients,
            targets: batch.targets.iter().map(|&y| y as f64).collect(),
        }
    }

    /// c₀ … c_K of task `task`.
    pub fn coefficients(&self, task: usize) -> &[f64] {
        &self.coefficients[task * self.width..(task + 1) * self.width]
    }

    /// ŷ(η) of every task (Horner's rule).
    pub fn predictions(&self, eta: f64) -> Vec<f64> {
        self.coefficients
            .chunks_exact(self.width)
            .map(|c| horner(c, eta))
            .collect()
    }

    /// Half mean squared error at η, the authors' loss: ½·mean (ŷ(η) − y)².
    pub fn half_mse(&self, eta: f64) -> f64 {
        let sum: f64 = self
            .coefficients
            .chunks_exact(self.width)
            .zip(&self.targets)
            .map(|(c, y)| (horner(c, eta) - y).powi(2))
            .sum();
        sum / (2.0 * self.targets.len().max(1) as f64)
    }

    /// The targets, as f64.
    pub fn targets(&self) -> &[f64] {
        &self.targets
    }
}

fn horner(c: &[f64], eta: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &cj| acc * eta + cj)
}

/// One task's context as f64 rows: X (`[N, d_x]`), y (`[N]`), x_q and w⁽⁰⁾.
struct Context {
    x: Vec<f64>,
    y: Vec<f64>,
    xq: Vec<f64>,
    w0: Vec<f64>,
    n: usize,
    dx: usize,
}

impl Context {
    fn of(batch: &Batch, task: usize) -> Self {
        let (n, dx, d, t) = (batch.n(), batch.dx(), batch.d, batch.t);
        let tok = &batch.tokens[task * t * d..(task + 1) * t * d];
        let row = |i: usize| &tok[i * d..(i + 1) * d];
        Self {
            x: (0..n)
                .flat_map(|i| row(i)[..dx].iter().map(|&v| v as f64))
                .collect(),
            y: (0..n).map(|i| row(i)[dx] as f64).collect(),
            xq: row(n)[..dx].iter().map(|&v| v as f64).collect(),
            w0: batch.w0[task * dx..(task + 1) * dx]
                .iter()
                .map(|&v| v as f64)
                .collect(),
            n,
            dx,
        }
    }

    /// A·v − s·b = (1/N)·Xᵀ(X·v − s·y): the gradient at v for s = 1, its linear part for s = 0.
    fn gradient(&self, v: &[f64], s: f64) -> Vec<f64> {
        let mut out = vec![0.0; self.dx];
        for (row, y) in self.x.chunks_exact(self.dx).zip(&self.y) {
            let r = row.iter().zip(v).map(|(a, b)| a * b).sum::<f64>() - s * y;
            for (o, a) in out.iter_mut().zip(row) {
                *o += r * a;
            }
        }
        let n = self.n as f64;
        out.iter_mut().for_each(|o| *o /= n);
        out
    }
}

/// c₀ … c_K of one task (the recursion of the module doc).
fn task_coefficients(batch: &Batch, task: usize, steps: usize, readout: Readout) -> Vec<f64> {
    let ctx = Context::of(batch, task);
    let mut v = vec![vec![0.0; ctx.dx]; steps + 1];
    v[0].clone_from(&ctx.w0);
    for k in 1..=steps {
        for j in (2..=k).rev() {
            let av = ctx.gradient(&v[j - 1], 0.0);
            v[j].iter_mut().zip(&av).for_each(|(vj, a)| *vj -= a);
        }
        let g0 = ctx.gradient(&ctx.w0, 1.0);
        v[1].iter_mut().zip(&g0).for_each(|(vj, g)| *vj -= g);
    }
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut c: Vec<f64> = v.iter().map(|vj| dot(&ctx.xq, vj)).collect();
    if readout == Readout::ShiftOnly {
        c[0] -= dot(&ctx.xq, &ctx.w0);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::gd_predictions;
    use crate::task::{Authors, DotProduct, Task, rng};

    /// The polynomial equals the direct descent (f64) for K = 1, 2, 5, both read-outs, at step
    /// sizes from tiny to past divergence, on two protocols' tasks.
    #[test]
    fn polynomial_equals_direct_descent() {
        let tasks = [
            Task::Authors(Authors::new(5, &mut rng(1, 0))),
            Task::DotProduct(DotProduct::new(4, &mut rng(2, 0))),
        ];
        for task in &tasks {
            let batch = task.sample(&mut rng(3, 1), 64, task.train_alpha());
            for steps in [1, 2, 5] {
                for readout in [Readout::WithBase, Readout::ShiftOnly] {
                    let poly = GdPolynomials::new(&batch, steps, readout);
                    for eta in [0.0, 1e-3, 0.3, 1.7, 6.0] {
                        let direct = gd_predictions(&batch, eta, steps, readout);
                        for (p, d) in poly.predictions(eta).iter().zip(&direct) {
                            let tol = 1e-9 * (1.0 + d.abs());
                            assert!(
                                (p - d).abs() <= tol,
                                "{} K={steps} {readout:?} η={eta}: {p} vs {d}",
                                task.label()
                            );
                        }
                    }
                }
            }
        }
    }

    /// The loss is the half-MSE of those predictions.
    #[test]
    fn half_mse_matches_its_definition() {
        let task = Task::Authors(Authors::new(2, &mut rng(4, 0)));
        let batch = task.sample(&mut rng(4, 1), 50, task.train_alpha());
        let poly = GdPolynomials::new(&batch, 3, task.readout());
        let preds = gd_predictions(&batch, 0.4, 3, task.readout());
        let want = super::super::half_mse(&preds, &batch.targets);
        assert!((poly.half_mse(0.4) - want).abs() <= 1e-10 * want.max(1.0));
        assert_eq!(poly.targets().len(), 50);
        assert_eq!(poly.coefficients(0).len(), 4);
    }
}
