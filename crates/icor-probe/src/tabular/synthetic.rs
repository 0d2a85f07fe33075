//! Synthetic tables whose features share one variance but differ in shape (beyond the paper):
//! uniform, Gaussian, Laplace, Student-t(3) and log-normal, each scaled to mean 0, variance 1.
//! Target y = wᵀx + ε with w ~ N(0, I/p) fixed per table and ε ~ N(0, 0.1²).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, LogNormal, Normal, StudentT};
use serde::{Deserialize, Serialize};

use super::Table;

/// Feature distribution of a synthetic table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    /// U(−√3, √3): bounded, excess kurtosis −1.2.
    Uniform,
    /// N(0, 1): excess kurtosis 0.
    Gaussian,
    /// Laplace with scale 1/√2: excess kurtosis 3.
    Laplace,
    /// Student-t with 3 degrees of freedom, divided by √3: infinite kurtosis.
    StudentT3,
    /// (e^Z − e^½) / √((e − 1)e), Z ~ N(0, 1): skewed, excess kurtosis ≈ 111.
    LogNormal,
}

impl Distribution {
    /// Every distribution, lightest tail first.
    pub const ALL: [Distribution; 5] = [
        Distribution::Uniform,
        Distribution::Gaussian,
        Distribution::Laplace,
        Distribution::StudentT3,
        Distribution::LogNormal,
    ];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Distribution::Uniform => "uniform",
            Distribution::Gaussian => "gaussian",
            Distribution::Laplace => "laplace",
            Distribution::StudentT3 => "student_t3",
            Distribution::LogNormal => "log_normal",
        }
    }

    /// One draw with mean 0 and variance 1.
    pub fn draw(self, rng: &mut ChaCha8Rng) -> f64 {
        let sqrt3 = 3f64.sqrt();
        match self {
            Distribution::Uniform => rng.random_range(-sqrt3..sqrt3),
            Distribution::Gaussian => Normal::new(0.0, 1.0).expect("valid").sample(rng),
            Distribution::Laplace => {
                // inverse CDF: −b·sgn(u)·ln(1 − 2|u|), u ~ U(−½, ½), b = 1/√2
                let u: f64 = rng.random_range(-0.5..0.5);
                -u.signum() * (1.0 - 2.0 * u.abs()).ln() / 2f64.sqrt()
            }
            Distribution::StudentT3 => StudentT::new(3.0).expect("valid").sample(rng) / sqrt3,
            Distribution::LogNormal => {
                let e = std::f64::consts::E;
                (LogNormal::new(0.0, 1.0).expect("valid").sample(rng) - e.sqrt())
                    / ((e - 1.0) * e).sqrt()
            }
        }
    }

    /// A table of `n` rows and `p` features.
    pub fn table(self, n: usize, p: usize, rng: &mut ChaCha8Rng) -> Table {
        let noise = Normal::new(0.0, 0.1).expect("valid");
        let wd = Normal::new(0.0, 1.0 / (p as f64).sqrt()).expect("valid");
        let w: Vec<f64> = (0..p).map(|_| wd.sample(rng)).collect();
        let mut x = Vec::with_capacity(n * p);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let row: Vec<f64> = (0..p).map(|_| self.draw(rng)).collect();
            y.push(row.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + noise.sample(rng));
            x.extend(row);
        }
        Table {
            name: self.name().into(),
            features: (0..p).map(|j| format!("x{j}")).collect(),
            x,
            y,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tabular::normalise::mean_sd;
    use crate::task::rng;

    #[test]
    fn every_distribution_has_mean_zero_and_unit_variance() {
        for d in Distribution::ALL {
            let mut r = rng(7, 0);
            let v: Vec<f64> = (0..200_000).map(|_| d.draw(&mut r)).collect();
            let (m, sd) = mean_sd(&v);
            // Student-t(3) has no fourth moment and the log-normal a huge one: their sample
            // sd converges slowly
            let tol = match d {
                Distribution::StudentT3 | Distribution::LogNormal => 0.08,
                _ => 0.02,
            };
            assert!(
                m.abs() < 0.02 && (sd - 1.0).abs() < tol,
                "{d:?}: mean {m}, sd {sd}"
            );
        }
    }
}
