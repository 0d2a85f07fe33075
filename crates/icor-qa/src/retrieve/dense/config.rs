//! The BERT hyper-parameters, read from the model's `config.json`.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// What the encoder needs from `config.json` (Hugging Face `BertConfig` names).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Width of the hidden states (384 for MiniLM-L6).
    pub hidden_size: usize,
    /// Transformer blocks (6).
    pub num_hidden_layers: usize,
    /// Attention heads (12, of width 32).
    pub num_attention_heads: usize,
    /// Feed-forward width (1536).
    pub intermediate_size: usize,
    /// Learned positions (512).
    pub max_position_embeddings: usize,
    /// WordPiece vocabulary (30522).
    pub vocab_size: usize,
    /// Segment types (2).
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon (1e-12).
    #[serde(default = "bert_eps")]
    pub layer_norm_eps: f64,
    /// Activation of the feed-forward block; only `gelu` (erf form) is implemented.
    #[serde(default = "gelu")]
    pub hidden_act: String,
}

fn two() -> usize {
    2
}
fn bert_eps() -> f64 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}

impl BertConfig {
    /// Reads and checks `config.json`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let config: Self = serde_json::from_str(&text).map_err(|e| Error::BadLine {
            path: path.to_path_buf(),
            line: e.line() as u64,
            reason: e.to_string(),
        })?;
        let bad = |reason: String| Error::Metadata {
            path: path.to_path_buf(),
            key: "config".into(),
            reason,
        };
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            )));
        }
        if config.hidden_act != "gelu" {
            return Err(bad(format!(
                "hidden_act `{}` (only `gelu` is implemented)",
                config.hidden_act
            )));
        }
        Ok(config)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}
