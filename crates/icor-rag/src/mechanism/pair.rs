//! How one effect compares with another on the same context: cosines over the vocabulary
//! (raw and centred), inner products for the η fit, the gold answer's token changes, top-1
//! agreement, and the per-layer cosine of the attention-output changes (SimAOU).

use serde::{Deserialize, Serialize};

use super::effect::{Effect, centred, cosine, dot};

/// Effect `a` (in context) against effect `b` (an update, or another in-context effect).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairMetrics {
    pub cos: f64,
    /// Cosine with each vector's mean over the vocabulary removed.
    pub cos_centred: f64,
    /// `⟨a, b⟩` raw and centred (the least-squares η fit reads them).
    pub inner: f64,
    pub inner_centred: f64,
    /// Cosine of the gold tokens' log-probability changes (answers of one token give ±1).
    pub gold_cos: f64,
    /// `a` and `b` end on the same top-1 token.
    pub top1_agree: bool,
    /// `a` changed the top-1 token and `b` changed it to the same token.
    pub top1_reproduced: bool,
    /// Per layer, the cosine of the attention-output changes.
    pub attn_cos: Vec<f64>,
}

impl PairMetrics {
    pub fn of(a: &Effect, b: &Effect) -> Self {
        let (ca, cb) = (centred(&a.first), centred(&b.first));
        let changed = a.top1 != a.top1_before;
        Self {
            cos: cosine(&a.first, &b.first),
            cos_centred: cosine(&ca, &cb),
            inner: dot(&a.first, &b.first),
            inner_centred: dot(&ca, &cb),
            gold_cos: cosine(&a.gold, &b.gold),
            top1_agree: a.top1 == b.top1,
            top1_reproduced: changed && b.top1 == a.top1,
            attn_cos: a
                .attn
                .iter()
                .zip(&b.attn)
                .map(|(x, y)| cosine(x, y))
                .collect(),
        }
    }

    /// Mean SimAOU over layers whose change is non-zero on both sides.
    pub fn attn_mean(&self) -> f64 {
        let v: Vec<f64> = self
            .attn_cos
            .iter()
            .copied()
            .filter(|c| *c != 0.0)
            .collect();
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effect(first: &[f64], top1: u32, before: u32) -> Effect {
        Effect {
            first: first.to_vec(),
            gold: vec![first[0]],
            attn: vec![first.to_vec(), vec![0.0; first.len()]],
            top1,
            top1_before: before,
        }
    }

    #[test]
    fn identical_effects_agree_everywhere_and_opposite_ones_do_not() {
        let a = effect(&[1.0, -2.0, 0.5], 1, 0);
        let m = PairMetrics::of(&a, &a);
        assert!((m.cos - 1.0).abs() < 1e-12 && (m.cos_centred - 1.0).abs() < 1e-12);
        assert!(m.top1_agree && m.top1_reproduced);
        assert!(
            (m.attn_mean() - 1.0).abs() < 1e-12,
            "the zero layer is left out of the mean"
        );
        let b = effect(&[-1.0, 2.0, -0.5], 0, 0);
        let m = PairMetrics::of(&a, &b);
        assert!((m.cos + 1.0).abs() < 1e-12);
        assert!(!m.top1_agree && !m.top1_reproduced);
        assert_eq!(m.gold_cos, -1.0);
        // An unchanged top-1 is never "reproduced".
        let c = effect(&[1.0, -2.0, 0.5], 0, 0);
        assert!(!PairMetrics::of(&c, &c).top1_reproduced);
    }
}
