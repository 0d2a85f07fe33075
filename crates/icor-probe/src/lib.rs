//! # icor-probe: where trained transformers match the GD predictor, and where they stop
//!
//! Reproduces §4 of arXiv 2605.26356 (the boundary study) on top of the exact theory in
//! `icor-linear`: small attention models are trained on in-context regression tasks built from
//! the unified RAG view and compared with the constructed gradient-descent predictor.
//!
//! | module | what |
//! |---|---|
//! | [`backend`] | the burn device (CPU `flex` always, `wgpu` behind the feature) |
//! | [`concurrent`] | independent runs of a sweep side by side (one run keeps ~1 core busy) |
//! | [`task`] | task generators: the authors' protocol and the paper as stated (both interfaces) |
//! | [`model`] | LSA (depth, shared weights), GD++, softmax attention, MLP + attention |
//! | [`reference`] | the constructed GD predictor and its step size |
//! | [`train`] | training loop: AdamW, global-norm clipping, NaN guard |
//! | [`converge`] | stalled-run detection: loss at the untrained level, or flat far above GD |
//! | [`metrics`] | loss, prediction difference, input sensitivities by autodiff, interpolation |
//! | [`tabular`] | real tabular sets, synthetic tables, normalisations, feature statistics |
//! | [`nonlinear`] | MLP + attention on real tables × normalisations; feature-shape study |
//! | [`sweep`] | document-count, input-range and depth sweeps over seeds, with 95% CIs |

pub mod backend;
pub mod concurrent;
pub mod converge;
pub mod error;
pub mod metrics;
pub mod model;
pub mod nonlinear;
pub mod reference;
pub mod stats;
pub mod sweep;
pub mod tabular;
pub mod task;
pub mod tensor;
pub mod train;

pub use error::{Error, Result};
