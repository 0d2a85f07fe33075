//! Greedy decoding with a KV cache, stop tokens and a new-token limit.

use burn::tensor::Tensor;

use super::adapt::Adaptation;
use super::kv_cache::KvCache;
use super::model::Llm;
use super::tensor_util::{ids_tensor, to_vec_i64};
use crate::{Error, Result};

/// Decoding limits.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    /// Generation ends after emitting one of these (the stop token is not returned).
    pub stop_ids: Vec<u32>,
}

impl Llm {
    /// Index of the largest entry of each row of `[b, t, vocab]` logits at position `t - 1`.
    fn argmax_last(&self, logits: Tensor<3>) -> Vec<u32> {
        let [b, t, v] = logits.dims();
        let last = logits.narrow(1, t - 1, 1).reshape([b, v]);
        to_vec_i64(last.argmax(1).reshape([b, 1]))
            .into_iter()
            .map(|i| i as u32)
            .collect()
    }

    /// Greedy continuation of `prompt` (token ids): prefill once, then one cached step per
    /// token. Returns the new tokens without the stop token.
    pub fn generate_greedy(
        &self,
        prompt: &[u32],
        opts: &GenerateOptions,
        adapt: &Adaptation<'_>,
    ) -> Result<Vec<u32>> {
        if prompt.is_empty() {
            return Err(Error::Llm("empty prompt".into()));
        }
        self.check_ids(prompt)?;
        let mut cache = KvCache::new(self.config.n_layers);
        let mut out = Vec::new();
        if opts.max_new_tokens == 0 {
            return Ok(out);
        }
        let hidden = self.forward_hidden(
            ids_tensor(prompt, 1, prompt.len(), self.device()),
            Some(&mut cache),
            adapt,
        )?;
        let t = hidden.dims()[1];
        let mut next = self.argmax_last(self.logits(hidden.narrow(1, t - 1, 1)))[0];
        loop {
            if opts.stop_ids.contains(&next) {
                break;
            }
            out.push(next);
            if out.len() >= opts.max_new_tokens {
                break;
            }
            let hidden = self.forward_hidden(
                ids_tensor(&[next], 1, 1, self.device()),
                Some(&mut cache),
                adapt,
            )?;
            next = self.argmax_last(self.logits(hidden))[0];
        }
        Ok(out)
    }
}
