//! An effect: what a change to the model's input (demonstrations in context) or to its
//! interface (a gradient step) does to the query's readings, `after − before`.

use serde::{Deserialize, Serialize};

use super::readout::Readout;

/// `after − before` on every reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    /// Change of `log p(·)` at the first answer position, `[vocab]`.
    pub first: Vec<f64>,
    /// Change of each gold token's log-probability.
    pub gold: Vec<f64>,
    /// Change of each layer's attention output at the first answer position.
    pub attn: Vec<Vec<f64>>,
    /// Top-1 token after the change, and before it.
    pub top1: u32,
    pub top1_before: u32,
}

/// What the analysis keeps of an effect.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EffectSummary {
    /// `‖Δ‖` over the vocabulary.
    pub norm: f64,
    /// `‖Δ − mean(Δ)‖`: without the shift every token shares.
    pub norm_centred: f64,
    /// `mean(Δ)` over the vocabulary (the common shift).
    pub shift: f64,
    /// Change of the gold answer's log-probability (sum over its tokens).
    pub gold: f64,
    pub top1: u32,
    /// Whether the top-1 token changed.
    pub top1_changed: bool,
}

impl Effect {
    /// The effect that took `before` to `after`.
    pub fn between(before: &Readout, after: &Readout) -> Self {
        let d = |a: &[f32], b: &[f32]| -> Vec<f64> {
            a.iter()
                .zip(b)
                .map(|(&x, &y)| f64::from(x) - f64::from(y))
                .collect()
        };
        Self {
            first: d(&after.first, &before.first),
            gold: d(&after.gold, &before.gold),
            attn: after
                .attn
                .iter()
                .zip(&before.attn)
                .map(|(a, b)| d(a, b))
                .collect(),
            top1: after.top1(),
            top1_before: before.top1(),
        }
    }

    /// `self − other`, the part of `self` that `other` does not share (top-1 of `self`).
    pub fn minus(&self, other: &Effect) -> Self {
        let d =
            |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(x, y)| x - y).collect() };
        Self {
            first: d(&self.first, &other.first),
            gold: d(&self.gold, &other.gold),
            attn: self
                .attn
                .iter()
                .zip(&other.attn)
                .map(|(a, b)| d(a, b))
                .collect(),
            top1: self.top1,
            top1_before: self.top1_before,
        }
    }

    /// `Δ` over the vocabulary with its mean removed.
    pub fn centred(&self) -> Vec<f64> {
        centred(&self.first)
    }

    pub fn summary(&self) -> EffectSummary {
        let shift = mean(&self.first);
        EffectSummary {
            norm: norm(&self.first),
            norm_centred: norm(&self.centred()),
            shift,
            gold: self.gold.iter().sum(),
            top1: self.top1,
            top1_changed: self.top1 != self.top1_before,
        }
    }
}

pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        0.0
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    }
}

pub fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `x − mean(x)`.
pub fn centred(x: &[f64]) -> Vec<f64> {
    let m = mean(x);
    x.iter().map(|v| v - m).collect()
}

/// Cosine (0 when either vector is zero).
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let n = norm(a) * norm(b);
    if n > 0.0 { dot(a, b) / n } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centring_removes_the_shared_shift() {
        let a = [1.0, 2.0, 3.0];
        let b = [11.0, 12.0, 13.0];
        // Raw cosine is high because both carry a large common component…
        assert!(cosine(&a, &b) > 0.9);
        // …centred they are the same direction.
        assert!((cosine(&centred(&a), &centred(&b)) - 1.0).abs() < 1e-12);
        let c = [3.0, 2.0, 1.0];
        assert!((cosine(&centred(&a), &centred(&c)) + 1.0).abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &a[..2]), 0.0);
    }
}
