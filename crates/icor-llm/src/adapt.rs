//! What the frozen backbone is adapted with for one forward pass: a LoRA adapter `W_0^ret`
//! and/or an external low-rank update `gΔW(C)` (RAG-GD's predicted interface update,
//! Algorithm 1 phase 3: `f_{W_0^ret + gΔW(C)}`).

use super::attention::QkvExtra;
use super::config::LlmConfig;
use super::delta::LowRankDelta;
use super::linear::LowRank;
use super::lora::LoraAdapter;
use super::rows::RowDeltas;
use crate::{Error, Result};

/// The projections that carry the interface: Q, K and V of every layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proj {
    Q,
    K,
    V,
}

impl Proj {
    pub const ALL: [Proj; 3] = [Proj::Q, Proj::K, Proj::V];

    /// Lower-case name (`q`, `k`, `v`).
    pub fn name(self) -> &'static str {
        match self {
            Proj::Q => "q",
            Proj::K => "k",
            Proj::V => "v",
        }
    }
}

/// Adapters for one forward pass; `Adaptation::none()` is the bare backbone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Adaptation<'a> {
    pub lora: Option<&'a LoraAdapter>,
    pub delta: Option<&'a LowRankDelta>,
    /// One adaptation per batch row (see [`RowDeltas`]), added to the two above.
    pub rows: Option<&'a RowDeltas>,
}

impl<'a> Adaptation<'a> {
    pub fn none() -> Self {
        Self::default()
    }
    pub fn lora(lora: &'a LoraAdapter) -> Self {
        Self {
            lora: Some(lora),
            ..Self::default()
        }
    }
    /// One adaptation per batch row.
    pub fn per_row(rows: &'a RowDeltas) -> Self {
        Self {
            rows: Some(rows),
            ..Self::default()
        }
    }
    pub fn with_delta(mut self, delta: &'a LowRankDelta) -> Self {
        self.delta = Some(delta);
        self
    }

    /// Checks that every adapter fits the model's layer count and projection shapes, and
    /// that per-row adaptations match the batch.
    pub fn check_batch(&self, config: &LlmConfig, batch: usize) -> Result<()> {
        if let Some(r) = self.rows
            && r.rows() != batch
        {
            return Err(Error::Llm(format!(
                "{} row adaptations for a batch of {batch}",
                r.rows()
            )));
        }
        self.check(config)
    }

    /// Checks that every adapter fits the model's layer count and projection shapes.
    pub fn check(&self, config: &LlmConfig) -> Result<()> {
        if let Some(l) = self.lora {
            l.check(config)?;
        }
        if let Some(d) = self.delta {
            d.check(config)?;
        }
        Ok(())
    }

    /// The shared (not per-row) low-rank terms of `(layer, proj)`.
    pub(crate) fn shared_terms(&self, layer: usize, proj: Proj) -> Vec<LowRank> {
        let mut out = Vec::new();
        if let Some(l) = self.lora {
            out.extend(l.term(layer, proj));
        }
        if let Some(d) = self.delta {
            out.extend(d.term(layer, proj));
        }
        out
    }

    /// The low-rank terms of layer `layer`.
    pub(crate) fn layer_terms(&self, layer: usize) -> QkvExtra {
        let mut extra = QkvExtra::default();
        for proj in Proj::ALL {
            let slot = match proj {
                Proj::Q => &mut extra.q,
                Proj::K => &mut extra.k,
                Proj::V => &mut extra.v,
            };
            slot.extend(self.shared_terms(layer, proj));
            if let Some(r) = self.rows {
                slot.extend(r.term(layer, proj));
            }
        }
        extra
    }
}
