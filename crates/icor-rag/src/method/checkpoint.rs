//! The resumable state of a training loop with AdamW (`W_0^ret`, prompt tuning): parameters,
//! both moments, the step count, the loss curve and the compute time so far, saved atomically
//! as one safetensors file under a stamp.

use std::path::Path;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::experiment::store::Stamp;
use crate::experiment::tensors::TensorFile;
use crate::method::optim::AdamW;

/// A training loop's state.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub params: Vec<f32>,
    pub opt: AdamW,
    /// Mean loss of each optimiser step taken so far.
    pub losses: Vec<f32>,
    /// Compute time of those steps in earlier processes (`None`: a stored state without it).
    pub before: Option<f64>,
    /// Wall time of each optimiser step alone (its micro-batches' forward and backward and
    /// the update; not the dev loss or the checkpoint), for the steps since such times were
    /// kept (a resumed state from before has fewer entries than steps).
    pub step_seconds: Vec<f32>,
    /// Whatever else a loop keeps with its state (early stopping's dev curve and best
    /// parameters), saved and resumed with it.
    pub extra: std::collections::BTreeMap<String, Vec<f32>>,
}

/// The tensors every checkpoint holds; any other is an [`Checkpoint::extra`].
const OWN: [&str; 5] = ["params", "m", "v", "losses", "step_seconds"];

impl Checkpoint {
    /// `params` and `opt` as given, or the state stored at `path` when its stamp matches (a
    /// stale file is removed); `what` names the parameters in a length error.
    pub fn resume(
        path: &Path,
        stamp: &Stamp,
        params: Vec<f32>,
        opt: AdamW,
        what: &str,
    ) -> Result<Self> {
        let mut c = Self {
            params,
            opt,
            losses: Vec::new(),
            before: Some(0.0),
            step_seconds: Vec::new(),
            extra: Default::default(),
        };
        let Some(f) = TensorFile::load_or_rebuild(path, stamp)? else {
            return Ok(c);
        };
        let n = c.params.len();
        c.params = f.get("params", path)?.to_vec();
        c.opt.m = f.get("m", path)?.to_vec();
        c.opt.v = f.get("v", path)?.to_vec();
        c.opt.t = f.meta_parse("t", path)?;
        c.losses = f.get("losses", path)?.to_vec();
        c.step_seconds = f.tensors.get("step_seconds").cloned().unwrap_or_default();
        c.extra = f
            .tensors
            .iter()
            .filter(|(k, _)| !OWN.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        c.before = match f.meta.get("seconds").and_then(|v| v.parse::<f64>().ok()) {
            Some(s) => Some(s),
            None if c.losses.is_empty() => Some(0.0),
            None => None,
        };
        if c.params.len() != n || c.opt.m.len() != n || c.opt.v.len() != n {
            return Err(Error::Format {
                path: path.to_path_buf(),
                reason: format!("{} {what} stored, expected {n}", c.params.len()),
            });
        }
        Ok(c)
    }

    /// One optimiser step from the accumulated gradient `grad` (clipped to global norm `clip`
    /// first): a non-finite gradient stops the run naming `stage`, `step` and the last batch.
    pub fn step(
        &mut self,
        grad: &mut [f32],
        clip: f64,
        loss: f64,
        stage: &'static str,
        step: usize,
        last_batch: usize,
    ) -> Result<()> {
        if !crate::method::optim::clip_global_norm(grad, clip).is_finite() {
            return Err(Error::NonFinite {
                stage,
                step,
                batch: last_batch,
                what: "gradient".into(),
            });
        }
        self.opt.step(&mut self.params, grad);
        self.losses.push(loss as f32);
        Ok(())
    }

    /// Compute time of every step taken, this process's since `started` included.
    pub fn total_seconds(&self, started: &Instant) -> Option<f64> {
        self.before.map(|b| b + started.elapsed().as_secs_f64())
    }

    /// Writes the state atomically; returns the compute time it recorded (what a resumed run
    /// will read back, so both report the same).
    pub fn save(&self, path: &Path, stamp: &Stamp, started: &Instant) -> Result<Option<f64>> {
        let mut f = TensorFile::default();
        f.tensors.insert("params".into(), self.params.clone());
        f.tensors.insert("m".into(), self.opt.m.clone());
        f.tensors.insert("v".into(), self.opt.v.clone());
        f.tensors.insert("losses".into(), self.losses.clone());
        f.tensors
            .insert("step_seconds".into(), self.step_seconds.clone());
        for (k, v) in &self.extra {
            f.tensors.insert(k.clone(), v.clone());
        }
        f.meta.insert("t".into(), self.opt.t.to_string());
        let total = self.total_seconds(started);
        if let Some(t) = total {
            f.meta.insert("seconds".into(), t.to_string());
        }
        f.save(path, stamp)?;
        Ok(total)
    }
}
