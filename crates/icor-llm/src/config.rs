//! Backbone hyper-parameters, read from GGUF metadata or a Hugging Face `config.json`.

use std::path::Path;

use serde::Deserialize;

use crate::gguf::GgufFile;
use crate::{Error, Result};

/// Decoder-only architectures the backbone implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Llama family (Llama 2/3, SmolLM2): no Q/K/V biases.
    Llama,
    /// Qwen2 family (Qwen2, Qwen2.5): Q/K/V biases.
    Qwen2,
}

impl Arch {
    pub fn parse(name: &str, path: &Path) -> Result<Self> {
        match name {
            "llama" | "LlamaForCausalLM" => Ok(Self::Llama),
            "qwen2" | "Qwen2ForCausalLM" => Ok(Self::Qwen2),
            other => Err(Error::UnknownArchitecture {
                path: path.to_path_buf(),
                arch: other.to_string(),
            }),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Qwen2 => "qwen2",
        }
    }
}

/// How RoPE pairs the coordinates of a head (RoFormer, Su et al. 2021).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeLayout {
    /// Pairs `(i, i + d/2)`: Hugging Face's `rotate_half` (qwen2 everywhere, llama in HF
    /// checkpoints).
    RotateHalf,
    /// Pairs `(2i, 2i + 1)`: GGUF llama checkpoints, whose Q/K rows llama.cpp's converter
    /// permuted so that adjacent-pair rotation gives the same model.
    Interleaved,
}

/// Everything the forward pass needs to know about the architecture.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmConfig {
    pub arch: Arch,
    pub vocab_size: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub d_ff: usize,
    pub rope_theta: f32,
    pub rms_eps: f32,
    pub qkv_bias: bool,
    pub tied_embeddings: bool,
    pub rope_layout: RopeLayout,
    pub max_positions: usize,
}

impl LlmConfig {
    /// Output width of projection Q, K or V (GQA: K and V are `n_kv_heads · head_dim`).
    pub fn proj_out(&self, proj: super::Proj) -> usize {
        match proj {
            super::Proj::Q => self.n_heads * self.head_dim,
            super::Proj::K | super::Proj::V => self.n_kv_heads * self.head_dim,
        }
    }

    /// Checks the internal consistency of the numbers (GQA grouping, head sizes).
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |reason: String| Error::Metadata {
            path: path.to_path_buf(),
            key: "config".into(),
            reason,
        };
        if self.n_heads == 0
            || self.n_kv_heads == 0
            || !self.n_heads.is_multiple_of(self.n_kv_heads)
        {
            return Err(bad(format!(
                "{} heads is not a multiple of {} KV heads",
                self.n_heads, self.n_kv_heads
            )));
        }
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(2) {
            return Err(bad(format!("head dim {} must be even", self.head_dim)));
        }
        if self.d_model == 0 || self.n_layers == 0 || self.vocab_size == 0 || self.d_ff == 0 {
            return Err(bad("zero-sized dimension".into()));
        }
        Ok(())
    }

    /// Reads the `{arch}.*` keys of a GGUF file (llama.cpp's naming).
    pub fn from_gguf(file: &GgufFile) -> Result<Self> {
        let path = file.path();
        let arch_name = file.meta_str("general.architecture")?;
        let arch = Arch::parse(arch_name, path)?;
        let key = |k: &str| format!("{arch_name}.{k}");
        let usize_of = |k: &str| -> Result<usize> { Ok(file.meta_u64(&key(k))? as usize) };
        let d_model = usize_of("embedding_length")?;
        let n_heads = usize_of("attention.head_count")?;
        let n_kv_heads = match file.meta_opt(&key("attention.head_count_kv")) {
            Some(_) => usize_of("attention.head_count_kv")?,
            None => n_heads,
        };
        let head_dim = match file.meta_opt(&key("attention.key_length")) {
            Some(_) => usize_of("attention.key_length")?,
            None if n_heads > 0 => d_model / n_heads,
            None => 0,
        };
        let vocab_size = match file.meta_opt(&key("vocab_size")) {
            Some(_) => usize_of("vocab_size")?,
            None => file.meta_array("tokenizer.ggml.tokens")?.len(),
        };
        let rope_theta = match file.meta_opt(&key("rope.freq_base")) {
            Some(_) => file.meta_f64(&key("rope.freq_base"))? as f32,
            None => 10_000.0,
        };
        let config = Self {
            arch,
            vocab_size,
            d_model,
            n_layers: usize_of("block_count")?,
            n_heads,
            n_kv_heads,
            head_dim,
            d_ff: usize_of("feed_forward_length")?,
            rope_theta,
            rms_eps: file.meta_f64(&key("attention.layer_norm_rms_epsilon"))? as f32,
            qkv_bias: file.has_tensor("blk.0.attn_q.bias"),
            tied_embeddings: !file.has_tensor("output.weight"),
            rope_layout: match arch {
                Arch::Llama => RopeLayout::Interleaved,
                Arch::Qwen2 => RopeLayout::RotateHalf,
            },
            max_positions: usize_of("context_length").unwrap_or(4096),
        };
        config.validate(path)?;
        Ok(config)
    }

    /// Reads a Hugging Face `config.json` (`LlamaForCausalLM` / `Qwen2ForCausalLM`).
    pub fn from_hf_json(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let hf: HfConfig = serde_json::from_str(&text).map_err(|e| Error::Metadata {
            path: path.to_path_buf(),
            key: "config.json".into(),
            reason: e.to_string(),
        })?;
        let arch_name = hf
            .architectures
            .as_ref()
            .and_then(|a| a.first().cloned())
            .or(hf.model_type.clone())
            .unwrap_or_default();
        let arch = Arch::parse(&arch_name, path)?;
        let config = Self {
            arch,
            vocab_size: hf.vocab_size,
            d_model: hf.hidden_size,
            n_layers: hf.num_hidden_layers,
            n_heads: hf.num_attention_heads,
            n_kv_heads: hf.num_key_value_heads.unwrap_or(hf.num_attention_heads),
            head_dim: hf
                .head_dim
                .unwrap_or(hf.hidden_size / hf.num_attention_heads.max(1)),
            d_ff: hf.intermediate_size,
            rope_theta: hf.rope_theta.unwrap_or(10_000.0),
            rms_eps: hf.rms_norm_eps.unwrap_or(1e-6),
            qkv_bias: hf.attention_bias.unwrap_or(matches!(arch, Arch::Qwen2)),
            tied_embeddings: hf.tie_word_embeddings.unwrap_or(false),
            rope_layout: RopeLayout::RotateHalf,
            max_positions: hf.max_position_embeddings.unwrap_or(4096),
        };
        config.validate(path)?;
        Ok(config)
    }
}

/// The subset of a Hugging Face `config.json` the backbone reads.
#[derive(Debug, Deserialize)]
struct HfConfig {
    architectures: Option<Vec<String>>,
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    intermediate_size: usize,
    rope_theta: Option<f32>,
    rms_norm_eps: Option<f32>,
    attention_bias: Option<bool>,
    tie_word_embeddings: Option<bool>,
    max_position_embeddings: Option<usize>,
}
