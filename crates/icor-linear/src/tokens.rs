//! Tokens e = (x₁, x₂, y) of the in-context regression problem (§3.3, App. A).
//!
//! A set of tokens is stored as the rows of an `n × (d₁ + d₂ + d_y)` matrix, the layout the
//! LSA layer of Eq. 2 acts on. Context tokens carry the target y; query tokens carry 0 in the
//! y-slot (App. A: e_{N+1} = (x₁^{N+1}, x₂^{N+1}, 0)).

use std::ops::Range;

use ndarray::{Array2, ArrayView2, Axis, s};

use crate::error::{Error, Result, check_shape};

/// Slot sizes of a token e = (x₁, x₂, y) ∈ R^{d₁ + d₂ + d_y}.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenLayout {
    /// Dimension of the query-side feature x₁.
    pub d1: usize,
    /// Dimension of the retrieval-derived feature x₂.
    pub d2: usize,
    /// Dimension of the target y.
    pub dy: usize,
}

impl TokenLayout {
    /// A layout with every slot at least one wide.
    pub fn new(d1: usize, d2: usize, dy: usize) -> Result<Self> {
        for (name, v) in [("d₁", d1), ("d₂", d2), ("d_y", dy)] {
            if v == 0 {
                return Err(Error::Parameter {
                    what: "TokenLayout::new",
                    name: "slot width",
                    value: format!("{name} = 0"),
                    reason: "every slot of e = (x₁, x₂, y) must be at least one wide",
                });
            }
        }
        Ok(Self { d1, d2, dy })
    }

    /// Width of a whole token, D = d₁ + d₂ + d_y.
    pub fn dim(&self) -> usize {
        self.d1 + self.d2 + self.dy
    }

    /// Width of the joint input x = (x₁, x₂).
    pub fn dx(&self) -> usize {
        self.d1 + self.d2
    }

    /// Columns of the x₁ slot.
    pub fn x1(&self) -> Range<usize> {
        0..self.d1
    }

    /// Columns of the x₂ slot.
    pub fn x2(&self) -> Range<usize> {
        self.d1..self.dx()
    }

    /// Columns of the joint input x = (x₁, x₂).
    pub fn x(&self) -> Range<usize> {
        0..self.dx()
    }

    /// Columns of the y slot.
    pub fn y(&self) -> Range<usize> {
        self.dx()..self.dim()
    }
}

/// A set of tokens, one per row, with their layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Tokens {
    layout: TokenLayout,
    data: Array2<f64>,
}

impl Tokens {
    /// Tokens e_i = (x₁ⁱ, x₂ⁱ, yⁱ) from row-matrices `x1` (n×d₁), `x2` (n×d₂), `y` (n×d_y).
    pub fn from_parts(
        x1: ArrayView2<f64>,
        x2: ArrayView2<f64>,
        y: ArrayView2<f64>,
    ) -> Result<Self> {
        let n = x1.nrows();
        check_shape("Tokens::from_parts: x₂ rows", (n, x2.ncols()), x2.dim())?;
        check_shape("Tokens::from_parts: y rows", (n, y.ncols()), y.dim())?;
        let layout = TokenLayout::new(x1.ncols(), x2.ncols(), y.ncols())?;
        let data = ndarray::concatenate(Axis(1), &[x1, x2, y]).map_err(|e| Error::Shape {
            what: "Tokens::from_parts",
            expected: "equal row counts".into(),
            got: e.to_string(),
        })?;
        Ok(Self { layout, data })
    }

    /// Query tokens (x₁, x₂, 0): the y-slot starts at zero (App. A).
    pub fn queries(x1: ArrayView2<f64>, x2: ArrayView2<f64>, dy: usize) -> Result<Self> {
        let y = Array2::zeros((x1.nrows(), dy));
        Self::from_parts(x1, x2, y.view())
    }

    /// Wraps a raw `n × D` token matrix.
    pub fn from_matrix(layout: TokenLayout, data: Array2<f64>) -> Result<Self> {
        check_shape(
            "Tokens::from_matrix",
            (data.nrows(), layout.dim()),
            data.dim(),
        )?;
        Ok(Self { layout, data })
    }

    /// The slot layout.
    pub fn layout(&self) -> TokenLayout {
        self.layout
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.data.nrows()
    }

    /// True when there is no token.
    pub fn is_empty(&self) -> bool {
        self.data.nrows() == 0
    }

    /// The raw `n × D` matrix, one token per row.
    pub fn matrix(&self) -> ArrayView2<'_, f64> {
        self.data.view()
    }

    /// Consumes the tokens into their raw matrix.
    pub fn into_matrix(self) -> Array2<f64> {
        self.data
    }

    /// Rows of x₁.
    pub fn x1(&self) -> ArrayView2<'_, f64> {
        self.data.slice(s![.., self.layout.x1()])
    }

    /// Rows of x₂.
    pub fn x2(&self) -> ArrayView2<'_, f64> {
        self.data.slice(s![.., self.layout.x2()])
    }

    /// Rows of the joint input x = (x₁, x₂).
    pub fn x(&self) -> ArrayView2<'_, f64> {
        self.data.slice(s![.., self.layout.x()])
    }

    /// Rows of the y-slot.
    pub fn y(&self) -> ArrayView2<'_, f64> {
        self.data.slice(s![.., self.layout.y()])
    }

    /// Errors unless there is at least one token.
    pub(crate) fn require_nonempty(&self, what: &'static str) -> Result<()> {
        if self.is_empty() {
            Err(Error::EmptyContext { what })
        } else {
            Ok(())
        }
    }

    /// Errors unless `other` has the same layout.
    pub(crate) fn require_layout(&self, what: &'static str, layout: TokenLayout) -> Result<()> {
        if self.layout == layout {
            Ok(())
        } else {
            Err(Error::Shape {
                what,
                expected: format!(
                    "token layout (d₁, d₂, d_y) = ({}, {}, {})",
                    layout.d1, layout.d2, layout.dy
                ),
                got: format!(
                    "({}, {}, {})",
                    self.layout.d1, self.layout.d2, self.layout.dy
                ),
            })
        }
    }
}
