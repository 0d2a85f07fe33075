//! Scalar statistics of a feature distribution, the candidates for predicting where trained
//! transformers stop tracking GD (issue: "which property of the features predicts the break?").
//! Each is computed per feature and averaged over the features of the table.

use serde::{Deserialize, Serialize};

use super::normalise::mean_sd;

/// The statistics of one set of rows (features as the model sees them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    /// Mean over features of the excess kurtosis m₄/m₂² − 3 (0 for a Gaussian).
    pub kurtosis: f64,
    /// Mean over features of max |x − mean| / sd over the rows.
    pub max_abs_z: f64,
    /// Mean over features of the share of rows in the bottom tenth of the min–max range.
    pub bottom_decile: f64,
    /// Mean over features of |m₃/m₂^{3/2}|, the size of the skew (0 for symmetric features).
    #[serde(default)]
    pub abs_skewness: f64,
}

impl Shape {
    /// Names, in the order of [`Shape::values`].
    pub const NAMES: [&'static str; 4] = ["kurtosis", "max_abs_z", "bottom_decile", "abs_skewness"];

    /// The statistics as an array, in the order of [`Shape::NAMES`].
    pub fn values(&self) -> [f64; 4] {
        [
            self.kurtosis,
            self.max_abs_z,
            self.bottom_decile,
            self.abs_skewness,
        ]
    }

    /// Statistics of `rows` (`[n, p]` row-major). Constant features are left out.
    pub fn of(rows: &[f64], p: usize) -> Shape {
        let n = rows.len() / p.max(1);
        let (mut k, mut z, mut b, mut sk, mut used) = (0.0, 0.0, 0.0, 0.0, 0usize);
        for j in 0..p {
            let c: Vec<f64> = (0..n).map(|i| rows[i * p + j]).collect();
            let (m, sd) = mean_sd(&c);
            if sd <= 0.0 || n == 0 {
                continue;
            }
            let m4 = c.iter().map(|x| ((x - m) / sd).powi(4)).sum::<f64>() / n as f64;
            k += m4 - 3.0;
            let m3 = c.iter().map(|x| ((x - m) / sd).powi(3)).sum::<f64>() / n as f64;
            sk += m3.abs();
            z += c.iter().map(|x| ((x - m) / sd).abs()).fold(0.0, f64::max);
            let lo = c.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = c.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let cut = lo + 0.1 * (hi - lo);
            b += c.iter().filter(|&&x| x < cut).count() as f64 / n as f64;
            used += 1;
        }
        let u = used.max(1) as f64;
        Shape {
            kurtosis: k / u,
            max_abs_z: z / u,
            bottom_decile: b / u,
            abs_skewness: sk / u,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_known_columns() {
        // two-point column: kurtosis 1 − 3 = −2, max |z| = 1, half the rows in the bottom tenth
        let s = Shape::of(&[0.0, 1.0, 0.0, 1.0], 1);
        assert!((s.kurtosis + 2.0).abs() < 1e-12);
        assert!((s.max_abs_z - 1.0).abs() < 1e-12);
        assert!((s.bottom_decile - 0.5).abs() < 1e-12);
        assert!(s.abs_skewness.abs() < 1e-12, "symmetric: {s:?}");
        // one far outlier among 99 zeros: m₂ = 99, m₄ = (99 + 99⁴)/100, excess kurtosis 98.0101… − 3;
        // the bottom tenth holds 99% of the rows; max |z| = 99/√99
        let mut v = vec![0.0; 99];
        v.push(100.0);
        let s = Shape::of(&v, 1);
        assert!(
            (s.kurtosis - (96_059_700.0 / 980_100.0 - 3.0)).abs() < 1e-9,
            "{s:?}"
        );
        assert!((s.max_abs_z - 99f64.sqrt()).abs() < 1e-9, "{s:?}");
        assert!((s.bottom_decile - 0.99).abs() < 1e-12);
        // m₃ = (−99 + 99³)/100 over m₂^{3/2} = 99^{3/2}: skewness 9.8 / √99 · … = 9.749…
        let m3 = (-99.0 + 99f64.powi(3)) / 100.0;
        assert!(
            (s.abs_skewness - m3 / 99f64.powf(1.5)).abs() < 1e-9,
            "{s:?}"
        );
    }
}
