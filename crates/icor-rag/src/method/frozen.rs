//! The frozen lower layers, run once per token sequence: when the interface sits on the top
//! `L` layers only, the residual stream entering layer `n − L` depends on the token ids alone,
//! so every method, every K and every SGD step that reads the same sequence shares it. A
//! fixed adapter may sit on the lower layers too (`W_0^ret` below a top-L interface that
//! steps only its upper factors): the stream then depends on the ids and that adapter.

use std::collections::HashMap;

use burn::tensor::Tensor;
use icor_llm::{Adaptation, Llm, LoraAdapter};

use crate::error::{Error, Result};

/// Cached residual streams entering layer `split` (`[1, t, d]` each), keyed by token ids.
#[derive(Debug)]
pub struct FrozenStates {
    split: usize,
    /// A fixed adapter applied on layers `0..split`.
    below: Option<LoraAdapter>,
    map: HashMap<Vec<u32>, Tensor<3>>,
}

impl FrozenStates {
    /// Layers `0..split` are frozen (no interface).
    pub fn new(split: usize) -> Self {
        Self {
            split,
            below: None,
            map: HashMap::new(),
        }
    }

    /// Layers `0..split` are frozen with the fixed adapter `below` applied on them.
    pub fn with_below(split: usize, below: LoraAdapter) -> Self {
        Self {
            below: Some(below),
            ..Self::new(split)
        }
    }

    /// The first layer that carries the interface.
    pub fn split(&self) -> usize {
        self.split
    }

    /// The stream entering layer `split` for `ids` (the embeddings when `split = 0`).
    pub fn get(&mut self, model: &Llm, ids: &[u32]) -> Result<Tensor<3>> {
        if let Some(x) = self.map.get(ids) {
            return Ok(x.clone());
        }
        let x = model.embed(ids, 1)?;
        let adapt = self
            .below
            .as_ref()
            .map_or_else(Adaptation::none, Adaptation::lora);
        let x = model.forward_layers(x, 0..self.split, None, &adapt)?;
        self.map.insert(ids.to_vec(), x.clone());
        Ok(x)
    }

    /// The streams of several sequences, right-padded with zeros to `[b, t_max, d]` (causal
    /// attention keeps the padding invisible to the real tokens before it).
    pub fn batch(&mut self, model: &Llm, seqs: &[Vec<u32>]) -> Result<Tensor<3>> {
        let t_max = seqs.iter().map(Vec::len).max().unwrap_or(0);
        if seqs.is_empty() || t_max == 0 {
            return Err(Error::Config("empty batch of sequences".into()));
        }
        let d = model.config.d_model;
        let mut rows = Vec::with_capacity(seqs.len());
        for s in seqs {
            let x = self.get(model, s)?;
            let t = s.len();
            rows.push(if t < t_max {
                Tensor::cat(vec![x, Tensor::zeros([1, t_max - t, d], model.device())], 1)
            } else {
                x
            });
        }
        Ok(Tensor::cat(rows, 0))
    }

    /// Drops every cached stream.
    pub fn clear(&mut self) {
        self.map.clear();
    }
}
