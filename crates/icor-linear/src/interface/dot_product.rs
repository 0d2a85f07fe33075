//! Dot-product interface (§3.2, App. B, after DPR): y = W_q x_q + W_z Σᵢ (x_qᵀ M dᵢ) dᵢ
//! = (W_q + W_z D Mᵀ) x_q (Eq. 11–19), with D = Σᵢ dᵢdᵢᵀ the document second-moment matrix.
//!
//! M is general (dual encoder, M = W_{e,q}ᵀ W_{e,d}, need not be symmetric or square) or the
//! paper's shared-encoder case M = W_eᵀ W_e (symmetric). x₁ = x₂ = x_q.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use crate::error::{Result, check_shape};
use crate::predictor::LinearRag;
use crate::tokens::Tokens;

/// The dot-product retrieval predictor of App. B.
#[derive(Debug, Clone, PartialEq)]
pub struct DotProductInterface {
    /// W_q (d_y × d): the query path (W₁ of the unified form).
    pub w_q: Array2<f64>,
    /// W_z (d_y × d_doc): maps the retrieved summary Σᵢ sᵢdᵢ to the output.
    pub w_z: Array2<f64>,
    /// M (d × d_doc): query–document similarity sᵢ = x_qᵀ M dᵢ.
    pub m: Array2<f64>,
    /// Documents dᵢ, one per row (k × d_doc).
    pub docs: Array2<f64>,
}

impl DotProductInterface {
    /// General M (dual encoder): checks every shape against W_q and the documents.
    pub fn new(
        w_q: Array2<f64>,
        w_z: Array2<f64>,
        m: Array2<f64>,
        docs: Array2<f64>,
    ) -> Result<Self> {
        let (dy, d) = w_q.dim();
        let dd = docs.ncols();
        check_shape(
            "DotProductInterface: W_z (d_y × d_doc)",
            (dy, dd),
            w_z.dim(),
        )?;
        check_shape("DotProductInterface: M (d × d_doc)", (d, dd), m.dim())?;
        Ok(Self { w_q, w_z, m, docs })
    }

    /// Eq. 12: the shared-encoder case M ≜ W_eᵀ W_e (symmetric, d_doc = d).
    pub fn shared_encoder(
        w_q: Array2<f64>,
        w_z: Array2<f64>,
        w_e: ArrayView2<f64>,
        docs: Array2<f64>,
    ) -> Result<Self> {
        Self::new(w_q, w_z, w_e.t().dot(&w_e), docs)
    }

    /// Dual encoder (DPR with separate encoders): M = W_{e,q}ᵀ W_{e,d}.
    pub fn dual_encoder(
        w_q: Array2<f64>,
        w_z: Array2<f64>,
        w_eq: ArrayView2<f64>,
        w_ed: ArrayView2<f64>,
        docs: Array2<f64>,
    ) -> Result<Self> {
        check_shape(
            "DotProductInterface::dual_encoder: W_{e,d} rows",
            (w_eq.nrows(), w_ed.ncols()),
            w_ed.dim(),
        )?;
        Self::new(w_q, w_z, w_eq.t().dot(&w_ed), docs)
    }

    /// Eq. 16: D ≜ Σᵢ dᵢdᵢᵀ (d_doc × d_doc).
    pub fn second_moment(&self) -> Array2<f64> {
        self.docs.t().dot(&self.docs)
    }

    /// Eq. 17: W₂ = W_z D Mᵀ (d_y × d).
    pub fn w2(&self) -> Array2<f64> {
        self.w_z.dot(&self.second_moment()).dot(&self.m.t())
    }

    /// Eq. 19 in unified form: W₁ = W_q acting on x₁ = x_q, W₂ = W_z D Mᵀ acting on x₂ = x_q.
    pub fn predictor(&self) -> Result<LinearRag> {
        LinearRag::new(self.w_q.clone(), self.w2())
    }

    /// Eq. 11/13 evaluated literally: W_q x_q + W_z Σᵢ (x_qᵀ M dᵢ) dᵢ, one retrieval score per document.
    pub fn predict_retrieval(&self, x_q: ArrayView1<f64>) -> Result<Array1<f64>> {
        check_shape(
            "DotProductInterface::predict_retrieval: x_q",
            (self.w_q.ncols(), 1),
            (x_q.len(), 1),
        )?;
        let mx = self.m.t().dot(&x_q); // Mᵀ x_q, so that sᵢ = dᵢ · (Mᵀ x_q) = x_qᵀ M dᵢ
        let mut summary = Array1::zeros(self.docs.ncols());
        for d_i in self.docs.rows() {
            summary.scaled_add(d_i.dot(&mx), &d_i);
        }
        Ok(self.w_q.dot(&x_q) + self.w_z.dot(&summary))
    }

    /// Context tokens e_i = (x_qⁱ, x_qⁱ, yⁱ): both feature slots hold the query (x₁ = x₂ = x_q).
    pub fn tokens(x_q: ArrayView2<f64>, y: ArrayView2<f64>) -> Result<Tokens> {
        Tokens::from_parts(x_q, x_q, y)
    }
}
