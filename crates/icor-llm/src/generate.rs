//! Greedy decoding with a KV cache, stop tokens and a new-token limit.

use burn::tensor::Tensor;

use super::adapt::Adaptation;
use super::kv_cache::KvCache;
use super::model::Llm;
use super::tensor_util::{ids_tensor, to_vec_i64};
use crate::{Error, Result};

/// Whether rows decoded over a prefix split above layer 0 share the frozen layers while their
/// tokens agree (the default; [`crate::shared_decode`]) or run every layer per row: a switch
/// for timing one against the other in one process (`decode_rows --shared off`).
static SHARED_LOWER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns the sharing of the frozen layers between decoded rows on or off for the process.
pub fn set_shared_lower(on: bool) {
    SHARED_LOWER.store(on, std::sync::atomic::Ordering::Relaxed);
}

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

/// A prompt's frozen prefix: the residual stream entering layer `split` (`[1, t, d]`; `[n,
/// t, d]` for `n` left-padded prompts) and the keys and values of the layers below it. Layers below `split` carry no interface, so
/// every method reading this prompt shares them.
#[derive(Debug, Clone)]
pub struct FrozenPrefix {
    pub split: usize,
    pub x: Tensor<3>,
    pub cache: KvCache,
}

impl FrozenPrefix {
    /// Prompt length in tokens.
    pub fn len(&self) -> usize {
        self.x.dims()[1]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Llm {
    /// Runs the bare layers `0..split` over `prompt` once.
    pub fn frozen_prefix(&self, prompt: &[u32], split: usize) -> Result<FrozenPrefix> {
        if prompt.is_empty() {
            return Err(Error::Llm("empty prompt".into()));
        }
        self.prefix_from_stream(self.embed(prompt, 1)?, split)
    }

    /// The frozen prefixes of several prompts in one batch (row `i` is prompt `i`), left-padded
    /// to the longest: `x: [n, t, d]` and a cache that knows each row's padding
    /// ([`crate::positions`]).
    pub fn frozen_prefix_batch(&self, prompts: &[Vec<u32>], split: usize) -> Result<FrozenPrefix> {
        if prompts.is_empty() {
            return Err(Error::Llm("no prompts to batch".into()));
        }
        if let Some(i) = prompts.iter().position(Vec::is_empty) {
            return Err(Error::Llm(format!("prompt {i} of the batch is empty")));
        }
        let b = prompts.len();
        let t = prompts.iter().map(Vec::len).max().unwrap_or(0);
        let pads: Vec<usize> = prompts.iter().map(|p| t - p.len()).collect();
        // Padding columns hold token 0: any valid id, as no real token reads them.
        let mut ids = Vec::with_capacity(b * t);
        for (p, &pad) in prompts.iter().zip(&pads) {
            ids.extend(std::iter::repeat_n(0u32, pad));
            ids.extend_from_slice(p);
        }
        let x = self.embed(&ids, b)?;
        let mut cache = if pads.iter().all(|&p| p == 0) {
            KvCache::new(self.config.n_layers) // prompts of one length: nothing to mask
        } else {
            KvCache::left_padded(self.config.n_layers, pads)
        };
        let x = self.forward_layers(x, 0..split, Some(&mut cache), &Adaptation::none())?;
        Ok(FrozenPrefix { split, x, cache })
    }

    /// Like [`Self::frozen_prefix`] from an input stream `x: [1, t, d]` instead of token ids
    /// (a soft prompt's vectors followed by the prompt's embeddings, for prompt tuning).
    pub fn prefix_from_stream(&self, x: Tensor<3>, split: usize) -> Result<FrozenPrefix> {
        let [b, t, d] = x.dims();
        if b != 1 || t == 0 || d != self.config.d_model {
            return Err(Error::Llm(format!(
                "a prefix stream is [1, t > 0, {}], got [{b}, {t}, {d}]",
                self.config.d_model
            )));
        }
        let mut cache = KvCache::new(self.config.n_layers);
        let x = self.forward_layers(x, 0..split, Some(&mut cache), &Adaptation::none())?;
        Ok(FrozenPrefix { split, x, cache })
    }

    /// Greedy continuations of one prompt under `rows` interfaces at once (`adapt` usually
    /// holds a [`crate::RowDeltas`] with one adaptation per row): the upper layers' prefill
    /// and every decoding step run as one batch. Returns each row's new tokens without its
    /// stop token.
    pub fn generate_greedy_rows(
        &self,
        prefix: &FrozenPrefix,
        rows: usize,
        opts: &GenerateOptions,
        adapt: &Adaptation<'_>,
    ) -> Result<Vec<Vec<u32>>> {
        self.generate_greedy_rows_of(prefix, &vec![0; rows], opts, adapt)
    }

    /// Greedy continuations of the prompts of a (batched) prefix, batch row `j` reading prompt
    /// `row_prompts[j]` under its own row of `adapt`: several questions, each under several
    /// interfaces, decoded as one batch. The upper layers' prefill and every decoding step
    /// run once for all rows.
    pub fn generate_greedy_rows_of(
        &self,
        prefix: &FrozenPrefix,
        row_prompts: &[usize],
        opts: &GenerateOptions,
        adapt: &Adaptation<'_>,
    ) -> Result<Vec<Vec<u32>>> {
        let rows = row_prompts.len();
        let prompts = prefix.x.dims()[0];
        if let Some(&p) = row_prompts.iter().find(|&&p| p >= prompts) {
            return Err(Error::Llm(format!(
                "a row reads prompt {p} of a prefix holding {prompts}"
            )));
        }
        if opts.max_new_tokens == 0 || rows == 0 {
            return Ok(vec![Vec::new(); rows]);
        }
        if prefix.split > 0 && SHARED_LOWER.load(std::sync::atomic::Ordering::Relaxed) {
            return self.decode_shared(prefix, row_prompts, opts, adapt);
        }
        let t = prefix.len();
        let mut cache = prefix.cache.select_rows(row_prompts);
        let idx = crate::tensor_util::index_tensor(row_prompts, self.device());
        let x = prefix.x.clone().select(0, idx);
        let x = self.forward_layers(
            x,
            prefix.split..self.config.n_layers,
            Some(&mut cache),
            adapt,
        )?;
        cache.advance_by(t)?;
        let d = self.config.d_model;
        let last = self.final_norm(x.narrow(1, t - 1, 1)).reshape([rows, d]);
        let next = self.argmax_rows(self.project(last));
        self.decode_rows(cache, next, opts, adapt)
    }

    /// Greedy continuations of several prompts in one batch: the prompts are left-padded to
    /// the longest ([`crate::positions`]: each row keeps its own positions and never reads its
    /// padding), prefilled together, then decoded one step per token for the rows still
    /// running. `adapt` applies to every row as it applies to a batch (a row stack needs one
    /// row per prompt). Each row's tokens are the ones [`Self::generate_greedy`] gives for its
    /// prompt alone, up to float rounding in the padded products (the tests compare them token
    /// by token).
    pub fn generate_greedy_batch(
        &self,
        prompts: &[Vec<u32>],
        opts: &GenerateOptions,
        adapt: &Adaptation<'_>,
    ) -> Result<Vec<Vec<u32>>> {
        let prefix = self.frozen_prefix_batch(prompts, 0)?;
        let each: Vec<usize> = (0..prompts.len()).collect();
        self.generate_greedy_rows_of(&prefix, &each, opts, adapt)
    }

    /// The decoding loop of a batch whose prefill is in `cache` and whose first tokens are
    /// `next`: one cached step per token, a row leaving the batch (cache and row adaptations
    /// compacted) at its stop token or its limit, so long answers do not make every row pay
    /// for every step. Returns each row's tokens without its stop token.
    fn decode_rows(
        &self,
        mut cache: KvCache,
        mut next: Vec<u32>,
        opts: &GenerateOptions,
        adapt: &Adaptation<'_>,
    ) -> Result<Vec<Vec<u32>>> {
        let rows = next.len();
        let d = self.config.d_model;
        let mut out = vec![Vec::new(); rows];
        // Batch position → row.
        let mut live: Vec<usize> = (0..rows).collect();
        let mut local: Option<crate::RowDeltas> = None;
        loop {
            let keep = crate::shared_decode::record(&mut out, &live, &next, opts);
            if keep.is_empty() {
                break;
            }
            if keep.len() < live.len() {
                cache = cache.select_rows(&keep);
                crate::shared_decode::compact(&keep, &mut local, adapt, &mut next, &mut live);
            }
            let step_adapt = Adaptation {
                rows: local.as_ref().or(adapt.rows),
                ..*adapt
            };
            let b = live.len();
            let hidden = self.forward_hidden(
                ids_tensor(&next, b, 1, self.device()),
                Some(&mut cache),
                &step_adapt,
            )?;
            next = self.argmax_rows(self.project(hidden.reshape([b, d])));
        }
        Ok(out)
    }

    /// Index of the largest entry of each row of `[b, vocab]` logits.
    pub(crate) fn argmax_rows(&self, logits: Tensor<2>) -> Vec<u32> {
        let b = logits.dims()[0];
        to_vec_i64(logits.argmax(1).reshape([b, 1]))
            .into_iter()
            .map(|i| i as u32)
            .collect()
    }
}
