//! Lemma 1 (App. A, Eq. 9–10): explicit weights of one LSA layer that performs one GD step.
//!
//! With tokens e = (x₁, x₂, y) and 3×3 block matrices over the slots:
//!   W_V = [[0, 0, 0], [0, 0, 0], [W₁, W₂, −I_y]]  ⇒ v_i = (0, 0, W₁x₁ⁱ + W₂x₂ⁱ − yⁱ)   (residual)
//!   W_K = W_Q = [[I, 0, 0], [0, I, 0], [0, 0, 0]]  ⇒ k_iᵀq_j = (x₁ⁱ)ᵀx₁ʲ + (x₂ⁱ)ᵀx₂ʲ
//!   P = −(η/N)·diag(0, 0, I_y)                      (the −η/N prefactor of App. Eq. 10, absorbed)
//! so that P V Kᵀ q_j = (0, 0, ΔW₁x₁ʲ + ΔW₂x₂ʲ) (Eq. 6). The proof is `proofs/lemma1.md`.

use ndarray::{Array2, s};

use crate::error::{Error, Result, check_eta};
use crate::lsa::{Head, LsaLayer};
use crate::predictor::LinearRag;
use crate::tokens::TokenLayout;

/// Ensures the averaging count N is positive.
pub(crate) fn check_n(what: &'static str, n: usize) -> Result<()> {
    if n == 0 {
        Err(Error::EmptyContext { what })
    } else {
        Ok(())
    }
}

/// App. Eq. 9: W_V = [[0, 0, 0], [0, 0, 0], [W₁, W₂, −I_y]], the residual read-out.
pub fn value_projection(model: &LinearRag) -> Array2<f64> {
    let l = model.layout();
    let mut w_v = Array2::zeros((l.dim(), l.dim()));
    w_v.slice_mut(s![l.y(), l.x1()]).assign(&model.w1);
    w_v.slice_mut(s![l.y(), l.x2()]).assign(&model.w2);
    w_v.slice_mut(s![l.y(), l.y()])
        .assign(&(-Array2::<f64>::eye(l.dy)));
    w_v
}

/// App. Eq. 9: W_K = W_Q = diag(I_{d₁}, I_{d₂}, 0), so that k_iᵀq_j = (x₁ⁱ)ᵀx₁ʲ + (x₂ⁱ)ᵀx₂ʲ.
pub fn key_query_projection(layout: TokenLayout) -> Array2<f64> {
    let mut w = Array2::zeros((layout.dim(), layout.dim()));
    for i in layout.x() {
        w[[i, i]] = 1.0;
    }
    w
}

/// P = scale · diag(0, 0, I_y): writes the value sum into the y-slot only (Eq. 5).
pub fn y_slot_projection(layout: TokenLayout, scale: f64) -> Array2<f64> {
    let mut p = Array2::zeros((layout.dim(), layout.dim()));
    for i in layout.y() {
        p[[i, i]] = scale;
    }
    p
}

/// Lemma 1: the single-head LSA layer whose update of any token j is (0, 0, ΔW₁x₁ʲ + ΔW₂x₂ʲ),
/// the prediction shift of one GD step (Eq. 4) with step `eta` on `n` context tokens,
/// starting from the current weights `model` (any W₁, W₂; the paper's experiments use 0).
pub fn lemma1_layer(model: &LinearRag, eta: f64, n: usize) -> Result<LsaLayer> {
    check_eta("lemma1_layer", eta)?;
    check_n("lemma1_layer", n)?;
    let l = model.layout();
    let w_kq = key_query_projection(l);
    let head = Head::new(
        y_slot_projection(l, -eta / n as f64),
        value_projection(model),
        w_kq.clone(),
        w_kq,
    )?;
    Ok(LsaLayer::single(head))
}

/// Lemma 1 written with two heads, one per retrieval slot: head 1 attends with the x₁ inner
/// products, head 2 with the x₂ inner products. Their sum is the single-head layer
/// (App. A Step 3 splits Δy the same way).
pub fn lemma1_two_heads(model: &LinearRag, eta: f64, n: usize) -> Result<LsaLayer> {
    check_eta("lemma1_two_heads", eta)?;
    check_n("lemma1_two_heads", n)?;
    let l = model.layout();
    let p = y_slot_projection(l, -eta / n as f64);
    let w_v = value_projection(model);
    let mut heads = Vec::with_capacity(2);
    for block in [l.x1(), l.x2()] {
        let mut w_k = Array2::zeros((l.dim(), l.dim()));
        for i in block {
            w_k[[i, i]] = 1.0;
        }
        heads.push(Head::new(p.clone(), w_v.clone(), w_k.clone(), w_k)?);
    }
    LsaLayer::new(heads)
}
