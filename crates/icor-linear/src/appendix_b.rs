//! App. B, Eq. 11–19, one function per line of the derivation, written independently of the
//! ndarray code with nalgebra so that the two implementations check each other.
//! Proof: `proofs/appendix_b.md`.

use nalgebra::{DMatrix, DVector};

/// Eq. 11: y = W_q x_q + W_z Σᵢ (W_e x_q)ᵀ (W_e dᵢ) dᵢ, the shared-encoder retrieval scores.
pub fn eq11_shared_encoder(
    w_q: &DMatrix<f64>,
    w_z: &DMatrix<f64>,
    w_e: &DMatrix<f64>,
    docs: &[DVector<f64>],
    x_q: &DVector<f64>,
) -> DVector<f64> {
    let ex = w_e * x_q;
    let summary = docs.iter().fold(DVector::zeros(w_z.ncols()), |acc, d| {
        acc + d * ex.dot(&(w_e * d))
    });
    w_q * x_q + w_z * summary
}

/// Eq. 13: y = W_q x_q + W_z Σᵢ (x_qᵀ M dᵢ) dᵢ for any M (Eq. 12 gives M = W_eᵀW_e).
pub fn eq13_scores(
    w_q: &DMatrix<f64>,
    w_z: &DMatrix<f64>,
    m: &DMatrix<f64>,
    docs: &[DVector<f64>],
    x_q: &DVector<f64>,
) -> DVector<f64> {
    let summary = docs.iter().fold(DVector::zeros(w_z.ncols()), |acc, d| {
        acc + d * (x_q.transpose() * m * d)[(0, 0)]
    });
    w_q * x_q + w_z * summary
}

/// Eq. 14: each term as a matrix acting on x_q, (x_qᵀ M dᵢ) dᵢ = (dᵢdᵢᵀ) Mᵀ x_q, summed.
pub fn eq15_outer_products(
    w_q: &DMatrix<f64>,
    w_z: &DMatrix<f64>,
    m: &DMatrix<f64>,
    docs: &[DVector<f64>],
    x_q: &DVector<f64>,
) -> DVector<f64> {
    let summary = docs.iter().fold(DVector::zeros(w_z.ncols()), |acc, d| {
        acc + (d * d.transpose()) * m.transpose() * x_q
    });
    w_q * x_q + w_z * summary
}

/// Eq. 16: D ≜ Σᵢ dᵢdᵢᵀ.
pub fn eq16_second_moment(docs: &[DVector<f64>], d_doc: usize) -> DMatrix<f64> {
    docs.iter().fold(DMatrix::zeros(d_doc, d_doc), |acc, d| {
        acc + d * d.transpose()
    })
}

/// Eq. 17: y = W_q x_q + W_z D Mᵀ x_q.
pub fn eq17_second_moment(
    w_q: &DMatrix<f64>,
    w_z: &DMatrix<f64>,
    m: &DMatrix<f64>,
    docs: &[DVector<f64>],
    x_q: &DVector<f64>,
) -> DVector<f64> {
    let d = eq16_second_moment(docs, w_z.ncols());
    w_q * x_q + w_z * d * m.transpose() * x_q
}

/// Eq. 19: y = (W_q + W_z D Mᵀ) x_q, one linear map of the query (Eq. 18 when M is symmetric).
pub fn eq19_collapsed(
    w_q: &DMatrix<f64>,
    w_z: &DMatrix<f64>,
    m: &DMatrix<f64>,
    docs: &[DVector<f64>],
    x_q: &DVector<f64>,
) -> DVector<f64> {
    let d = eq16_second_moment(docs, w_z.ncols());
    (w_q + w_z * d * m.transpose()) * x_q
}
