//! Eq. 4: one gradient-descent step on the unified objective, and the prediction shift Δy.

use ndarray::{Array2, s};

use crate::error::{Result, check_eta};
use crate::predictor::LinearRag;
use crate::tokens::Tokens;

/// Gradients of Eq. 3: ∇_{W_k} L = (1/N) Σᵢ (W₁x₁ⁱ + W₂x₂ⁱ − yⁱ)(x_kⁱ)ᵀ, k ∈ {1, 2}.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradient {
    /// ∇_{W₁} L (d_y × d₁).
    pub g1: Array2<f64>,
    /// ∇_{W₂} L (d_y × d₂).
    pub g2: Array2<f64>,
}

/// The update ΔW_k of one step (Eq. 4) or of a preconditioned step.
#[derive(Debug, Clone, PartialEq)]
pub struct GdStep {
    /// ΔW₁ (d_y × d₁).
    pub dw1: Array2<f64>,
    /// ΔW₂ (d_y × d₂).
    pub dw2: Array2<f64>,
}

/// Gradients of Eq. 3 at `model` over the N context tokens.
pub fn gradient(model: &LinearRag, context: &Tokens) -> Result<Gradient> {
    context.require_nonempty("gradient (Eq. 4)")?;
    let r = model.residuals(context)?;
    let n = context.len() as f64;
    Ok(Gradient {
        g1: r.t().dot(&context.x1()) / n,
        g2: r.t().dot(&context.x2()) / n,
    })
}

impl Gradient {
    /// The joint gradient [∇_{W₁}L ∇_{W₂}L] (d_y × (d₁+d₂)).
    pub fn joint(&self) -> Array2<f64> {
        ndarray::concatenate(ndarray::Axis(1), &[self.g1.view(), self.g2.view()])
            .expect("gradients have equal row counts by construction")
    }
}

/// Eq. 4: ΔW_k = −η ∇_{W_k} L = −(η/N) Σᵢ (W₁x₁ⁱ + W₂x₂ⁱ − yⁱ)(x_kⁱ)ᵀ.
pub fn gd_step(model: &LinearRag, context: &Tokens, eta: f64) -> Result<GdStep> {
    check_eta("gd_step (Eq. 4)", eta)?;
    let g = gradient(model, context)?;
    Ok(GdStep {
        dw1: g.g1 * -eta,
        dw2: g.g2 * -eta,
    })
}

impl GdStep {
    /// Builds a step from a joint ΔW = [ΔW₁ ΔW₂], split after column d₁.
    pub fn from_joint(dw: Array2<f64>, d1: usize) -> Self {
        Self {
            dw1: dw.slice(s![.., ..d1]).to_owned(),
            dw2: dw.slice(s![.., d1..]).to_owned(),
        }
    }

    /// §3.3: Δy = ΔW₁x₁ + ΔW₂x₂ for every token, one row each (n × d_y).
    pub fn prediction_shift(&self, tokens: &Tokens) -> Result<Array2<f64>> {
        let shifted = LinearRag::new(self.dw1.clone(), self.dw2.clone())?;
        shifted.predict(tokens)
    }

    /// App. Eq. 2: W_k' = W_k + ΔW_k.
    pub fn apply(&self, model: &LinearRag) -> LinearRag {
        LinearRag {
            w1: &model.w1 + &self.dw1,
            w2: &model.w2 + &self.dw2,
        }
    }
}

/// K plain GD steps with step sizes η₀ … η_{K−1}; returns the trajectory W⁽⁰⁾ … W⁽ᴷ⁾ (Eq. 7).
pub fn gd_trajectory(model: &LinearRag, context: &Tokens, etas: &[f64]) -> Result<Vec<LinearRag>> {
    let mut path = Vec::with_capacity(etas.len() + 1);
    path.push(model.clone());
    for &eta in etas {
        let current = path.last().expect("the trajectory starts non-empty");
        let next = gd_step(current, context, eta)?.apply(current);
        path.push(next);
    }
    Ok(path)
}
