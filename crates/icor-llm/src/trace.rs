//! A forward pass that also reads each layer's attention output at one position: the
//! quantity Dai et al. (2023) compare between in-context learning and fine-tuning
//! (SimAOU, the similarity of attention-output updates). `icor rag mechanism` reads it.

use burn::tensor::Tensor;

use super::adapt::Adaptation;
use super::model::Llm;
use super::positions::Positions;
use crate::{Error, Result};

/// What [`Llm::forward_traced`] returns.
#[derive(Debug, Clone)]
pub struct Traced {
    /// The residual stream after the last layer (no final norm), `[b, t, d]`.
    pub stream: Tensor<3>,
    /// Per layer of the traced range, the attention sublayer's output (after `W_O`, before
    /// it joins the residual) at position `at`, `[b, d]`.
    pub attn_out: Vec<Tensor<2>>,
}

impl Llm {
    /// Layers `layers` on the stream `x: [b, t, d]` entering `layers.start` (no KV cache),
    /// recording each attention sublayer's output at position `at`.
    pub fn forward_traced(
        &self,
        x: Tensor<3>,
        layers: std::ops::Range<usize>,
        at: usize,
        adapt: &Adaptation<'_>,
    ) -> Result<Traced> {
        let [b, t, d] = x.dims();
        adapt.check_batch(&self.config, b)?;
        if at >= t {
            return Err(Error::Llm(format!(
                "traced position {at} outside {t} tokens"
            )));
        }
        if layers.end > self.config.n_layers || layers.start > layers.end {
            return Err(Error::Llm(format!(
                "layers {layers:?} outside the model's {}",
                self.config.n_layers
            )));
        }
        let mut x = x;
        let mut attn_out = Vec::with_capacity(layers.len());
        for l in layers {
            let blk = &self.blocks()[l];
            let extra = adapt.layer_terms(l);
            let a = blk.attn.forward(
                blk.attn_norm.forward(x.clone()),
                &Positions::shared(0),
                self.rope(),
                l,
                None,
                &extra,
            );
            attn_out.push(a.clone().slice([0..b, at..at + 1, 0..d]).reshape([b, d]));
            let h = x.add(a);
            let m = blk.mlp.forward(blk.ffn_norm.forward(h.clone()));
            x = h.add(m);
        }
        Ok(Traced {
            stream: x,
            attn_out,
        })
    }
}
