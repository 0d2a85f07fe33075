//! Key/value cache for incremental decoding: per layer, keys and values
//! `[batch, kv_heads, len, head_dim]` after RoPE, and how many padding columns each row
//! starts with when it holds left-padded prompts of different lengths
//! ([`crate::positions`]).
//!
//! Without gradients, a layer's keys and values live in buffers with room for
//! [`RESERVE`] more columns (`[batch, kv_heads, capacity, head_dim]`): a decoding step writes
//! its column in place (burn-flex's `slice_assign` on a buffer nothing else holds) and hands
//! out views of the first `len` columns, instead of concatenating the whole cache into a new
//! tensor every step. The buffer doubles when full. Tensors that carry gradients keep the
//! concatenation, which autodiff differentiates.

use burn::tensor::Tensor;

/// Free columns a buffer is created with beyond what it holds (a decoded answer's tokens).
pub const RESERVE: usize = 64;

/// One layer's keys and values: the first `len` columns of `k` and `v` are filled.
#[derive(Debug, Clone)]
pub(crate) struct LayerKv {
    k: Tensor<4>,
    v: Tensor<4>,
    len: usize,
}

impl LayerKv {
    /// The filled columns, as views.
    fn filled(&self) -> (Tensor<4>, Tensor<4>) {
        if self.k.dims()[2] == self.len {
            return (self.k.clone(), self.v.clone());
        }
        (
            self.k.clone().narrow(2, 0, self.len),
            self.v.clone().narrow(2, 0, self.len),
        )
    }

    /// `k`, `v` in a buffer of `len + RESERVE` columns (no gradients), or as given.
    fn new(k: Tensor<4>, v: Tensor<4>) -> Self {
        let len = k.dims()[2];
        if k.is_autodiff() {
            return Self { k, v, len };
        }
        Self {
            k: with_capacity(k, len + RESERVE),
            v: with_capacity(v, len + RESERVE),
            len,
        }
    }

    /// Appends `k`, `v` (`[b, hk, t, hd]`): in place where the buffer has room.
    fn append(self, k: Tensor<4>, v: Tensor<4>) -> Self {
        let t = k.dims()[2];
        let end = self.len + t;
        if k.is_autodiff() || self.k.is_autodiff() {
            let (pk, pv) = self.filled();
            return Self::new(Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2));
        }
        let cap = self.k.dims()[2];
        let (bk, bv) = if end <= cap {
            (self.k, self.v)
        } else {
            let (pk, pv) = (self.k, self.v);
            let grown = (2 * cap).max(end + RESERVE);
            (
                with_capacity(pk.narrow(2, 0, self.len), grown),
                with_capacity(pv.narrow(2, 0, self.len), grown),
            )
        };
        let [b, hk, _, hd] = bk.dims();
        let at = [0..b, 0..hk, self.len..end, 0..hd];
        Self {
            k: bk.slice_assign(at.clone(), k),
            v: bv.slice_assign(at, v),
            len: end,
        }
    }
}

/// `x: [b, hk, n, hd]` copied into the first `n` columns of a zero buffer of `cap` columns,
/// in `x`'s dtype (f32, or f16 where the model keeps its cache so).
fn with_capacity(x: Tensor<4>, cap: usize) -> Tensor<4> {
    let [b, hk, n, hd] = x.dims();
    Tensor::zeros([b, hk, cap, hd], (&x.device(), x.dtype()))
        .slice_assign([0..b, 0..hk, 0..n, 0..hd], x)
}

/// Cached keys and values of every layer.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    pub(crate) layers: Vec<Option<LayerKv>>,
    len: usize,
    pads: Option<Vec<usize>>,
}

impl KvCache {
    pub fn new(n_layers: usize) -> Self {
        Self {
            layers: vec![None; n_layers],
            len: 0,
            pads: None,
        }
    }

    /// An empty cache for a batch of prompts left-padded to one length: row `r` starts with
    /// `pads[r]` padding columns, which no query reads and which do not count as positions.
    pub fn left_padded(n_layers: usize, pads: Vec<usize>) -> Self {
        Self {
            pads: Some(pads),
            ..Self::new(n_layers)
        }
    }

    /// Padding columns per row (`None`: no row is padded).
    pub fn pads(&self) -> Option<&[usize]> {
        self.pads.as_deref()
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends this step's keys/values for `layer` and returns the full sequences.
    pub(crate) fn append(
        &mut self,
        layer: usize,
        k: Tensor<4>,
        v: Tensor<4>,
    ) -> (Tensor<4>, Tensor<4>) {
        let kv = match self.layers[layer].take() {
            None => LayerKv::new(k, v),
            Some(kv) => kv.append(k, v),
        };
        let filled = kv.filled();
        self.layers[layer] = Some(kv);
        filled
    }

    /// Advances the position counter after all layers appended `n` positions.
    pub(crate) fn advance(&mut self, n: usize) {
        self.len += n;
    }

    /// Advances the position counter by `n` after a prefill split across several
    /// [`crate::Llm::forward_layers`] calls; every layer must then hold `len + n` positions.
    pub fn advance_by(&mut self, n: usize) -> crate::Result<()> {
        let want = self.len + n;
        for (l, kv) in self.layers.iter().enumerate() {
            let have = kv.as_ref().map_or(0, |kv| kv.len);
            if have != want {
                return Err(crate::Error::Llm(format!(
                    "KV cache layer {l} holds {have} positions, expected {want}"
                )));
            }
        }
        self.len = want;
        Ok(())
    }

    /// A cache for batch rows `rows` (in that order) at this cache's length and padding,
    /// holding no layer yet: the interface layers' cache of rows whose frozen layers live in
    /// another cache.
    pub(crate) fn empty_rows(&self, rows: &[usize]) -> Self {
        Self {
            layers: vec![None; self.layers.len()],
            len: self.len,
            pads: self
                .pads
                .as_ref()
                .map(|p| rows.iter().map(|&r| p[r]).collect()),
        }
    }

    /// The cache of batch rows `rows` only (in that order).
    pub fn select_rows(&self, rows: &[usize]) -> Self {
        let pick = |t: &Tensor<4>| {
            let idx = crate::tensor_util::index_tensor(rows, &t.device());
            t.clone().select(0, idx)
        };
        Self {
            layers: self
                .layers
                .iter()
                .map(|kv| {
                    kv.as_ref().map(|kv| LayerKv {
                        k: pick(&kv.k),
                        v: pick(&kv.v),
                        len: kv.len,
                    })
                })
                .collect(),
            len: self.len,
            pads: self
                .pads
                .as_ref()
                .map(|p| rows.iter().map(|&r| p[r]).collect()),
        }
    }
}
