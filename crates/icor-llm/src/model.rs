//! The frozen decoder-only backbone `f` of RAG-GD (§5 of arXiv 2605.26356): token embedding,
//! `n_layers` pre-norm blocks, final RMSNorm and the (tied or untied) output projection.
//!
//! The base weights are plain tensors, not burn parameters: they never receive gradients or
//! optimiser state. Trainable or predicted updates enter only through an [`Adaptation`]
//! (a LoRA adapter and/or an external low-rank delta on Q/K/V).

use burn::tensor::{Device, Int, Tensor};
use icor_kernels::Precision;

use super::adapt::Adaptation;
use super::attention::Attention;
use super::block::Block;
use super::config::LlmConfig;
use super::kv_cache::KvCache;
use super::linear::FrozenLinear;
use super::mlp::SwiGlu;
use super::norm::RmsNorm;
use super::positions::Positions;
use super::rope::Rope;
use super::tensor_util::{ids_tensor, to_device, transposed_to_device};
use super::weights::{AttnWeight, WeightKey, WeightSource};
use crate::{Error, Result};

/// Longest RoPE table built up front (positions beyond need a bigger table).
const MAX_ROPE_TABLE: usize = 32_768;

/// A loaded backbone.
#[derive(Debug, Clone)]
pub struct Llm {
    pub config: LlmConfig,
    embed: Tensor<2>,
    blocks: Vec<Block>,
    norm: RmsNorm,
    /// `[d_model, vocab]`: the output projection (a transposed copy of `embed` when tied).
    output: FrozenLinear,
    rope: Rope,
    device: Device,
}

impl Llm {
    /// Builds the backbone from `source`, checking every tensor's shape against `config`, with
    /// the frozen projections packed as [`crate::decode_weights::default_for`] the device.
    pub fn load(source: &dyn WeightSource, config: LlmConfig, device: &Device) -> Result<Self> {
        Self::load_packed(
            source,
            config,
            device,
            crate::decode_weights::default_for(device),
        )
    }

    /// [`Llm::load`] with the frozen projections packed in `decode` (`None`: not packed), each
    /// packed once: choosing the precision here costs one packing pass, where
    /// [`Llm::with_decode_weights`] after [`Llm::load`] costs two.
    pub fn load_packed(
        source: &dyn WeightSource,
        config: LlmConfig,
        device: &Device,
        decode: Option<Precision>,
    ) -> Result<Self> {
        let c = &config;
        let (d, hd) = (c.d_model, c.head_dim);
        let q_out = c.n_heads * hd;
        let kv_out = c.n_kv_heads * hd;
        let vec1 =
            |key, n| -> Result<Tensor<1>> { Ok(to_device(source.read_shaped(key, &[n])?, device)) };
        let linear =
            |key, out: usize, inp: usize, bias: Option<WeightKey>| -> Result<FrozenLinear> {
                let w = source.read_shaped(key, &[out, inp])?;
                let bias = match bias {
                    Some(bk) if source.has(bk) => Some(vec1(bk, out)?),
                    Some(bk) if c.qkv_bias => {
                        return Err(Error::MissingTensor {
                            path: source.path().to_path_buf(),
                            tensor: format!("{bk:?}"),
                        });
                    }
                    _ => None,
                };
                Ok(FrozenLinear::new(transposed_to_device(w, device), bias))
            };
        let embed_host = source.read_shaped(WeightKey::Embed, &[c.vocab_size, d])?;
        let output_t = if source.has(WeightKey::Output) && !c.tied_embeddings {
            transposed_to_device(
                source.read_shaped(WeightKey::Output, &[c.vocab_size, d])?,
                device,
            )
        } else {
            transposed_to_device(embed_host.clone(), device)
        };
        let embed = to_device(embed_host, device);
        let mut blocks = Vec::with_capacity(c.n_layers);
        for l in 0..c.n_layers {
            let qkv_bias = |w| Some(WeightKey::AttnBias(l, w));
            let attn = Attention {
                qkv: FrozenLinear::concat(vec![
                    linear(
                        WeightKey::Attn(l, AttnWeight::Q),
                        q_out,
                        d,
                        qkv_bias(AttnWeight::Q),
                    )?,
                    linear(
                        WeightKey::Attn(l, AttnWeight::K),
                        kv_out,
                        d,
                        qkv_bias(AttnWeight::K),
                    )?,
                    linear(
                        WeightKey::Attn(l, AttnWeight::V),
                        kv_out,
                        d,
                        qkv_bias(AttnWeight::V),
                    )?,
                ]),
                o: linear(WeightKey::Attn(l, AttnWeight::O), d, q_out, None)?,
                n_heads: c.n_heads,
                n_kv_heads: c.n_kv_heads,
                head_dim: hd,
                kv: Precision::F32,
            };
            let mlp = SwiGlu {
                gate_up: FrozenLinear::concat(vec![
                    linear(WeightKey::Gate(l), c.d_ff, d, None)?,
                    linear(WeightKey::Up(l), c.d_ff, d, None)?,
                ]),
                down: linear(WeightKey::Down(l), d, c.d_ff, None)?,
            };
            blocks.push(Block {
                attn_norm: RmsNorm::new(vec1(WeightKey::AttnNorm(l), d)?, c.rms_eps),
                attn,
                ffn_norm: RmsNorm::new(vec1(WeightKey::FfnNorm(l), d)?, c.rms_eps),
                mlp,
            });
        }
        let norm = RmsNorm::new(vec1(WeightKey::FinalNorm, d)?, c.rms_eps);
        let rope = Rope::new(
            hd,
            c.rope_theta,
            c.max_positions.clamp(1, MAX_ROPE_TABLE),
            c.rope_layout,
            device,
        );
        Ok(Self {
            config,
            embed,
            blocks,
            norm,
            output: FrozenLinear::new(output_t, None),
            rope,
            device: device.clone(),
        }
        .with_decode_weights(decode))
    }

    /// Every frozen projection (Q/K/V, O, gate/up, down, the output head) packed for the
    /// few-row products of decoding in `precision` ([`crate::decode_weights`]), or only in
    /// burn's layout (`None`). Products that carry gradients never take the packed path.
    pub fn with_decode_weights(mut self, precision: Option<Precision>) -> Self {
        for b in &mut self.blocks {
            b.attn.qkv.pack(precision);
            b.attn.o.pack(precision);
            b.mlp.gate_up.pack(precision);
            b.mlp.down.pack(precision);
        }
        self.output.pack(precision);
        self
    }

    /// Keys and values kept in `precision` where the CPU backend's attention kernel reads them
    /// (the KV cache of inference; f32 by default): f16 halves the bytes a decoding step reads
    /// per row and token of context, at the cost of rounding them (`crate::kv_precision`).
    /// Passes with gradients and other backends keep f32.
    pub fn with_kv_cache(mut self, precision: Precision) -> Self {
        for b in &mut self.blocks {
            b.attn.kv = precision;
        }
        self
    }

    /// How the attention kernel's keys and values are kept ([`Self::with_kv_cache`]).
    pub fn kv_cache(&self) -> Precision {
        self.blocks.first().map_or(Precision::F32, |b| b.attn.kv)
    }

    /// How the frozen projections are packed for decoding (`None`: not packed).
    pub fn decode_weights(&self) -> Option<Precision> {
        self.output.decode.as_ref().map(|d| d.precision())
    }

    /// The transformer blocks in order (read-only, e.g. for benches of one projection).
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The rotary tables (for passes that run the blocks themselves, e.g. [`crate::trace`]).
    pub(crate) fn rope(&self) -> &Rope {
        &self.rope
    }

    /// Final-norm hidden states `[b, t, d]` of token ids `[b, t]`, continuing `cache` (whose
    /// length is the position of the first token) when given.
    pub fn forward_hidden(
        &self,
        ids: Tensor<2, Int>,
        cache: Option<&mut KvCache>,
        adapt: &Adaptation<'_>,
    ) -> Result<Tensor<3>> {
        let x = burn::tensor::module::embedding(self.embed.clone(), ids);
        let n = self.config.n_layers;
        let mut cache = cache;
        let x = self.forward_layers(x, 0..n, cache.as_deref_mut(), adapt)?;
        if let Some(c) = cache {
            c.advance(x.dims()[1]);
        }
        Ok(self.norm.forward(x))
    }

    /// Token embeddings `[b, t, d]` of ids `[b, t]`.
    pub fn embed(&self, ids: &[u32], batch: usize) -> Result<Tensor<3>> {
        self.check_ids(ids)?;
        if batch == 0 || ids.is_empty() || ids.len() % batch != 0 {
            return Err(Error::Llm(format!(
                "{} ids do not form {batch} equal rows",
                ids.len()
            )));
        }
        let t = ids.len() / batch;
        Ok(burn::tensor::module::embedding(
            self.embed.clone(),
            ids_tensor(ids, batch, t, &self.device),
        ))
    }

    /// The residual stream after blocks `layers` (no final norm), starting from the stream
    /// `x: [b, t, d]` entering `layers.start` at positions `cache.len()..` (0 without a
    /// cache). The cache receives these layers' keys and values; the caller advances it once
    /// every layer has appended ([`KvCache::advance_by`]).
    pub fn forward_layers(
        &self,
        x: Tensor<3>,
        layers: std::ops::Range<usize>,
        cache: Option<&mut KvCache>,
        adapt: &Adaptation<'_>,
    ) -> Result<Tensor<3>> {
        let [b, t, _] = x.dims();
        adapt.check_batch(&self.config, b)?;
        let start = cache.as_ref().map_or(0, |c| c.len());
        let pads: Option<Vec<usize>> = cache.as_ref().and_then(|c| c.pads().map(<[usize]>::to_vec));
        if let Some(p) = &pads
            && p.len() != b
        {
            return Err(Error::Llm(format!(
                "KV cache is padded for {} rows, the batch has {b}",
                p.len()
            )));
        }
        if layers.end > self.config.n_layers || layers.start > layers.end {
            return Err(Error::Llm(format!(
                "layers {layers:?} outside the model's {}",
                self.config.n_layers
            )));
        }
        if let Some(c) = cache.as_ref()
            && c.layers.len() != self.config.n_layers
        {
            return Err(Error::Llm(format!(
                "KV cache has {} layers, the model {}",
                c.layers.len(),
                self.config.n_layers
            )));
        }
        if t == 0 {
            return Err(Error::Llm("empty token sequence".into()));
        }
        if start + t > self.rope.positions {
            return Err(Error::Llm(format!(
                "sequence of {} positions exceeds the model's {}",
                start + t,
                self.rope.positions
            )));
        }
        let pos = Positions {
            start,
            pads: pads.as_deref(),
        };
        let mut x = x;
        let mut cache = cache;
        for l in layers {
            let extra = adapt.layer_terms(l);
            x = self.blocks[l].forward(x, &pos, &self.rope, l, cache.as_deref_mut(), &extra);
        }
        Ok(x)
    }

    /// The final RMSNorm of the residual stream.
    pub fn final_norm(&self, x: Tensor<3>) -> Tensor<3> {
        self.norm.forward(x)
    }

    /// Logits `[n, vocab]` of final-norm hidden states `[n, d]` (only the rows a loss or a
    /// decoder needs, instead of every position).
    pub fn project(&self, hidden: Tensor<2>) -> Tensor<2> {
        self.output.product(hidden)
    }

    /// Logits `[b, t, vocab]` of final-norm hidden states.
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let [b, t, d] = hidden.dims();
        self.output
            .product(hidden.reshape([b * t, d]))
            .reshape([b, t, self.config.vocab_size])
    }

    /// Checks token ids against the vocabulary.
    pub fn check_ids(&self, ids: &[u32]) -> Result<()> {
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= self.config.vocab_size) {
            return Err(Error::Llm(format!(
                "token id {bad} is outside the vocabulary of {}",
                self.config.vocab_size
            )));
        }
        Ok(())
    }

    /// Hidden states `[1, t, d]` of one sequence (no cache).
    pub fn hidden_states(&self, ids: &[u32], adapt: &Adaptation<'_>) -> Result<Tensor<3>> {
        self.check_ids(ids)?;
        self.forward_hidden(ids_tensor(ids, 1, ids.len(), &self.device), None, adapt)
    }

    /// Logits `[1, t, vocab]` of one sequence (no cache).
    pub fn forward_logits(&self, ids: &[u32], adapt: &Adaptation<'_>) -> Result<Tensor<3>> {
        Ok(self.logits(self.hidden_states(ids, adapt)?))
    }

    /// Batched prefill of sequences of different lengths: right-padded into one `[b, t_max]`
    /// batch (causal attention keeps padding invisible to real tokens) and the hidden state
    /// at `positions[i]` of sequence `i` returned as `[b, d]` (`None`: its last token — the
    /// EOS state RAG-GD pools).
    pub fn hidden_at_batch(
        &self,
        seqs: &[Vec<u32>],
        positions: Option<&[usize]>,
        adapt: &Adaptation<'_>,
    ) -> Result<Tensor<2>> {
        if seqs.is_empty() || seqs.iter().any(|s| s.is_empty()) {
            return Err(Error::Llm("empty sequence in batch".into()));
        }
        if let Some(p) = positions
            && p.len() != seqs.len()
        {
            return Err(Error::Llm(format!(
                "{} positions for {} sequences",
                p.len(),
                seqs.len()
            )));
        }
        let t_max = seqs.iter().map(Vec::len).max().unwrap_or(0);
        let b = seqs.len();
        let mut flat = Vec::with_capacity(b * t_max);
        let mut picks = Vec::with_capacity(b);
        for (i, s) in seqs.iter().enumerate() {
            self.check_ids(s)?;
            flat.extend_from_slice(s);
            flat.extend(std::iter::repeat_n(0u32, t_max - s.len()));
            let p = positions.map_or(s.len() - 1, |p| p[i]);
            if p >= s.len() {
                return Err(Error::Llm(format!(
                    "position {p} outside sequence {i} of length {}",
                    s.len()
                )));
            }
            picks.push((i * t_max + p) as u32);
        }
        let hidden = self.forward_hidden(ids_tensor(&flat, b, t_max, &self.device), None, adapt)?;
        let d = self.config.d_model;
        let idx = ids_tensor(&picks, 1, b, &self.device).reshape([b]);
        Ok(hidden.reshape([b * t_max, d]).select(0, idx))
    }
}
