//! Alignment metrics between a trained model and the constructed GD predictor (§4.1, App. C.1),
//! computed on held-out tasks in chunks:
//! - the loss of each (half MSE, the authors' loss);
//! - prediction difference, mean |ŷ_TF − ŷ_GD|;
//! - input sensitivities ∂ŷ/∂x_q by autodiff: mean cosine, and mean ‖ĝ_TF − ĝ_GD‖ of the
//!   unit-normalised gradients (the authors' "model diff", ε = 1e-8) and of the raw gradients
//!   (von Oswald's).

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::model::{Input, Model};
use crate::reference::gd_forward;
use crate::task::{Batch, KvMix, Readout};
use crate::tensor::{tensor1, values};

/// The GD reference: K steps of size η from each task's w0.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct GdRef {
    pub eta: f64,
    pub steps: usize,
    pub readout: Readout,
}

/// Mean alignment metrics over a set of tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub loss_model: f64,
    pub loss_gd: f64,
    pub pred_diff: f64,
    pub sens_cos: f64,
    pub sens_l2_unit: f64,
    pub sens_l2_raw: f64,
    pub tasks: usize,
}

/// Predictions and input sensitivities of one predictor on one chunk.
struct Probe {
    preds: Vec<f32>,
    grads: Vec<f32>, // [B, d_x]
}

fn probe(
    batch: &Batch,
    mix: Option<&KvMix>,
    device: &Device,
    f: &dyn Fn(&Input) -> Tensor<1>,
) -> Probe {
    let (input, leaf) = Input::new(batch, mix, device, true);
    let preds = f(&input);
    let grads = preds.clone().sum().backward();
    let leaf = leaf.expect("track_query gives the query leaf");
    let dx = batch.dx();
    let g = leaf
        .grad(&grads)
        .map(|g| g.slice([0..batch.b, 0..1, 0..dx]).reshape([batch.b, dx]))
        .map(|g| values(&g))
        .unwrap_or_else(|| vec![0.0; batch.b * dx]);
    Probe {
        preds: values(&preds.detach()),
        grads: g,
    }
}

/// The GD reference's predictions and input sensitivities on one batch, in chunks, computed
/// once and set against any number of models (the training curve compares at every
/// evaluation, the final evaluation the trained model and its control).
pub struct GdProbe {
    parts: Vec<(Batch, Probe)>,
}

impl GdProbe {
    /// GD on `batch`, chunks of `chunk` tasks. GD sees no key/value mixing (the authors' GD
    /// model does not mix).
    pub fn new(gd: &GdRef, batch: &Batch, device: &Device, chunk: usize) -> Self {
        let parts = split(batch, chunk)
            .into_iter()
            .map(|part| {
                let g = probe(&part, None, device, &|i| {
                    gd_forward(
                        i,
                        tensor1(vec![gd.eta as f32], device),
                        None,
                        gd.steps,
                        gd.readout,
                    )
                });
                (part, g)
            })
            .collect();
        Self { parts }
    }
}

/// Compares `model` with the GD reference on `batch` (split into chunks of `chunk` tasks).
/// GD sees no key/value mixing (the authors' GD model does not mix); the model does.
pub fn compare(
    model: &Model,
    gd: &GdRef,
    batch: &Batch,
    mix: Option<&KvMix>,
    device: &Device,
    chunk: usize,
) -> Comparison {
    compare_with(model, &GdProbe::new(gd, batch, device, chunk), mix, device)
}

/// [`compare`] against a GD probe computed beforehand.
pub fn compare_with(
    model: &Model,
    gd: &GdProbe,
    mix: Option<&KvMix>,
    device: &Device,
) -> Comparison {
    let mut acc = Comparison::default();
    for (part, g) in &gd.parts {
        let tf = probe(part, mix, device, &|i| model.predict(i));
        accumulate(&mut acc, part, &tf, g);
    }
    let n = acc.tasks.max(1) as f64;
    Comparison {
        loss_model: acc.loss_model / n,
        loss_gd: acc.loss_gd / n,
        pred_diff: acc.pred_diff / n,
        sens_cos: acc.sens_cos / n,
        sens_l2_unit: acc.sens_l2_unit / n,
        sens_l2_raw: acc.sens_l2_raw / n,
        tasks: acc.tasks,
    }
}

/// Adds one chunk's sums (not yet means) to `acc`.
fn accumulate(acc: &mut Comparison, part: &Batch, tf: &Probe, g: &Probe) {
    let dx = part.dx();
    for t in 0..part.b {
        let y = part.targets[t] as f64;
        let (a, b) = (tf.preds[t] as f64, g.preds[t] as f64);
        acc.loss_model += 0.5 * (a - y).powi(2);
        acc.loss_gd += 0.5 * (b - y).powi(2);
        acc.pred_diff += (a - b).abs();
        let (ga, gb) = (
            &tf.grads[t * dx..(t + 1) * dx],
            &g.grads[t * dx..(t + 1) * dx],
        );
        let na = ga.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        let nb = gb.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        let (mut dot, mut d_unit, mut d_raw) = (0.0, 0.0, 0.0);
        for (u, v) in ga.iter().zip(gb) {
            let (u, v) = (*u as f64, *v as f64);
            dot += u * v;
            d_unit += (u / (na + 1e-8) - v / (nb + 1e-8)).powi(2);
            d_raw += (u - v).powi(2);
        }
        acc.sens_cos += dot / ((na + 1e-8) * (nb + 1e-8));
        acc.sens_l2_unit += d_unit.sqrt();
        acc.sens_l2_raw += d_raw.sqrt();
    }
    acc.tasks += part.b;
}

/// Half-MSE of `model` alone on `batch`.
pub fn model_loss(
    model: &Model,
    batch: &Batch,
    mix: Option<&KvMix>,
    device: &Device,
    chunk: usize,
) -> f64 {
    let mut total = 0.0;
    for part in split(batch, chunk) {
        let (input, _) = Input::new(&part, mix, device, false);
        let p = values(&model.predict(&input).detach());
        total += p
            .iter()
            .zip(&part.targets)
            .map(|(a, y)| 0.5 * (*a as f64 - *y as f64).powi(2))
            .sum::<f64>();
    }
    total / batch.b.max(1) as f64
}

/// Splits a batch into consecutive chunks of at most `chunk` tasks.
pub fn split(batch: &Batch, chunk: usize) -> Vec<Batch> {
    let (t, d, dx) = (batch.t, batch.d, batch.dx());
    let chunk = chunk.max(1);
    (0..batch.b)
        .step_by(chunk)
        .map(|s| {
            let e = (s + chunk).min(batch.b);
            Batch {
                b: e - s,
                t,
                d,
                tokens: batch.tokens[s * t * d..e * t * d].to_vec(),
                targets: batch.targets[s..e].to_vec(),
                w0: batch.w0[s * dx..e * dx].to_vec(),
                extra_kv: batch
                    .extra_kv
                    .as_ref()
                    .map(|(v, m)| (v[s * m * d..e * m * d].to_vec(), *m)),
            }
        })
        .collect()
}
