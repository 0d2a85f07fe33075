//! HyperTuning (Phang et al., 2023), the paper's "gradient supervision matters" contrast
//! (§4.5): the same `g_φ` as RAG-GD — input `h̄(C)`, MLP, `R × R` heads in the same fitted
//! bases, the same output scale — trained end to end through the downstream answer loss
//! instead of matching a K-step gradient target (Eq. 9).
//!
//! A training example is a meta-training context `C` of a task and one other question `x` of
//! the same task's pool (never one of `C`'s demonstrations): the loss is
//! `L(W_0^ret + P g_φ(h̄(C)) Qᵀ; x)`, the answer-token cross-entropy of Eq. 8 on `x`,
//! backpropagated through the frozen backbone into the predicted coefficients and on into
//! `φ`. `W_0^ret` and the backbone stay frozen.
//!
//! What the contrast isolates: the training signal only. The bases and the per-block scale
//! come from the gradient-step targets (they are part of the architecture RAG-GD uses), so
//! HyperTuning searches the same subspace with a different objective.

use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{Adaptation, Llm, LoraAdapter, LowRankDelta};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::experiment::profile::PredictorSettings;
use crate::experiment::prompt::Instance;
use crate::method::factored::Basis;
use crate::method::frozen::FrozenStates;
use crate::method::loss::{AnswerBatch, answer_loss};
use crate::method::meta::TrainedPredictor;
use crate::method::optim::{AdamW, clip_global_norm};
use crate::method::params::LoraLayout;
use crate::method::predictor::{Predictor, PredictorTensors};

/// One meta-training context for HyperTuning.
#[derive(Debug, Clone)]
pub struct HyperContext<'a> {
    /// `h̄(C)`, the pooled demonstration states (as stored with the targets).
    pub hbar: &'a [f32],
    /// Questions of the context's task outside `C`; each step reads the loss on one.
    pub queries: Vec<&'a Instance>,
}

/// The bases as constant tensors on `device`: `(P: [d_out, R], Q: [d_in, R])` per block.
fn basis_tensors(bases: &[Basis], device: &Device) -> Vec<(Tensor<2>, Tensor<2>)> {
    let t = |m: &nalgebra::DMatrix<f64>| {
        let (rows, cols) = m.shape();
        let v: Vec<f32> = (0..rows)
            .flat_map(|i| (0..cols).map(move |j| m[(i, j)] as f32))
            .collect();
        Tensor::<2>::from_data(TensorData::new(v, [rows, cols]), device)
    };
    bases.iter().map(|b| (t(&b.p), t(&b.q))).collect()
}

/// `gΔW = P C Qᵀ` for one context, differentiable in `C` (`U = P C`, `V = Q` per block).
fn delta_of(
    tensors: &PredictorTensors,
    hbar: &[f32],
    pq: &[(Tensor<2>, Tensor<2>)],
    layout: &LoraLayout,
    device: &Device,
) -> Result<LowRankDelta> {
    let d = hbar.len();
    let c = tensors.forward(Tensor::from_data(
        TensorData::new(hbar.to_vec(), [1, d]),
        device,
    ));
    let [_, blocks, r, _] = c.dims();
    let c = c.reshape([blocks, r, r]);
    let mut delta = LowRankDelta::new();
    for (b, (blk, (p, q))) in layout.blocks.iter().zip(pq).enumerate() {
        let cb = c.clone().narrow(0, b, 1).reshape([r, r]);
        delta.set(blk.layer, blk.proj, p.clone().matmul(cb), q.clone())?;
    }
    Ok(delta)
}

/// What every HyperTuning step reads: `W_0^ret` and the bases as tensors on the autodiff
/// device.
pub struct HyperSetup {
    ad: Device,
    pq: Vec<(Tensor<2>, Tensor<2>)>,
    w0: LoraAdapter,
}

impl HyperSetup {
    pub fn new(model: &Llm, layout: &LoraLayout, w0_flat: &[f32], bases: &[Basis]) -> Result<Self> {
        if bases.len() != layout.blocks.len() {
            return Err(Error::Config(format!(
                "{} bases for {} interface blocks",
                bases.len(),
                layout.blocks.len()
            )));
        }
        let ad: Device = model.device().clone().autodiff();
        Ok(Self {
            pq: basis_tensors(bases, &ad),
            w0: layout.adapter(w0_flat, &ad),
            ad,
        })
    }

    /// The mean over `pairs` of `L(W_0^ret + P g_φ(h̄) Qᵀ; query)` and its gradient in `φ`
    /// (flat, in [`Predictor`] order), with `step`/`batch` naming a non-finite loss.
    pub fn loss_and_gradient(
        &self,
        model: &Llm,
        frozen: &mut FrozenStates,
        layout: &LoraLayout,
        pred: &Predictor,
        pairs: &[(&[f32], &Instance)],
        step: usize,
    ) -> Result<(f32, Vec<f32>)> {
        if pairs.is_empty() {
            return Err(Error::Config("HyperTuning step without a query".into()));
        }
        let tensors = pred.tensors(&self.ad, true);
        let mut total: Option<Tensor<1>> = None;
        for (j, (hbar, query)) in pairs.iter().enumerate() {
            let delta = delta_of(&tensors, hbar, &self.pq, layout, &self.ad)?;
            let batch = AnswerBatch::new(model, frozen, &[*query])?;
            let loss = answer_loss(
                model,
                frozen.split(),
                &batch,
                &Adaptation::lora(&self.w0).with_delta(&delta),
            )?;
            let value = to_vec_f32(loss.clone())[0];
            if !value.is_finite() {
                return Err(Error::NonFinite {
                    stage: "hypertuning",
                    step,
                    batch: j,
                    what: format!("answer loss {value}"),
                });
            }
            total = Some(match total {
                Some(t) => t + loss,
                None => loss,
            });
        }
        let loss = total
            .map(|t| t.div_scalar(pairs.len() as f32))
            .ok_or_else(|| Error::Config("no loss".into()))?;
        let value = to_vec_f32(loss.clone())[0];
        Ok((value, tensors.gradient(&loss.backward())))
    }
}

/// Trains HyperTuning's `g_φ` from `init` (fresh weights, RAG-GD's input standardisation and
/// output scale) for `settings.hyper_steps` AdamW steps of `settings.batch` contexts, each
/// with one of its queries drawn at random.
#[allow(clippy::too_many_arguments)]
pub fn train_hypertuning(
    model: &Llm,
    frozen: &mut FrozenStates,
    layout: &LoraLayout,
    w0_flat: &[f32],
    bases: &[Basis],
    init: Predictor,
    contexts: &[HyperContext<'_>],
    settings: &PredictorSettings,
    seed: u64,
    label: &str,
    progress: bool,
) -> Result<TrainedPredictor> {
    if contexts.is_empty() || contexts.iter().any(|c| c.queries.is_empty()) {
        return Err(Error::Config(
            "HyperTuning needs contexts, each with at least one query outside it".into(),
        ));
    }
    let setup = HyperSetup::new(model, layout, w0_flat, bases)?;
    let mut pred = init;
    let mut opt = AdamW::new(pred.params.len(), settings.lr, settings.weight_decay);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0447_97e7);
    let mut losses = Vec::with_capacity(settings.hyper_steps);
    let bar =
        icor_qa::retrieve::progress::bar(label, settings.hyper_steps as u64, "steps", progress);
    let started = Instant::now();
    let bsz = settings.batch.min(contexts.len()).max(1);
    for step in 0..settings.hyper_steps {
        let pairs: Vec<(&[f32], &Instance)> = sample(&mut rng, contexts.len(), bsz)
            .iter()
            .map(|ci| {
                let ctx = &contexts[ci];
                (
                    ctx.hbar,
                    ctx.queries[rng.random_range(0..ctx.queries.len())],
                )
            })
            .collect();
        let (value, mut g) = setup.loss_and_gradient(model, frozen, layout, &pred, &pairs, step)?;
        let norm = clip_global_norm(&mut g, settings.clip);
        if !norm.is_finite() {
            return Err(Error::NonFinite {
                stage: "hypertuning",
                step,
                batch: bsz - 1,
                what: "gradient".into(),
            });
        }
        opt.step(&mut pred.params, &g);
        losses.push(value);
        bar.set_message(format!("answer loss {value:.3}"));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(TrainedPredictor {
        predictor: pred,
        losses,
        seconds: started.elapsed().as_secs_f64(),
    })
}
