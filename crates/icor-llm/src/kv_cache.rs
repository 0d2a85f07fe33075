//! Key/value cache for incremental decoding: per layer, keys and values
//! `[batch, kv_heads, len, head_dim]` after RoPE, and how many padding columns each row
//! starts with when it holds left-padded prompts of different lengths
//! ([`crate::positions`]).

use burn::tensor::Tensor;

/// Cached keys and values of every layer.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    pub(crate) layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
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
            pads: self
                .pads
                .as_ref()
                .map(|p| rows.iter().map(|&r| p[r]).collect()),
        }
    }
}
