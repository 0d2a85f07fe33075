//! Key/value cache for incremental decoding: per layer, keys and values
//! `[batch, kv_heads, len, head_dim]` after RoPE.

use burn::tensor::Tensor;

/// Cached keys and values of every layer.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    pub(crate) layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    len: usize,
}

impl KvCache {
    pub fn new(n_layers: usize) -> Self {
        Self {
            layers: vec![None; n_layers],
            len: 0,
        }
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
        let (k, v) = match self.layers[layer].take() {
            None => (k, v),
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
        };
        self.layers[layer] = Some((k.clone(), v.clone()));
        (k, v)
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
            let have = kv.as_ref().map_or(0, |(k, _)| k.dims()[2]);
            if have != want {
                return Err(crate::Error::Llm(format!(
                    "KV cache layer {l} holds {have} positions, expected {want}"
                )));
            }
        }
        self.len = want;
        Ok(())
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
                .map(|kv| kv.as_ref().map(|(k, v)| (pick(k), pick(v))))
                .collect(),
            len: self.len,
        }
    }

    /// The cache with every batch row repeated `times` times (row `i` becomes rows
    /// `i·times..(i+1)·times`), for decoding several interfaces from one shared prefix.
    pub fn repeat_rows(&self, times: usize) -> Self {
        let rep = |t: &Tensor<4>| {
            let [b, h, n, d] = t.dims();
            t.clone()
                .reshape([b, 1, h, n, d])
                .repeat_dim(1, times)
                .reshape([b * times, h, n, d])
        };
        Self {
            layers: self
                .layers
                .iter()
                .map(|kv| kv.as_ref().map(|(k, v)| (rep(k), rep(v))))
                .collect(),
            len: self.len,
        }
    }
}
