//! Projection-based interface (§3.2, after Lewis et al. 2020): x₁ = x_q, x₂ = document
//! features D, and W₂ ≜ W₁ W_d, where W_d projects document features into the query space.

use ndarray::{Array2, ArrayView2, ArrayView3};

use crate::error::{Result, check_shape};
use crate::predictor::LinearRag;
use crate::tokens::Tokens;

/// y = W₁x_q + W₁W_d·D.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionInterface {
    /// W₁ (d_y × d_q).
    pub w1: Array2<f64>,
    /// W_d (d_q × d_D), the document projection.
    pub w_d: Array2<f64>,
}

impl ProjectionInterface {
    /// Checks that W_d maps into the input space of W₁.
    pub fn new(w1: Array2<f64>, w_d: Array2<f64>) -> Result<Self> {
        check_shape(
            "ProjectionInterface: W_d rows (d_q)",
            (w1.ncols(), w_d.ncols()),
            w_d.dim(),
        )?;
        Ok(Self { w1, w_d })
    }

    /// §3.2: the unified predictor with W₂ ≜ W₁ W_d.
    pub fn predictor(&self) -> Result<LinearRag> {
        LinearRag::new(self.w1.clone(), self.w1.dot(&self.w_d))
    }

    /// Document features of each example: its k documents (rows of a k × d_doc block)
    /// concatenated into one vector x₂ ∈ R^{k·d_doc} (App. C: e_i = (x_i, D, y_i)).
    pub fn features(docs: ArrayView3<f64>) -> Array2<f64> {
        let (n, k, dd) = docs.dim();
        docs.as_standard_layout()
            .into_owned()
            .into_shape_with_order((n, k * dd))
            .expect("a standard-layout array reshapes")
    }

    /// Context tokens e_i = (x_qⁱ, Dⁱ, yⁱ).
    pub fn tokens(
        x_q: ArrayView2<f64>,
        doc_features: ArrayView2<f64>,
        y: ArrayView2<f64>,
    ) -> Result<Tokens> {
        Tokens::from_parts(x_q, doc_features, y)
    }
}
