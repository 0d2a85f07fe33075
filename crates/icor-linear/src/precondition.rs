//! One step of preconditioned GD, ΔW = −η ∇L Γ, realised through W_K and W_Q ("GD++").
//!
//! With x = (x₁, x₂) and any Γ ∈ R^{(d₁+d₂)×(d₁+d₂)}, the key stays k_i = (x₁ⁱ, x₂ⁱ, 0) and the
//! query becomes q_j = (Γ xʲ, 0), so k_iᵀq_j = (xⁱ)ᵀ Γ xʲ. Values and P are Lemma 1's.
//! Proof: `proofs/preconditioned.md`.

use ndarray::{Array2, ArrayView2, s};

use crate::construction::{check_n, key_query_projection, value_projection, y_slot_projection};
use crate::error::{Result, check_eta, check_shape};
use crate::gd::{GdStep, gradient};
use crate::lsa::{Head, LsaLayer};
use crate::predictor::LinearRag;
use crate::tokens::Tokens;

/// ΔW = −η [∇_{W₁}L ∇_{W₂}L] Γ, split back into ΔW₁, ΔW₂.
pub fn preconditioned_step(
    model: &LinearRag,
    context: &Tokens,
    eta: f64,
    gamma: ArrayView2<f64>,
) -> Result<GdStep> {
    check_eta("preconditioned_step", eta)?;
    let l = model.layout();
    check_shape("preconditioned_step: Γ", (l.dx(), l.dx()), gamma.dim())?;
    let g = gradient(model, context)?.joint();
    Ok(GdStep::from_joint(g.dot(&gamma) * -eta, l.d1))
}

/// The LSA layer of Lemma 1 with W_Q = [[Γ, 0], [0, 0]] (blocks over (x, y)): it performs
/// the preconditioned step of [`preconditioned_step`].
pub fn preconditioned_layer(
    model: &LinearRag,
    eta: f64,
    gamma: ArrayView2<f64>,
    n: usize,
) -> Result<LsaLayer> {
    check_eta("preconditioned_layer", eta)?;
    check_n("preconditioned_layer", n)?;
    let l = model.layout();
    check_shape("preconditioned_layer: Γ", (l.dx(), l.dx()), gamma.dim())?;
    let mut w_q = Array2::zeros((l.dim(), l.dim()));
    w_q.slice_mut(s![l.x(), l.x()]).assign(&gamma);
    let head = Head::new(
        y_slot_projection(l, -eta / n as f64),
        value_projection(model),
        key_query_projection(l),
        w_q,
    )?;
    Ok(LsaLayer::single(head))
}
