//! Softmax attention (Eq. 1) with H heads, one layer, keys/values from the context only.

use burn::module::{Module, Param};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};

use super::init::variance_scaling;
use super::{Input, Params, kv_input, lin, readout};

/// H-head softmax attention; each head has key size D.
#[derive(Module, Debug)]
pub struct SoftmaxAttention {
    pub w_q: Param<Tensor<2>>,
    pub w_k: Param<Tensor<2>>,
    pub w_v: Param<Tensor<2>>,
    pub p: Param<Tensor<2>>,
    pub heads: usize,
}

impl SoftmaxAttention {
    /// Seeded init. The softmax model starts at a larger scale than LSA (0.02), since attention
    /// logits near zero make every head average the context uniformly.
    pub fn init(d: usize, heads: usize, seed: u64, device: &Device) -> Self {
        let hk = heads * d;
        Self {
            w_q: variance_scaling(d, hk, 0.02, seed, 21, device),
            w_k: variance_scaling(d, hk, 0.02, seed, 22, device),
            w_v: variance_scaling(d, hk, 0.02, seed, 23, device),
            p: variance_scaling(hk, d, 0.02, seed, 24, device),
            heads,
        }
    }

    /// One prediction per task.
    pub fn predict(&self, input: &Input) -> Tensor<1> {
        let h = input.tokens.clone();
        let kv = kv_input(&h, input);
        let [b, t, d] = h.dims();
        let m = kv.dims()[1];
        let split = |x: Tensor<3>, len: usize| x.reshape([b, len, self.heads, d]).swap_dims(1, 2); // [B, H, len, d]
        let q = split(lin(h.clone(), self.w_q.val()), t);
        let k = split(lin(kv.clone(), self.w_k.val()), m);
        let v = split(lin(kv, self.w_v.val()), m);
        let scores = q.matmul(k.swap_dims(2, 3)) / (d as f64).sqrt();
        let attn = softmax(scores, 3).matmul(v); // [B, H, T, d]
        let merged = attn.swap_dims(1, 2).reshape([b, t, self.heads * d]);
        readout(h + lin(merged, self.p.val()))
    }
}

impl Params for SoftmaxAttention {
    fn params(&self) -> Vec<&Param<Tensor<2>>> {
        vec![&self.w_q, &self.w_k, &self.w_v, &self.p]
    }
}
