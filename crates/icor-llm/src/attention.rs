//! Causal grouped-query self-attention (Ainslie et al. 2023) with RoPE and a KV cache.
//!
//! Query head `h` reads KV head `h / g` (`g = n_heads / n_kv_heads`, transformers'
//! `repeat_kv` order). Instead of repeating K/V, the `g` query heads of a group are stacked
//! along the sequence axis, so one matmul per KV head serves the whole group. In inference on
//! the CPU backend the whole of it runs as one kernel instead ([`crate::fused_attention`]); in
//! LoRA training there the Q/K/V split with RoPE and the masked softmax each run as one pass
//! with its own backward, between burn's differentiable products.

use burn::tensor::activation::softmax;
use burn::tensor::{Device, FloatDType, Tensor};
use icor_kernels::Precision;

use icor_kernels::burn_ops::{masked_softmax_tracked, qkv_heads, qkv_heads_tracked};
use icor_kernels::rowwise::QkvShape;

use super::fused_attention::fused_attention;
use super::kv_cache::KvCache;
use super::linear::{FrozenLinear, LowRank, add_low_rank};
use super::positions::Positions;
use super::rope::Rope;

/// The projections of one attention layer.
#[derive(Debug, Clone)]
pub struct Attention {
    /// Q, K and V as one product (`[d, (n_heads + 2·n_kv_heads)·head_dim]`, columns Q | K | V):
    /// one wide product per layer instead of three.
    pub qkv: FrozenLinear,
    pub o: FrozenLinear,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// How keys and values are kept where the CPU kernel reads them ([`Self::stored`]).
    pub kv: Precision,
}

/// Low-rank terms added to the Q, K and V projections of one layer.
#[derive(Debug, Clone, Default)]
pub struct QkvExtra {
    pub q: Vec<LowRank>,
    pub k: Vec<LowRank>,
    pub v: Vec<LowRank>,
}

impl Attention {
    /// `x: [b, t, d]` at `pos` (cache columns `pos.start..pos.start + t`); appends to
    /// `cache` when given.
    pub fn forward(
        &self,
        x: Tensor<3>,
        pos: &Positions<'_>,
        rope: &Rope,
        layer: usize,
        cache: Option<&mut KvCache>,
        extra: &QkvExtra,
    ) -> Tensor<3> {
        let y = self.qkv.forward(x.clone(), &[]);
        let plain = extra.q.is_empty() && extra.k.is_empty() && extra.v.is_empty();
        let shape = self.shape(&x);
        let fused = plain
            .then(|| qkv_heads(&y, shape, pos.placement(), rope.host_tables()))
            .flatten();
        let (q, k, v) = match fused {
            Some(heads) => heads,
            None => match self.split_heads_tracked(&y, &x, pos, rope, extra) {
                Some(heads) => heads,
                None => self.split_heads(y, &x, pos, rope, extra),
            },
        };
        self.attend(q, k, v, pos, layer, cache)
    }

    /// [`Self::split_heads`] for LoRA training on the CPU backend: the low-rank terms of the
    /// three parts joined and added to `y` at once, then the split and RoPE in one pass with
    /// its own backward (`icor_kernels::burn_ops::qkv_heads_tracked`, else burn's operations
    /// on the joined sum); `None` without autodiff.
    fn split_heads_tracked(
        &self,
        y: &Tensor<3>,
        x: &Tensor<3>,
        pos: &Positions<'_>,
        rope: &Rope,
        extra: &QkvExtra,
    ) -> Option<(Tensor<4>, Tensor<4>, Tensor<4>)> {
        if !y.is_autodiff() {
            return None;
        }
        let (h, hk) = (self.n_heads, self.n_kv_heads);
        let shape = self.shape(x);
        let y = self.with_low_rank(y.clone(), x, extra);
        let Some(heads) = qkv_heads_tracked(&y, shape, pos.placement(), &rope.shared_tables())
        else {
            // the terms are in `y` already: burn's split of it, with none to add
            return Some(self.split_heads(y, x, pos, rope, &QkvExtra::default()));
        };
        Some((
            heads.clone().narrow(1, 0, h),
            heads.clone().narrow(1, h, hk),
            heads.narrow(1, h + hk, hk),
        ))
    }

    /// The shape of the fused Q/K/V product of `x: [b, t, d]`.
    fn shape(&self, x: &Tensor<3>) -> QkvShape {
        let [b, t, _] = x.dims();
        QkvShape {
            batch: b,
            tokens: t,
            heads: self.n_heads,
            kv_heads: self.n_kv_heads,
            head_dim: self.head_dim,
        }
    }

    /// `y + [ΔQ | ΔK | ΔV](x)`: the three parts' low-rank terms side by side (zeros for a part
    /// without one), added to the joined product at once.
    fn with_low_rank(&self, y: Tensor<3>, x: &Tensor<3>, extra: &QkvExtra) -> Tensor<3> {
        if extra.q.is_empty() && extra.k.is_empty() && extra.v.is_empty() {
            return y;
        }
        let [b, t, width] = y.dims();
        let (dq, dkv) = (
            self.n_heads * self.head_dim,
            self.n_kv_heads * self.head_dim,
        );
        let part = |terms: &[LowRank], n: usize| -> Tensor<2> {
            terms
                .iter()
                .map(|lr| lr.apply(x))
                .reduce(Tensor::add)
                .unwrap_or_else(|| Tensor::zeros([b * t, n], &y.device()))
        };
        let delta = Tensor::cat(
            vec![part(&extra.q, dq), part(&extra.k, dkv), part(&extra.v, dkv)],
            1,
        );
        y.add(delta.reshape([b, t, width]))
    }

    /// `y`, the fused Q/K/V product of `x`, with the low-rank terms added, split into
    /// `q: [b, h, t, hd]` and `k`, `v: [b, hk, t, hd]`, Q and K rotated at `pos` (burn's
    /// operations; the kernel path is [`qkv_heads`]).
    fn split_heads(
        &self,
        y: Tensor<3>,
        x: &Tensor<3>,
        pos: &Positions<'_>,
        rope: &Rope,
        extra: &QkvExtra,
    ) -> (Tensor<4>, Tensor<4>, Tensor<4>) {
        let [b, t, _] = x.dims();
        let (h, hk, hd) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let (dq, dkv) = (h * hd, hk * hd);
        let q = add_low_rank(y.clone().slice([0..b, 0..t, 0..dq]), x, &extra.q);
        let k = add_low_rank(y.clone().slice([0..b, 0..t, dq..dq + dkv]), x, &extra.k);
        let v = add_low_rank(y.slice([0..b, 0..t, dq + dkv..dq + 2 * dkv]), x, &extra.v);
        let q = rope.apply_at(q.reshape([b, t, h, hd]).swap_dims(1, 2), pos);
        let k = rope.apply_at(k.reshape([b, t, hk, hd]).swap_dims(1, 2), pos);
        let v = v.reshape([b, t, hk, hd]).swap_dims(1, 2);
        (q, k, v)
    }

    /// `k`, `v` as the attention kernel keeps and reads them: rounded to f16 when [`Self::kv`]
    /// says so and the kernel runs (the CPU backend, no gradients), so that a cached decoding
    /// step and a pass over the whole sequence read the same values; as given otherwise.
    fn stored(&self, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let kernel = !k.is_autodiff() && k.device() == Device::flex();
        if self.kv == Precision::F16 && kernel {
            (k.cast(FloatDType::F16), v.cast(FloatDType::F16))
        } else {
            (k, v)
        }
    }

    /// Attention of `q` over the cache extended by `k`, `v`, through the output projection.
    fn attend(
        &self,
        q: Tensor<4>,
        k: Tensor<4>,
        v: Tensor<4>,
        pos: &Positions<'_>,
        layer: usize,
        cache: Option<&mut KvCache>,
    ) -> Tensor<3> {
        let [b, _, t, _] = q.dims();
        let (h, hk, hd) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let g = h / hk;
        let (k, v) = self.stored(k, v);
        let (k, v) = match cache {
            Some(c) => c.append(layer, k, v),
            None => (k, v),
        };
        let scale = 1.0 / (hd as f32).sqrt();
        if let Some(out) = fused_attention(&q, &k, &v, pos, scale) {
            return self.o.forward(out, &[]);
        }
        // burn's products take the query's dtype on both sides.
        let (k, v) = (k.cast(q.dtype()), v.cast(q.dtype()));
        let tk = k.dims()[2];
        // [b, hk, g·t, hd]: query heads of one group stacked along the sequence axis.
        let q = q.reshape([b, hk, g * t, hd]);
        let scores = q.matmul(k.swap_dims(2, 3));
        let probs = match masked_softmax_tracked(&scores, g, pos.placement(), scale) {
            Some(probs) => probs,
            None => {
                let scores = scores.mul_scalar(scale);
                let scores = match pos.bias(b, g, t, tk, &scores.device()) {
                    Some(bias) => scores.add(bias),
                    None => scores,
                };
                softmax(scores, 3)
            }
        };
        let out = probs.matmul(v); // [b, hk, g·t, hd]
        let out = out
            .reshape([b, h, t, hd])
            .swap_dims(1, 2)
            .reshape([b, t, h * hd]);
        self.o.forward(out, &[])
    }
}
