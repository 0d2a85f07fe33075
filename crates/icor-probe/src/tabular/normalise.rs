//! Input-side normalisations of §4.3, fitted per feature on the training split and applied to
//! any row: z-score, min–max (Bishop 2006), rank (Conover 1999: the training set's empirical
//! CDF, mid-ranks for ties) and tanh (tanh of the z-score; the paper names no variant).

use serde::{Deserialize, Serialize};

use super::Table;

/// One normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    /// (x − mean) / sd.
    ZScore,
    /// (x − min) / (max − min) over the training split (test rows may leave [0, 1]).
    MinMax,
    /// Mid-rank of x among the training values, divided by their count: in [0, 1].
    Rank,
    /// tanh((x − mean) / sd): z-scores squashed into (−1, 1).
    Tanh,
}

impl Norm {
    /// Every normalisation, in report order.
    pub const ALL: [Norm; 4] = [Norm::ZScore, Norm::MinMax, Norm::Rank, Norm::Tanh];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Norm::ZScore => "z_score",
            Norm::MinMax => "min_max",
            Norm::Rank => "rank",
            Norm::Tanh => "tanh",
        }
    }
}

/// Per-feature statistics of the training split.
#[derive(Debug, Clone)]
pub struct Normaliser {
    norm: Norm,
    mean: Vec<f64>,
    sd: Vec<f64>,
    min: Vec<f64>,
    max: Vec<f64>,
    /// Sorted training values per feature (rank only).
    sorted: Vec<Vec<f64>>,
}

impl Normaliser {
    /// Fits `norm` on the features of `train`.
    pub fn fit(norm: Norm, train: &Table) -> Self {
        let p = train.p();
        let mut s = Normaliser {
            norm,
            mean: Vec::with_capacity(p),
            sd: Vec::with_capacity(p),
            min: Vec::with_capacity(p),
            max: Vec::with_capacity(p),
            sorted: Vec::new(),
        };
        for j in 0..p {
            let mut c = train.column(j);
            let (m, sd) = mean_sd(&c);
            s.mean.push(m);
            s.sd.push(sd);
            s.min.push(c.iter().copied().fold(f64::INFINITY, f64::min));
            s.max
                .push(c.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            if norm == Norm::Rank {
                c.sort_by(f64::total_cmp);
                s.sorted.push(c);
            }
        }
        s
    }

    /// The normalisation.
    pub fn norm(&self) -> Norm {
        self.norm
    }

    /// Normalises one value of feature `j`. Constant training columns map to 0.
    pub fn apply(&self, j: usize, v: f64) -> f64 {
        let z = || {
            if self.sd[j] > 0.0 {
                (v - self.mean[j]) / self.sd[j]
            } else {
                0.0
            }
        };
        match self.norm {
            Norm::ZScore => z(),
            Norm::Tanh => z().tanh(),
            Norm::MinMax => {
                let r = self.max[j] - self.min[j];
                if r > 0.0 { (v - self.min[j]) / r } else { 0.0 }
            }
            Norm::Rank => {
                let s = &self.sorted[j];
                let below = s.partition_point(|&t| t < v);
                let not_above = s.partition_point(|&t| t <= v);
                (below + not_above) as f64 / (2 * s.len()) as f64
            }
        }
    }

    /// Normalises every row of `t`, row-major `[n, p]`.
    pub fn apply_table(&self, t: &Table) -> Vec<f64> {
        let p = t.p();
        t.x.iter()
            .enumerate()
            .map(|(k, &v)| self.apply(k % p, v))
            .collect()
    }
}

/// Mean and population standard deviation.
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (m, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(col: &[f64]) -> Table {
        Table {
            name: "t".into(),
            features: vec!["a".into()],
            x: col.to_vec(),
            y: vec![0.0; col.len()],
        }
    }

    #[test]
    fn each_normalisation_maps_the_training_column_as_defined() {
        let t = table(&[1.0, 2.0, 2.0, 5.0]);
        let z = Normaliser::fit(Norm::ZScore, &t).apply_table(&t);
        let (m, sd) = mean_sd(&z);
        assert!(m.abs() < 1e-12 && (sd - 1.0).abs() < 1e-12, "{z:?}");
        let mm = Normaliser::fit(Norm::MinMax, &t).apply_table(&t);
        assert_eq!(mm, vec![0.0, 0.25, 0.25, 1.0]);
        let r = Normaliser::fit(Norm::Rank, &t).apply_table(&t);
        assert_eq!(r, vec![0.125, 0.5, 0.5, 0.875]); // mid-ranks 0.5, 2, 2, 3.5 of 4
        let th = Normaliser::fit(Norm::Tanh, &t).apply_table(&t);
        for (a, b) in th.iter().zip(&z) {
            assert!((a - b.tanh()).abs() < 1e-15);
        }
        // a constant column maps to zero, never NaN
        let c = table(&[3.0, 3.0]);
        for norm in Norm::ALL {
            let v = Normaliser::fit(norm, &c).apply(0, 3.0);
            assert!(v.is_finite(), "{norm:?}");
        }
    }
}
