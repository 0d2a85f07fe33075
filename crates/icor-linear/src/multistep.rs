//! Eq. 7: K stacked LSA layers perform K GD steps, exactly.
//!
//! The paper states Eq. 7 without weights. Here every layer t uses Lemma 1's key, query and
//! value projections (W_V holds the *initial* W⁽⁰⁾) with P_t = +(η_t/N)·diag(0, 0, I_y). Every
//! token's y-slot then carries c⁽ᵗ⁾ = c⁽⁰⁾ − (W⁽ᵗ⁾ − W⁽⁰⁾)x, so a context token's value
//! W⁽⁰⁾xᵢ − cᵢ⁽ᵗ⁾ is exactly its running residual W⁽ᵗ⁾xᵢ − yᵢ, and the query, which starts
//! at c = 0, ends at −Σ_t ΔW⁽ᵗ⁾x_q. The prediction is read as ŷ⁽ᴷ⁾ = W⁽⁰⁾x_q − c_q⁽ᴷ⁾
//! (von Oswald et al.'s convention of the negated y-slot). Proof: `proofs/k_steps.md`.

use ndarray::Array2;

use crate::construction::{check_n, key_query_projection, value_projection, y_slot_projection};
use crate::error::{Result, check_eta};
use crate::lsa::{Head, LsaLayer, LsaStack};
use crate::predictor::LinearRag;
use crate::tokens::Tokens;

/// The K-layer stack whose layer t performs GD step t with step size `etas[t]` (Eq. 7).
pub fn k_step_stack(model0: &LinearRag, etas: &[f64], n: usize) -> Result<LsaStack> {
    check_n("k_step_stack", n)?;
    let l = model0.layout();
    let w_v = value_projection(model0);
    let w_kq = key_query_projection(l);
    let mut layers = Vec::with_capacity(etas.len());
    for &eta in etas {
        check_eta("k_step_stack", eta)?;
        let head = Head::new(
            y_slot_projection(l, eta / n as f64),
            w_v.clone(),
            w_kq.clone(),
            w_kq.clone(),
        )?;
        layers.push(LsaLayer::single(head));
    }
    Ok(LsaStack { layers })
}

/// Eq. 7 read-out: ŷ⁽ᴷ⁾ = W⁽⁰⁾x_q − c_q⁽ᴷ⁾, for query tokens that entered the stack with c = 0.
pub fn read_prediction(model0: &LinearRag, queries_out: &Tokens) -> Result<Array2<f64>> {
    Ok(model0.predict(queries_out)? - queries_out.y())
}
