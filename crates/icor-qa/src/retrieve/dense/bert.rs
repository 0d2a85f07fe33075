//! The BERT encoder forward pass in burn (Hugging Face `BertModel`, post-LayerNorm blocks,
//! erf GELU, absolute positions, single segment), returning the last hidden states.
//!
//! Shapes: `B` sequences padded to `L` tokens, hidden width `H`, `A` heads of width `H / A`.

use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use icor_kernels::Visible;
use icor_kernels::burn_ops::{self, attention};

use super::config::BertConfig;
use super::weights::{BertWeights, Linear, Norm};

/// A loaded BERT encoder.
pub struct Bert {
    /// Hyper-parameters.
    pub config: BertConfig,
    /// Weights on `device`.
    pub weights: BertWeights,
    /// Where the tensors live.
    pub device: Device,
}

/// `x · W + b` for `x: [N, in]` (the packed product where it applies).
fn linear(x: Tensor<2>, layer: &Linear) -> Tensor<2> {
    if let Some(y) = layer.packed.as_ref().and_then(|p| p.forward(&x)) {
        return y;
    }
    x.matmul(layer.weight.clone()) + layer.bias.clone().unsqueeze::<2>()
}

/// LayerNorm over the last axis of `x + residual` (`x: [N, H]`; biased variance, as
/// PyTorch), in one pass where `icor_kernels` applies.
fn layer_norm(x: Tensor<2>, residual: Option<Tensor<2>>, norm: &Norm, eps: f64) -> Tensor<2> {
    let (gamma, beta) = &norm.host;
    if let Some(y) = burn_ops::layer_norm(&x, residual.as_ref(), gamma, beta, eps as f32) {
        return y;
    }
    let x = match residual {
        Some(r) => x + r,
        None => x,
    };
    let mean = x.clone().mean_dim(1);
    let centered = x - mean;
    let variance = centered.clone().powi_scalar(2).mean_dim(1);
    centered / variance.add_scalar(eps).sqrt() * norm.gamma.clone().unsqueeze::<2>()
        + norm.beta.clone().unsqueeze::<2>()
}

impl Bert {
    /// Last hidden states `[B, L, H]` of `ids` (`B` rows of `L` token ids, right-padded) with
    /// `mask` (1 for a token, 0 for padding), both row-major `B × L`.
    pub fn forward(&self, ids: &[u32], mask: &[f32], batch: usize, len: usize) -> Tensor<3> {
        let c = &self.config;
        let (h, heads, head_dim) = (c.hidden_size, c.num_attention_heads, c.head_dim());
        let w = &self.weights;
        let ids: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [batch * len]), &self.device);
        let words = w
            .word_embeddings
            .clone()
            .select(0, ids)
            .reshape([batch, len, h]);
        let positions = w
            .position_embeddings
            .clone()
            .narrow(0, 0, len)
            .unsqueeze::<3>();
        let embedded = words + positions + w.token_type_embedding.clone().unsqueeze::<3>();
        let mut x = layer_norm(
            embedded.reshape([batch * len, h]),
            None,
            &w.embeddings_norm,
            c.layer_norm_eps,
        );

        // Additive attention bias: 0 on tokens, the most negative f32 on padding (as HF does).
        let bias: Vec<f32> = mask
            .iter()
            .map(|&m| if m > 0.0 { 0.0 } else { f32::MIN })
            .collect();
        let bias = Tensor::<2>::from_data(TensorData::new(bias, [batch, len]), &self.device)
            .reshape([batch, 1, 1, len]);
        let scale = 1.0 / (head_dim as f64).sqrt();
        let split = |t: Tensor<2>| t.reshape([batch, len, heads, head_dim]).swap_dims(1, 2);
        // Tokens per row (the mask is 1 on a prefix of each row): the columns the fused
        // attention kernel reads, where it applies.
        let lens: Vec<usize> = mask
            .chunks_exact(len.max(1))
            .map(|row| row.iter().filter(|&&m| m > 0.0).count())
            .collect();

        for layer in &w.layers {
            let q = split(linear(x.clone(), &layer.query));
            let k = split(linear(x.clone(), &layer.key));
            let v = split(linear(x.clone(), &layer.value));
            let fused = attention(&q, &k, &v, Visible::Prefix { len: &lens }, scale as f32);
            let context = match fused {
                Some(context) => context.reshape([batch * len, h]),
                None => {
                    let scores = q.matmul(k.transpose()).mul_scalar(scale) + bias.clone();
                    softmax(scores, 3)
                        .matmul(v)
                        .swap_dims(1, 2)
                        .reshape([batch * len, h])
                }
            };
            let attended = linear(context, &layer.attention_out);
            x = layer_norm(attended, Some(x), &layer.attention_norm, c.layer_norm_eps);
            let hidden = linear(x.clone(), &layer.intermediate);
            let hidden = burn_ops::gelu_erf(&hidden).unwrap_or_else(|| gelu(hidden));
            let out = linear(hidden, &layer.output);
            x = layer_norm(out, Some(x), &layer.output_norm, c.layer_norm_eps);
        }
        x.reshape([batch, len, h])
    }
}
