//! Eq. 2: the linear self-attention (LSA) layer, and stacks of such layers.
//!
//! e_j ← e_j + Σ_h P_h V_h K_hᵀ q_{h,j}, with V_h = W_{h,V} E, K_h = W_{h,K} E over the N context
//! tokens E (the query tokens are excluded from keys and values, App. A) and q_{h,j} = W_{h,Q} e_j.

use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result, check_shape};
use crate::tokens::Tokens;

/// One attention head θ_h = {P_h, W_{h,V}, W_{h,K}, W_{h,Q}} of Eq. 1–2.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// Output projection P_h (D × d_v).
    pub p: Array2<f64>,
    /// Value projection W_{h,V} (d_v × D).
    pub w_v: Array2<f64>,
    /// Key projection W_{h,K} (d_k × D).
    pub w_k: Array2<f64>,
    /// Query projection W_{h,Q} (d_k × D).
    pub w_q: Array2<f64>,
}

impl Head {
    /// Checks the four matrices against each other and the token width D.
    pub fn new(
        p: Array2<f64>,
        w_v: Array2<f64>,
        w_k: Array2<f64>,
        w_q: Array2<f64>,
    ) -> Result<Self> {
        let d = p.nrows();
        check_shape("Head: W_V (d_v × D)", (p.ncols(), d), w_v.dim())?;
        check_shape("Head: W_K (d_k × D)", (w_k.nrows(), d), w_k.dim())?;
        check_shape("Head: W_Q (d_k × D)", (w_k.nrows(), d), w_q.dim())?;
        Ok(Self { p, w_v, w_k, w_q })
    }

    /// Token width D this head acts on.
    pub fn dim(&self) -> usize {
        self.p.nrows()
    }

    /// Eq. 2 for one head: the update P V Kᵀ q_j of every token row of `tokens` (n × D),
    /// with keys and values from the context rows `context` (N × D).
    fn update(&self, context: ArrayView2<f64>, tokens: ArrayView2<f64>) -> Array2<f64> {
        let v = self.w_v.dot(&context.t()); // V = W_V E   (d_v × N), columns v_i
        let k = self.w_k.dot(&context.t()); // K = W_K E   (d_k × N), columns k_i
        let q = self.w_q.dot(&tokens.t()); // Q = W_Q T   (d_k × n), columns q_j
        // Associate the product the cheaper way; both orders are Eq. 2 exactly in real arithmetic.
        let (n_ctx, n_tok, dk, dv) = (k.ncols(), q.ncols(), k.nrows(), v.nrows());
        let cost_scores_first = n_ctx * n_tok * (dk + dv);
        let cost_outer_first = dv * dk * (n_ctx + n_tok);
        let vkq = if cost_scores_first <= cost_outer_first {
            v.dot(&k.t().dot(&q)) // V (Kᵀ Q): attention scores k_iᵀ q_j first
        } else {
            v.dot(&k.t()).dot(&q) // (V Kᵀ) Q = (Σ_i v_i k_iᵀ) Q
        };
        self.p.dot(&vkq).reversed_axes()
    }
}

/// Eq. 2: one LSA layer with H ≥ 1 heads.
#[derive(Debug, Clone, PartialEq)]
pub struct LsaLayer {
    /// The heads, summed over in Eq. 2.
    pub heads: Vec<Head>,
}

impl LsaLayer {
    /// A layer from its heads; all heads must act on the same token width.
    pub fn new(heads: Vec<Head>) -> Result<Self> {
        let Some(first) = heads.first() else {
            return Err(Error::Parameter {
                what: "LsaLayer::new",
                name: "heads",
                value: "0".into(),
                reason: "a layer needs at least one head",
            });
        };
        let d = first.dim();
        for h in &heads {
            check_shape("LsaLayer::new: head width", (d, h.p.ncols()), h.p.dim())?;
        }
        Ok(Self { heads })
    }

    /// A single-head layer.
    pub fn single(head: Head) -> Self {
        Self { heads: vec![head] }
    }

    /// Token width D.
    pub fn dim(&self) -> usize {
        self.heads[0].dim()
    }

    /// Σ_h P_h V_h K_hᵀ q_{h,j} for every row of `tokens`, keys/values from `context` (Eq. 2).
    pub fn update(&self, context: &Tokens, tokens: &Tokens) -> Result<Array2<f64>> {
        let d = self.dim();
        check_shape(
            "LSA context tokens",
            (context.len(), d),
            context.matrix().dim(),
        )?;
        check_shape("LSA query tokens", (tokens.len(), d), tokens.matrix().dim())?;
        context.require_nonempty("LSA layer (Eq. 2)")?;
        let mut total = Array2::zeros(tokens.matrix().dim());
        for h in &self.heads {
            total += &h.update(context.matrix(), tokens.matrix());
        }
        Ok(total)
    }

    /// Eq. 2 applied to every token: the context tokens and the query tokens are both updated,
    /// with keys and values taken from the context as it was before the layer.
    pub fn forward(&self, context: &Tokens, queries: &Tokens) -> Result<(Tokens, Tokens)> {
        let new_ctx = context.matrix().to_owned() + self.update(context, context)?;
        let new_q = queries.matrix().to_owned() + self.update(context, queries)?;
        Ok((
            Tokens::from_matrix(context.layout(), new_ctx)?,
            Tokens::from_matrix(queries.layout(), new_q)?,
        ))
    }
}

/// K LSA layers applied in sequence (Eq. 7).
#[derive(Debug, Clone, PartialEq)]
pub struct LsaStack {
    /// Layers in application order.
    pub layers: Vec<LsaLayer>,
}

impl LsaStack {
    /// Runs every layer in turn on the context and the queries.
    pub fn forward(&self, context: &Tokens, queries: &Tokens) -> Result<(Tokens, Tokens)> {
        let mut state = (context.clone(), queries.clone());
        for layer in &self.layers {
            state = layer.forward(&state.0, &state.1)?;
        }
        Ok(state)
    }
}
