//! Eq. 3: the squared loss of the unified predictor over the context.

use crate::error::Result;
use crate::predictor::LinearRag;
use crate::tokens::Tokens;

/// Eq. 3: L(W₁, W₂) = (1 / 2N) Σᵢ ‖W₁x₁ⁱ + W₂x₂ⁱ − yⁱ‖².
pub fn loss(model: &LinearRag, context: &Tokens) -> Result<f64> {
    context.require_nonempty("loss (Eq. 3)")?;
    let r = model.residuals(context)?;
    Ok(r.iter().map(|v| v * v).sum::<f64>() / (2.0 * context.len() as f64))
}
