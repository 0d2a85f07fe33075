//! One error enum for the crate, each variant carrying the context needed to find the fault.

/// Errors of the linear theory crate. Nothing in this crate panics on caller-supplied shapes.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    /// A matrix or vector has a shape that does not fit the token layout or another operand.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    Shape {
        what: &'static str,
        expected: String,
        got: String,
    },
    /// A computation that averages over the context (Eq. 3, Eq. 4) was given no context token.
    #[error("empty context in {what}: at least one context token (N ≥ 1) is needed")]
    EmptyContext { what: &'static str },
    /// A scalar parameter is outside its domain (a step size that is not finite, for example).
    #[error("invalid parameter {name} = {value} in {what}: {reason}")]
    Parameter {
        what: &'static str,
        name: &'static str,
        value: String,
        reason: &'static str,
    },
    /// A numerical routine (eigen-decomposition) did not give a usable answer.
    #[error("numerical failure in {what}: {reason}")]
    Numerical { what: &'static str, reason: String },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Checks that `got` has the `expected` shape; the error names `what`.
#[track_caller]
pub(crate) fn check_shape(
    what: &'static str,
    expected: (usize, usize),
    got: (usize, usize),
) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::Shape {
            what,
            expected: format!("{}×{}", expected.0, expected.1),
            got: format!("{}×{}", got.0, got.1),
        })
    }
}

/// Checks that a step size is finite.
pub(crate) fn check_eta(what: &'static str, eta: f64) -> Result<()> {
    if eta.is_finite() {
        Ok(())
    } else {
        Err(Error::Parameter {
            what,
            name: "η",
            value: eta.to_string(),
            reason: "the step size must be a finite number",
        })
    }
}
