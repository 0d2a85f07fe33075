//! Uncertainty: percentile bootstrap CIs over questions (a question's score is its mean over
//! support seeds), unweighted averages over data sets with each set resampled on its own, and
//! paired bootstraps of the difference between two methods on the same questions.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A mean with its 95 % percentile-bootstrap interval (`lo`/`hi` NaN when there are too few
/// samples; JSON writes NaN as `null`, read back as NaN).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    #[serde(deserialize_with = "nan_if_null")]
    pub mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub lo: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub hi: f64,
    pub n: usize,
}

/// Reads a JSON number, or `null` (how serde_json writes NaN) as NaN.
pub fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        f64::NAN
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos - pos.floor());
    let j = (i + 1).min(sorted.len() - 1);
    sorted[i] * (1.0 - f) + sorted[j] * f
}

/// Bootstrap replicates of the mean over sets of each set's mean, every set's questions
/// resampled on its own (`sets[s][q]`, none empty).
fn replicates(sets: &[Vec<f64>], resamples: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..resamples)
        .map(|_| {
            let per: Vec<f64> = sets
                .iter()
                .map(|s| {
                    (0..s.len())
                        .map(|_| s[rng.random_range(0..s.len())])
                        .sum::<f64>()
                        / s.len() as f64
                })
                .collect();
            mean(&per)
        })
        .collect()
}

/// The mean over sets of each set's mean, with a CI from resampling every set's questions
/// independently (`sets[s][q]`). One set gives the plain bootstrap of its mean.
pub fn bootstrap_avg(sets: &[Vec<f64>], resamples: usize, seed: u64) -> Estimate {
    let point = mean(&sets.iter().map(|s| mean(s)).collect::<Vec<_>>());
    let n = sets.iter().map(Vec::len).sum();
    if sets.iter().any(Vec::is_empty) || resamples == 0 {
        return Estimate {
            mean: point,
            lo: f64::NAN,
            hi: f64::NAN,
            n,
        };
    }
    let mut stats = replicates(sets, resamples, seed);
    stats.sort_by(f64::total_cmp);
    Estimate {
        mean: point,
        lo: percentile(&stats, 0.025),
        hi: percentile(&stats, 0.975),
        n,
    }
}

/// Paired difference `a − b` on the same questions (`a[s][q]`, `b[s][q]`), averaged over sets,
/// with its CI and the one-sided bootstrap share of resamples with difference ≤ 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    pub diff: Estimate,
    pub p_le_zero: f64,
}

pub fn paired(a: &[Vec<f64>], b: &[Vec<f64>], resamples: usize, seed: u64) -> Paired {
    let d: Vec<Vec<f64>> = a
        .iter()
        .zip(b)
        .map(|(x, y)| x.iter().zip(y).map(|(p, q)| p - q).collect())
        .collect();
    let est = bootstrap_avg(&d, resamples, seed);
    // The same replicates as the CI's (same seed), for the tail share.
    let le = if d.iter().any(Vec::is_empty) {
        0
    } else {
        replicates(&d, resamples, seed)
            .iter()
            .filter(|&&m| m <= 0.0)
            .count()
    };
    Paired {
        diff: est,
        p_le_zero: le as f64 / resamples.max(1) as f64,
    }
}

/// Median and 90th percentile.
pub fn median_p90(x: &[f64]) -> (f64, f64) {
    let mut s = x.to_vec();
    s.sort_by(f64::total_cmp);
    (percentile(&s, 0.5), percentile(&s, 0.9))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_estimate_without_interval_round_trips_through_json() {
        let e = Estimate {
            mean: 0.5,
            lo: f64::NAN,
            hi: f64::NAN,
            n: 1,
        };
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains("null"));
        let back: Estimate = serde_json::from_str(&json).unwrap();
        assert_eq!(back.mean, 0.5);
        assert!(back.lo.is_nan() && back.hi.is_nan());
    }

    #[test]
    fn bootstrap_interval_contains_the_mean_and_shrinks_with_n() {
        let small: Vec<f64> = (0..20).map(|i| f64::from(i % 2)).collect();
        let large: Vec<f64> = (0..2000).map(|i| f64::from(i % 2)).collect();
        let a = bootstrap_avg(&[small], 2000, 1);
        let b = bootstrap_avg(&[large], 2000, 1);
        assert!((a.mean - 0.5).abs() < 1e-12 && a.lo < 0.5 && a.hi > 0.5);
        assert!(b.hi - b.lo < (a.hi - a.lo) / 5.0, "{a:?} {b:?}");
    }

    #[test]
    fn paired_difference_of_a_dominating_method_is_positive() {
        let a = vec![vec![1.0; 50]];
        let b = vec![(0..50).map(|i| if i < 10 { 1.0 } else { 0.0 }).collect()];
        let p = paired(&a, &b, 1000, 3);
        assert!((p.diff.mean - 0.8).abs() < 1e-12);
        assert!(p.diff.lo > 0.5 && p.p_le_zero == 0.0);
        let same = paired(&a, &a, 100, 3);
        assert_eq!(same.diff.mean, 0.0);
        assert_eq!(same.p_le_zero, 1.0);
    }

    #[test]
    fn average_over_sets_is_unweighted() {
        let e = bootstrap_avg(&[vec![1.0; 10], vec![0.0; 1000]], 100, 0);
        assert!((e.mean - 0.5).abs() < 1e-12);
    }
}
