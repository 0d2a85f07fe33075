//! Several interfaces on one prompt in one batch: row `i` of the batch runs the backbone
//! adapted with its own LoRA and/or low-rank delta. Every RAG method that reads the same
//! prompt (vanilla RAG, `W_0^ret`, `W_0^ret + gΔW(C)` for several contexts, TT-SGD) then
//! shares one prefill of the frozen layers and one weight read per decoding step.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor};

use super::adapt::{Adaptation, Proj};
use super::config::LlmConfig;
use super::linear::LowRank;
use crate::{Error, Result};

/// Per-row low-rank terms, `down: [b, in, R]` and `up: [b, R, out]` per (layer, projection);
/// rows with fewer terms are padded with zero rank.
#[derive(Debug, Clone)]
pub struct RowDeltas {
    rows: usize,
    entries: BTreeMap<(usize, Proj), (Tensor<3>, Tensor<3>)>,
}

impl RowDeltas {
    /// Stacks one adaptation per batch row (each a LoRA and/or a delta; none is the bare
    /// backbone). Nested row adaptations are not allowed.
    pub fn stack(config: &LlmConfig, rows: &[Adaptation<'_>], device: &Device) -> Result<Self> {
        if rows.is_empty() {
            return Err(Error::Llm("no rows to stack".into()));
        }
        for (i, a) in rows.iter().enumerate() {
            if a.rows.is_some() {
                return Err(Error::Llm(format!("row {i} is itself a row stack")));
            }
            a.check(config)?;
        }
        let mut entries = BTreeMap::new();
        for layer in 0..config.n_layers {
            for proj in Proj::ALL {
                let (din, dout) = (config.d_model, config.proj_out(proj));
                let per_row: Vec<Vec<LowRank>> =
                    rows.iter().map(|a| a.shared_terms(layer, proj)).collect();
                let rank = |terms: &[LowRank]| -> usize {
                    terms
                        .iter()
                        .map(|t| match t {
                            LowRank::Shared { down, .. } => down.dims()[1],
                            LowRank::PerRow { .. } => 0,
                        })
                        .sum()
                };
                let r_max = per_row.iter().map(|t| rank(t)).max().unwrap_or(0);
                if r_max == 0 {
                    continue;
                }
                let mut downs = Vec::with_capacity(rows.len());
                let mut ups = Vec::with_capacity(rows.len());
                for terms in &per_row {
                    let mut d_parts = Vec::new();
                    let mut u_parts = Vec::new();
                    for t in terms {
                        if let LowRank::Shared { down, up, scale } = t {
                            d_parts.push(down.clone());
                            u_parts.push(up.clone().mul_scalar(*scale));
                        }
                    }
                    let pad = r_max - rank(terms);
                    if pad > 0 {
                        d_parts.push(Tensor::zeros([din, pad], device));
                        u_parts.push(Tensor::zeros([pad, dout], device));
                    }
                    downs.push(Tensor::cat(d_parts, 1));
                    ups.push(Tensor::cat(u_parts, 0));
                }
                entries.insert(
                    (layer, proj),
                    (Tensor::stack(downs, 0), Tensor::stack(ups, 0)),
                );
            }
        }
        Ok(Self {
            rows: rows.len(),
            entries,
        })
    }

    /// The stack of rows `rows` only (in that order).
    pub fn select_rows(&self, rows: &[usize]) -> Self {
        let entries = self
            .entries
            .iter()
            .map(|(&key, (down, up))| {
                let idx = crate::tensor_util::index_tensor(rows, &down.device());
                (
                    key,
                    (
                        down.clone().select(0, idx.clone()),
                        up.clone().select(0, idx),
                    ),
                )
            })
            .collect();
        Self {
            rows: rows.len(),
            entries,
        }
    }

    /// Batch rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn term(&self, layer: usize, proj: Proj) -> Option<LowRank> {
        self.entries
            .get(&(layer, proj))
            .map(|(down, up)| LowRank::PerRow {
                down: down.clone(),
                up: up.clone(),
            })
    }
}
