//! The matching loss of Eq. 9,
//! `L_match(φ; C) = Σ_{ℓ,π} [1 − cos(gΔW_{ℓ,π}, ΔW*_{ℓ,π}) + λ · m(‖gΔW_{ℓ,π}‖ / ‖ΔW*_{ℓ,π}‖)]`,
//! evaluated in the predictor's bases: `cos = ⟨C, T⟩ / (‖C‖ ‖ΔW*‖)` with `T = PᵀΔW*Q`.
//!
//! The paper prints `m = log`, which is unbounded below and rewards shrinking the prediction;
//! the default here is the symmetric `m = log²`, and the printed form is kept for the ablation.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// The magnitude term `m` of Eq. 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormTerm {
    /// `log ρ` as printed (signed).
    Log,
    /// `(log ρ)²` (symmetric; the default).
    LogSquared,
    /// `|log ρ|` (symmetric).
    AbsLog,
}

impl NormTerm {
    pub fn name(self) -> &'static str {
        match self {
            NormTerm::Log => "log",
            NormTerm::LogSquared => "log²",
            NormTerm::AbsLog => "|log|",
        }
    }
}

/// Per-example, per-block terms: `(cos, ρ)` as `[B, blocks]` each.
pub fn cos_and_ratio(c: Tensor<4>, t: Tensor<4>, target_norm: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let [b, h, _, _] = c.dims();
    let dot = (c.clone() * t).sum_dims(&[2, 3]).reshape([b, h]);
    let cn = (c.clone() * c)
        .sum_dims(&[2, 3])
        .reshape([b, h])
        .add_scalar(1e-20)
        .sqrt();
    let cos = dot / (cn.clone() * target_norm.clone());
    let ratio = cn / target_norm;
    (cos, ratio)
}

/// Eq. 9 averaged over the batch: `C, T: [B, blocks, R, R]`, `‖ΔW*‖: [B, blocks]`.
pub fn matching_loss(
    c: Tensor<4>,
    t: Tensor<4>,
    target_norm: Tensor<2>,
    lambda: f64,
    term: NormTerm,
) -> Tensor<1> {
    let (cos, ratio) = cos_and_ratio(c, t, target_norm);
    let log = ratio.log();
    let m = match term {
        NormTerm::Log => log,
        NormTerm::LogSquared => log.clone() * log,
        NormTerm::AbsLog => log.abs(),
    };
    let per_block = cos.neg().add_scalar(1.0) + m.mul_scalar(lambda);
    let [b, _] = per_block.dims();
    per_block.sum_dim(1).reshape([b]).mean()
}
