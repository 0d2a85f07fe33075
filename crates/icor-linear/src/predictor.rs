//! The unified linearized RAG predictor y = W₁x₁ + W₂x₂ (§3.2).

use ndarray::{Array2, ArrayView2, Axis, s};

use crate::error::{Error, Result, check_shape};
use crate::tokens::{TokenLayout, Tokens};

/// §3.2: y = W₁x₁ + W₂x₂, with W₁ ∈ R^{d_y×d₁} acting on the query feature and W₂ ∈ R^{d_y×d₂}
/// on the retrieval-derived feature.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearRag {
    /// W₁ (d_y × d₁).
    pub w1: Array2<f64>,
    /// W₂ (d_y × d₂).
    pub w2: Array2<f64>,
}

impl LinearRag {
    /// Builds the predictor; W₁ and W₂ must have the same number of rows (d_y).
    pub fn new(w1: Array2<f64>, w2: Array2<f64>) -> Result<Self> {
        check_shape(
            "LinearRag::new: W₂ rows (d_y)",
            (w1.nrows(), w2.ncols()),
            w2.dim(),
        )?;
        TokenLayout::new(w1.ncols(), w2.ncols(), w1.nrows())?;
        Ok(Self { w1, w2 })
    }

    /// The zero predictor, the starting point of the paper's projection-interface experiments.
    pub fn zeros(layout: TokenLayout) -> Self {
        Self {
            w1: Array2::zeros((layout.dy, layout.d1)),
            w2: Array2::zeros((layout.dy, layout.d2)),
        }
    }

    /// Splits a joint W = [W₁ W₂] (d_y × (d₁+d₂)) at column d₁.
    pub fn from_joint(w: ArrayView2<f64>, d1: usize) -> Result<Self> {
        if d1 == 0 || d1 >= w.ncols() {
            return Err(Error::Shape {
                what: "LinearRag::from_joint",
                expected: format!("0 < d₁ < {}", w.ncols()),
                got: format!("d₁ = {d1}"),
            });
        }
        Self::new(
            w.slice(s![.., ..d1]).to_owned(),
            w.slice(s![.., d1..]).to_owned(),
        )
    }

    /// The token layout this predictor reads.
    pub fn layout(&self) -> TokenLayout {
        TokenLayout {
            d1: self.w1.ncols(),
            d2: self.w2.ncols(),
            dy: self.w1.nrows(),
        }
    }

    /// The joint matrix W = [W₁ W₂] (d_y × (d₁+d₂)), so that y = W x with x = (x₁, x₂).
    pub fn joint(&self) -> Array2<f64> {
        ndarray::concatenate(Axis(1), &[self.w1.view(), self.w2.view()])
            .expect("W₁ and W₂ have equal row counts by construction")
    }

    /// Predictions W₁x₁ⁱ + W₂x₂ⁱ for every token, one row each (n × d_y).
    pub fn predict(&self, tokens: &Tokens) -> Result<Array2<f64>> {
        tokens.require_layout("LinearRag::predict", self.layout())?;
        Ok(tokens.x1().dot(&self.w1.t()) + tokens.x2().dot(&self.w2.t()))
    }

    /// Residuals rⁱ = W₁x₁ⁱ + W₂x₂ⁱ − yⁱ of the context tokens (n × d_y), the value vectors of App. Eq. 8.
    pub fn residuals(&self, context: &Tokens) -> Result<Array2<f64>> {
        Ok(self.predict(context)? - context.y())
    }

    /// Frobenius norm of W = [W₁ W₂], used to scale error tolerances.
    pub fn norm(&self) -> f64 {
        (self
            .w1
            .iter()
            .chain(self.w2.iter())
            .map(|v| v * v)
            .sum::<f64>())
        .sqrt()
    }
}
