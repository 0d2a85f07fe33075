//! One pre-norm decoder block: `h = x + Attn(RMSNorm(x))`, `y = h + MLP(RMSNorm(h))`.

use burn::tensor::Tensor;

use super::attention::{Attention, QkvExtra};
use super::kv_cache::KvCache;
use super::mlp::SwiGlu;
use super::norm::RmsNorm;
use super::positions::Positions;
use super::rope::Rope;

#[derive(Debug, Clone)]
pub struct Block {
    pub attn_norm: RmsNorm,
    pub attn: Attention,
    pub ffn_norm: RmsNorm,
    pub mlp: SwiGlu,
}

impl Block {
    pub fn forward(
        &self,
        x: Tensor<3>,
        pos: &Positions<'_>,
        rope: &Rope,
        layer: usize,
        cache: Option<&mut KvCache>,
        extra: &QkvExtra,
    ) -> Tensor<3> {
        let a = self.attn.forward(
            self.attn_norm.forward(x.clone()),
            pos,
            rope,
            layer,
            cache,
            extra,
        );
        let h = x.add(a);
        let m = self.mlp.forward(self.ffn_norm.forward(h.clone()));
        h.add(m)
    }
}
