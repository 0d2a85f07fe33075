//! `W_0^ret`, the trained base adapter, as the point the LoRA interface steps from: its
//! factors `θ_0` in [`LoraLayout`]'s flat order, and the adapter itself on the model's
//! device (applied in every read of a study that has one, in context and after a step).
//!
//! A study keeps its own copy (`w0.safetensors` in the run folder, PEFT layout, checked by
//! sha256 against the settings), so its folder still resumes after it moves.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use icor_llm::{LlmConfig, LoraAdapter};

use super::update::Update;
use crate::error::{Error, Result, io_err};
use crate::experiment::run::TRAINED_ON;
use crate::experiment::store::write_atomic;
use crate::method::frozen::FrozenStates;
use crate::method::params::LoraLayout;

/// Blocks per layer of the LoRA interface: `δA`, `δB` of Q, K and V.
pub const PER_LAYER: usize = 6;

/// `W_0^ret` and the layout of its factors.
#[derive(Debug)]
pub struct BaseAdapter {
    pub layout: LoraLayout,
    /// `θ_0`, every factor in `layout`'s order.
    pub theta0: Vec<f32>,
    /// The adapter holding `θ_0`, on the model's device.
    pub adapter: LoraAdapter,
    pub sha256: String,
    /// Its training questions (`name/split:id`), from the file's `trained_on` entry (written
    /// by `icor rag adapter`); the study draws none of them.
    pub trained_on: HashSet<String>,
}

/// The run folder's copy of `W_0^ret`.
pub fn stored_path(out: &Path) -> PathBuf {
    out.join("w0.safetensors")
}

impl BaseAdapter {
    /// Loads the run folder's copy, first copying `given` in when the folder has none, and
    /// checks its sha256 against `sha256` (the settings').
    pub fn open(
        out: &Path,
        given: Option<&Path>,
        sha256: &str,
        config: &LlmConfig,
        device: &Device,
    ) -> Result<Self> {
        let path = stored_path(out);
        if !path.exists() {
            let src = given.ok_or_else(|| {
                Error::Config(format!(
                    "the study steps W_0^ret (sha256 {sha256}) but {} is missing: give it \
                     with --adapter",
                    path.display()
                ))
            })?;
            // A file that is not an adapter for this model is refused before it is copied,
            // so the run folder never holds one.
            LoraAdapter::load(src, config, device)?;
            let bytes = std::fs::read(src).map_err(io_err(src))?;
            write_atomic(&path, &bytes)?;
        }
        let found = icor_assets::verify::hash_file(&path)
            .map_err(io_err(&path))?
            .1;
        if found != sha256 {
            return Err(Error::Config(format!(
                "{} has sha256 {found}, the study was made with W_0^ret {sha256}",
                path.display()
            )));
        }
        let mut w0 = Self::from_adapter(LoraAdapter::load(&path, config, device)?, config, found)?;
        w0.trained_on = LoraAdapter::metadata(&path)?
            .get(TRAINED_ON)
            .map(|v| v.lines().map(str::to_string).collect())
            .unwrap_or_default();
        Ok(w0)
    }

    /// `W_0^ret` from an adapter in memory (on the model's device).
    pub fn from_adapter(adapter: LoraAdapter, config: &LlmConfig, sha256: String) -> Result<Self> {
        let layout = LoraLayout::new(config, adapter.first_layer, adapter.rank, adapter.alpha);
        let theta0 = layout.flatten(&adapter)?;
        Ok(Self {
            layout,
            theta0,
            adapter,
            sha256,
            trained_on: HashSet::new(),
        })
    }

    /// The layout of the factors on layers `first_layer..` (a top-L interface).
    fn sub_layout(&self, config: &LlmConfig, first_layer: usize) -> Result<LoraLayout> {
        if first_layer < self.layout.first_layer {
            return Err(Error::Config(format!(
                "the LoRA interface from layer {first_layer}: W_0^ret covers layers {}.. only",
                self.layout.first_layer
            )));
        }
        Ok(LoraLayout::new(
            config,
            first_layer,
            self.layout.rank,
            self.layout.alpha,
        ))
    }

    /// Where layer `first_layer`'s factors start in `θ_0`.
    fn offset(&self, first_layer: usize) -> usize {
        let i = 3 * (first_layer - self.layout.first_layer);
        self.layout
            .blocks
            .get(i)
            .map_or(self.layout.len, |b| b.a_at)
    }

    /// `δθ = 0` on layers `first_layer..`.
    pub fn zeros(&self, config: &LlmConfig, first_layer: usize) -> Result<Update> {
        Ok(self.update(&self.sub_layout(config, first_layer)?, None))
    }

    /// `flat` (or zeros) as an update in `layout`'s blocks: `δA`, `δB` per projection.
    fn update(&self, layout: &LoraLayout, flat: Option<&[f32]>) -> Update {
        let r = layout.rank;
        let blocks = layout
            .blocks
            .iter()
            .flat_map(|b| [(b.a_at, b.d_in * r), (b.b_at, r * b.d_out)])
            .map(|(at, n)| flat.map_or_else(|| vec![0f32; n], |f| f[at..at + n].to_vec()))
            .collect();
        Update {
            first_layer: layout.first_layer,
            per_layer: PER_LAYER,
            blocks,
        }
    }

    /// The adapter `θ_0 + δθ` on layers `u.first_layer..`, on `device` (its factors are
    /// trainable parameters on an autodiff device).
    pub fn adapter(&self, config: &LlmConfig, u: &Update, device: &Device) -> Result<LoraAdapter> {
        let layout = self.sub_layout(config, u.first_layer)?;
        let delta = u.flat();
        if delta.len() != layout.len {
            return Err(Error::Config(format!(
                "a LoRA update of {} values for an interface of {}",
                delta.len(),
                layout.len
            )));
        }
        let at = self.offset(u.first_layer);
        let flat: Vec<f32> = self.theta0[at..]
            .iter()
            .zip(&delta)
            .map(|(t, d)| t + d)
            .collect();
        Ok(layout.adapter(&flat, device))
    }

    /// `∂L/∂θ` on layers `at.first_layer..` read off an adapter built by [`Self::adapter`].
    pub fn gradient(
        &self,
        config: &LlmConfig,
        adapter: &LoraAdapter,
        grads: &burn::tensor::Gradients,
        at: &Update,
    ) -> Result<Update> {
        let layout = self.sub_layout(config, at.first_layer)?;
        let flat = layout.gradient(adapter, grads);
        Ok(self.update(&layout, Some(&flat)))
    }

    /// The lower layers' streams with `W_0^ret` applied below `split`.
    pub fn frozen(&self, split: usize) -> FrozenStates {
        if split == 0 {
            FrozenStates::new(0)
        } else {
            FrozenStates::with_below(split, self.adapter.clone())
        }
    }
}
