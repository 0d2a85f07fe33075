//! Means and 95% confidence intervals over seeds (Student t, two-sided).

use serde::{Deserialize, Deserializer, Serialize};

/// Mean ± half-width of a 95% CI over the values (one per seed). JSON writes a NaN as `null`
/// (no values, or one value's half-width); reading takes `null` back as NaN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ci {
    #[serde(deserialize_with = "nan_if_null")]
    pub mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub half_width: f64,
    pub n: usize,
}

/// Reads a float that serde_json wrote as `null` (it writes NaN so) back as NaN: for fields
/// that are NaN where they are undefined (a mean of nothing, a correlation with a constant).
pub(crate) fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// t_{0.975, df} for df = 1..=30; beyond that the normal quantile.
fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    if df == 0 {
        f64::NAN
    } else if df <= 30 {
        T[df - 1]
    } else {
        1.960
    }
}

impl Ci {
    /// The CI of `values` (NaN half-width with fewer than two values, NaN mean with none).
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        let mean = if n == 0 {
            f64::NAN
        } else {
            values.iter().sum::<f64>() / n as f64
        };
        if n < 2 {
            return Self {
                mean,
                half_width: f64::NAN,
                n,
            };
        }
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        Self {
            mean,
            half_width: t975(n - 1) * (var / n as f64).sqrt(),
            n,
        }
    }
}

/// Spearman rank correlation of two equally long samples (average ranks for ties).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            let avg = (i + j) as f64 / 2.0 + 1.0;
            for k in i..=j {
                r[idx[k]] = avg;
            }
            i = j + 1;
        }
        r
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Two-sided permutation p-value of Spearman's ρ: the share of `perms` seeded shuffles of `b`
/// whose |ρ| reaches the observed one (with the observed arrangement counted once).
pub fn spearman_p(a: &[f64], b: &[f64], perms: usize, seed: u64) -> f64 {
    let observed = spearman(a, b).abs();
    let mut r = crate::task::rng(seed, 77);
    let mut shuffled = b.to_vec();
    let mut hits = 1usize;
    for _ in 0..perms {
        crate::task::shuffle(&mut shuffled, &mut r);
        if spearman(a, &shuffled).abs() >= observed - 1e-12 {
            hits += 1;
        }
    }
    hits as f64 / (perms + 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_of_known_sample() {
        let ci = Ci::of(&[1.0, 2.0, 3.0]);
        assert!((ci.mean - 2.0).abs() < 1e-12);
        // s = 1, t_{0.975,2} = 4.303, half width = 4.303 / √3
        assert!((ci.half_width - 4.303 / 3f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn a_ci_without_a_half_width_survives_json() {
        for ci in [Ci::of(&[]), Ci::of(&[0.5])] {
            let text = serde_json::to_string(&ci).expect("serialise");
            let back: Ci = serde_json::from_str(&text).expect("null reads back as NaN");
            assert_eq!(back.n, ci.n);
            assert!(back.half_width.is_nan());
            assert_eq!(back.mean.is_nan(), ci.n == 0, "{text}");
        }
    }

    #[test]
    fn spearman_is_one_for_monotone_and_minus_one_for_reversed() {
        let a = [1.0, 5.0, 2.0, 9.0];
        let b = [10.0, 50.0, 20.0, 90.0];
        assert!((spearman(&a, &b) - 1.0).abs() < 1e-12);
        let c = [4.0, 1.0, 3.0, 0.0];
        assert!((spearman(&a, &c) + 1.0).abs() < 1e-12);
    }

    #[test]
    fn permutation_p_is_small_for_a_clear_trend_and_large_for_noise() {
        let a: Vec<f64> = (0..20).map(f64::from).collect();
        let trend: Vec<f64> = a.iter().map(|x| x * x).collect();
        assert!(spearman_p(&a, &trend, 2000, 1) < 0.001);
        let noise = [
            3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.0, 5.5, 3.5, 5.8, 9.7, 9.3, 2.3, 8.4, 6.2, 6.4,
            3.3, 8.3, 2.7,
        ];
        assert!(spearman_p(&a, &noise, 2000, 1) > 0.05);
    }
}
