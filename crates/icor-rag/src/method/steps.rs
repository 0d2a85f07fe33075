//! The optimiser loop stage 1's two trainings share (`W_0^ret` and prompt tuning): per step,
//! the gradient averaged over `grad_accum` micro-batches, one clipped AdamW step, the progress
//! bar, and an atomic checkpoint every `checkpoint_every` steps and at the end of the call, so
//! that a killed run resumes where its checkpoint left it.

use std::path::Path;
use std::time::Instant;

use indicatif::ProgressBar;

use crate::error::{Error, Result};
use crate::experiment::profile::AdapterSettings;
use crate::experiment::store::Stamp;
use crate::method::checkpoint::Checkpoint;

/// Where and under which stamp the loop checkpoints, and what it reports as.
pub(crate) struct StepLoop<'a> {
    pub settings: &'a AdapterSettings,
    /// The stage named in errors ("adapter", "prompt tuning").
    pub stage: &'static str,
    pub checkpoint: &'a Path,
    pub stamp: &'a Stamp,
    pub bar: &'a ProgressBar,
    /// End this call after that many steps (tests: the state a killed run leaves).
    pub stop_after: Option<usize>,
}

/// What a micro-batch gives: its loss and the gradient of that loss.
pub(crate) struct MicroStep {
    pub loss: f32,
    pub grad: Vec<f32>,
}

impl StepLoop<'_> {
    /// Runs the steps `c` has not taken yet (up to `stop_after` of them). `micro(step, micro,
    /// params)` evaluates one micro-batch; `after(done, c)` runs after each step and ends the
    /// loop by returning true (early stopping; the checkpoint is written first). Returns the
    /// compute seconds the last checkpoint records.
    pub fn run(
        &self,
        c: &mut Checkpoint,
        started: &Instant,
        mut micro: impl FnMut(usize, usize, &[f32]) -> Result<MicroStep>,
        mut after: impl FnMut(usize, &mut Checkpoint) -> Result<bool>,
    ) -> Result<Option<f64>> {
        let s = self.settings;
        let first = c.losses.len();
        let last = self
            .stop_after
            .map_or(s.steps, |n| (first + n).min(s.steps));
        // The compute time the checkpoint holds (a resumed run reports the same).
        let mut recorded = c.before;
        for step in first..last {
            let t = Instant::now();
            let (mut grad, loss) = self.accumulate(step, &c.params, &mut micro)?;
            c.step(&mut grad, s.clip, loss, self.stage, step, s.grad_accum - 1)?;
            c.step_seconds.push(t.elapsed().as_secs_f32());
            self.bar.set_message(format!("loss {loss:.3}"));
            self.bar.inc(1);
            let done = step + 1;
            let stop = after(done, c)?;
            if stop || done % s.checkpoint_every.max(1) == 0 || done == last {
                recorded = c.save(self.checkpoint, self.stamp, started)?;
            }
            if stop {
                break;
            }
        }
        Ok(recorded)
    }

    /// The mean gradient and loss of step `step` over its micro-batches.
    fn accumulate(
        &self,
        step: usize,
        params: &[f32],
        micro: &mut impl FnMut(usize, usize, &[f32]) -> Result<MicroStep>,
    ) -> Result<(Vec<f32>, f64)> {
        let n = self.settings.grad_accum;
        let (mut grad, mut loss) = (vec![0f32; params.len()], 0f64);
        for m in 0..n {
            let out = micro(step, m, params)?;
            if !out.loss.is_finite() {
                return Err(Error::NonFinite {
                    stage: self.stage,
                    step,
                    batch: m,
                    what: format!("answer loss {}", out.loss),
                });
            }
            loss += f64::from(out.loss) / n as f64;
            let w = 1.0 / n as f32;
            grad.iter_mut()
                .zip(&out.grad)
                .for_each(|(a, b)| *a += w * b);
        }
        Ok((grad, loss))
    }
}
