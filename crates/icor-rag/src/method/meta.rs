//! Stage 3: meta-training `g_φ` on the stored gradient-step targets with the matching loss
//! (Eq. 9; App. G: AdamW lr 5e-4, wd 0.01, clip 1.0), its fidelity on held-out contexts, and
//! the predicted update as the low-rank delta the backbone applies (Algorithm 1, phase 2).

use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{LlmConfig, LowRankDelta};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::experiment::profile::PredictorSettings;
use crate::method::factored::{Basis, Factor, FactoredDelta};
use crate::method::matching::{NormTerm, cos_and_ratio, matching_loss};
use crate::method::optim::{AdamW, clip_global_norm};
use crate::method::params::LoraLayout;
use crate::method::predictor::{Predictor, PredictorShape};

/// A context's pooled demonstration state and one target, projected into the bases.
#[derive(Debug, Clone)]
pub struct Projected {
    pub hbar: Vec<f32>,
    /// `T = PᵀΔW*Q` per block, flat `[blocks · R · R]`.
    pub t: Vec<f32>,
    /// `‖ΔW*‖` per block.
    pub norms: Vec<f32>,
}

/// Fits one basis per block to the training targets.
pub fn fit_bases(train: &[&FactoredDelta], rank: usize) -> Vec<Basis> {
    let blocks = train.first().map_or(0, |d| d.blocks.len());
    (0..blocks)
        .map(|b| {
            let fs: Vec<&Factor> = train.iter().map(|d| &d.blocks[b]).collect();
            Basis::fit(&fs, rank)
        })
        .collect()
}

/// Projects a target into `bases`.
pub fn project(bases: &[Basis], delta: &FactoredDelta, hbar: &[f32]) -> Projected {
    let mut t = Vec::new();
    let mut norms = Vec::new();
    for (basis, f) in bases.iter().zip(&delta.blocks) {
        let m = basis.project(f);
        // Row-major R × R.
        for i in 0..m.nrows() {
            for j in 0..m.ncols() {
                t.push(m[(i, j)] as f32);
            }
        }
        norms.push(f.norm() as f32);
    }
    Projected {
        hbar: hbar.to_vec(),
        t,
        norms,
    }
}

/// `g_φ` after meta-training, with its bases and curve.
#[derive(Debug, Clone)]
pub struct TrainedPredictor {
    pub predictor: Predictor,
    pub losses: Vec<f32>,
    pub seconds: f64,
}

fn batch_tensors(
    items: &[&Projected],
    shape: PredictorShape,
    device: &Device,
) -> (Tensor<2>, Tensor<4>, Tensor<2>) {
    let b = items.len();
    let (h, r) = (shape.blocks, shape.r);
    let hbar: Vec<f32> = items.iter().flat_map(|p| p.hbar.iter().copied()).collect();
    let t: Vec<f32> = items.iter().flat_map(|p| p.t.iter().copied()).collect();
    let n: Vec<f32> = items
        .iter()
        .flat_map(|p| p.norms.iter().map(|&x| x.max(1e-30)))
        .collect();
    (
        Tensor::from_data(TensorData::new(hbar, [b, shape.d]), device),
        Tensor::from_data(TensorData::new(t, [b, h, r, r]), device),
        Tensor::from_data(TensorData::new(n, [b, h]), device),
    )
}

/// Standardisation of `h̄` and per-block output scale from the training set.
fn statistics(train: &[Projected], shape: PredictorShape) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n = train.len().max(1) as f64;
    let mut mean = vec![0f64; shape.d];
    for p in train {
        mean.iter_mut()
            .zip(&p.hbar)
            .for_each(|(m, &x)| *m += f64::from(x) / n);
    }
    let mut var = vec![0f64; shape.d];
    for p in train {
        var.iter_mut()
            .zip(&p.hbar)
            .zip(&mean)
            .for_each(|((v, &x), m)| *v += (f64::from(x) - m).powi(2) / n);
    }
    let std = var.iter().map(|v| (v.sqrt() + 1e-3) as f32).collect();
    let mut scale = vec![0f64; shape.blocks];
    for p in train {
        scale
            .iter_mut()
            .zip(&p.norms)
            .for_each(|(s, &x)| *s += f64::from(x) / n);
    }
    let r = shape.r as f64;
    (
        mean.iter().map(|&m| m as f32).collect(),
        std,
        scale.iter().map(|s| (s / r).max(1e-12) as f32).collect(),
    )
}

/// Meta-trains `g_φ` on `train` with Eq. 9 (`term` chooses `m`).
pub fn train_predictor(
    train: &[Projected],
    shape: PredictorShape,
    settings: &PredictorSettings,
    term: NormTerm,
    seed: u64,
    device: &Device,
    label: &str,
    progress: bool,
) -> Result<TrainedPredictor> {
    if train.is_empty() {
        return Err(Error::Config("no training contexts for g_φ".into()));
    }
    let (mean, std, scale) = statistics(train, shape);
    let mut pred = Predictor::init(shape, mean, std, scale, seed);
    let ad = device.clone().autodiff();
    let mut opt = AdamW::new(pred.params.len(), settings.lr, settings.weight_decay);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x3e7a);
    let mut losses = Vec::with_capacity(settings.steps);
    let bar = icor_qa::retrieve::progress::bar(label, settings.steps as u64, "steps", progress);
    let started = Instant::now();
    let bsz = settings.batch.min(train.len()).max(1);
    for step in 0..settings.steps {
        let idx = sample(&mut rng, train.len(), bsz);
        let items: Vec<&Projected> = idx.iter().map(|i| &train[i]).collect();
        let (h, t, n) = batch_tensors(&items, shape, &ad);
        let tensors = pred.tensors(&ad, true);
        let loss = matching_loss(tensors.forward(h), t, n, settings.lambda, term);
        let value = to_vec_f32(loss.clone())[0];
        if !value.is_finite() {
            return Err(Error::NonFinite {
                stage: "predictor",
                step,
                batch: 0,
                what: format!("matching loss {value}"),
            });
        }
        let mut g = tensors.gradient(&loss.backward());
        clip_global_norm(&mut g, settings.clip);
        opt.step(&mut pred.params, &g);
        losses.push(value);
        if step % 20 == 0 {
            bar.set_message(format!("L_match {value:.3}"));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(TrainedPredictor {
        predictor: pred,
        losses,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Fidelity of predictions to targets on contexts `items`, averaged over blocks per context.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Fidelity {
    /// Per context: mean over blocks of `cos(gΔW, ΔW*)`.
    pub cosine: Vec<f64>,
    /// Per context: median over blocks of `‖gΔW‖ / ‖ΔW*‖`.
    pub norm_ratio: Vec<f64>,
    /// Per context: mean over blocks of the best cosine the bases allow, `‖T‖ / ‖ΔW*‖`.
    pub ceiling: Vec<f64>,
}

/// The control for [`fidelity`]'s cosine: a predictor that ignores the context and always
/// answers the training targets' mean in the bases, `C̄ = mean_i T_i`. Per held-out context,
/// the mean over blocks of `⟨C̄, T⟩ / (‖C̄‖ ‖ΔW*‖)`, the cosine [`fidelity`] gives `g_φ`. If
/// `g_φ` reads the context, its cosine must beat this one; if it only learnt the targets'
/// shared direction, the two agree.
pub fn mean_target_cosine(train: &[Projected], held: &[Projected], blocks: usize) -> Vec<f64> {
    let Some(first) = train.first() else {
        return vec![f64::NAN; held.len()];
    };
    let mut mean = vec![0.0f64; first.t.len()];
    for p in train {
        for (m, &t) in mean.iter_mut().zip(&p.t) {
            *m += f64::from(t) / train.len() as f64;
        }
    }
    let per_block = mean.len() / blocks.max(1);
    held.iter()
        .map(|p| {
            (0..blocks)
                .map(|b| {
                    let span = b * per_block..(b + 1) * per_block;
                    let m = &mean[span.clone()];
                    let dot: f64 = m
                        .iter()
                        .zip(&p.t[span])
                        .map(|(m, &t)| m * f64::from(t))
                        .sum();
                    let mn = m.iter().map(|m| m * m).sum::<f64>().sqrt();
                    dot / (mn * f64::from(p.norms[b])).max(1e-30)
                })
                .sum::<f64>()
                / blocks as f64
        })
        .collect()
}

/// The predicted coefficients `C` (`[B][blocks·R·R]`) for pooled states.
pub fn predict_coefficients(pred: &Predictor, hbars: &[&[f32]], device: &Device) -> Vec<Vec<f32>> {
    let s = pred.shape;
    let b = hbars.len();
    let h: Vec<f32> = hbars.iter().flat_map(|x| x.iter().copied()).collect();
    let c = pred
        .tensors(device, false)
        .forward(Tensor::from_data(TensorData::new(h, [b, s.d]), device));
    let flat = to_vec_f32(c);
    flat.chunks(s.blocks * s.r * s.r)
        .map(<[f32]>::to_vec)
        .collect()
}

/// Fidelity of `pred` on `items`.
pub fn fidelity(pred: &Predictor, items: &[Projected], device: &Device) -> Fidelity {
    let s = pred.shape;
    let mut out = Fidelity::default();
    if items.is_empty() {
        return out;
    }
    let refs: Vec<&Projected> = items.iter().collect();
    let (h, t, n) = batch_tensors(&refs, s, device);
    let c = pred.tensors(device, false).forward(h);
    let (cos, ratio) = cos_and_ratio(c, t.clone(), n.clone());
    let (cos, ratio) = (to_vec_f32(cos), to_vec_f32(ratio));
    let tn = to_vec_f32(
        (t.clone() * t)
            .sum_dims(&[2, 3])
            .sqrt()
            .reshape([items.len(), s.blocks]),
    );
    let n = to_vec_f32(n);
    for i in 0..items.len() {
        let row = i * s.blocks..(i + 1) * s.blocks;
        let k = s.blocks as f64;
        out.cosine
            .push(cos[row.clone()].iter().map(|&x| f64::from(x)).sum::<f64>() / k);
        let mut r: Vec<f64> = ratio[row.clone()].iter().map(|&x| f64::from(x)).collect();
        r.sort_by(f64::total_cmp);
        out.norm_ratio.push(r[r.len() / 2]);
        out.ceiling.push(
            row.map(|j| f64::from(tn[j]) / f64::from(n[j]).max(1e-30))
                .sum::<f64>()
                / k,
        );
    }
    out
}

/// The update `gΔW = P C Qᵀ` as a delta on the backbone: `U = P C`, `V = Q` per block.
pub fn coefficients_to_delta(
    coeffs: &[f32],
    bases: &[Basis],
    layout: &LoraLayout,
    config: &LlmConfig,
    device: &Device,
) -> Result<LowRankDelta> {
    let mut delta = LowRankDelta::new();
    for (b, (blk, basis)) in layout.blocks.iter().zip(bases).enumerate() {
        let r = basis.p.ncols();
        let c = DMatrix::from_fn(r, r, |i, j| f64::from(coeffs[b * r * r + i * r + j]));
        let u = &basis.p * c;
        let to_tensor = |m: &DMatrix<f64>| {
            let (rows, cols) = m.shape();
            let mut v = Vec::with_capacity(rows * cols);
            for i in 0..rows {
                for j in 0..cols {
                    v.push(m[(i, j)] as f32);
                }
            }
            Tensor::<2>::from_data(TensorData::new(v, [rows, cols]), device)
        };
        delta.set(blk.layer, blk.proj, to_tensor(&u), to_tensor(&basis.q))?;
    }
    delta.check(config)?;
    Ok(delta)
}

/// Mean pairwise cosine (over blocks, then pairs) of predicted coefficient sets: the
/// predictions share bases, so `cos(P C₁ Qᵀ, P C₂ Qᵀ) = cos(C₁, C₂)` per block.
pub fn mean_pairwise_cos_coeffs(a: &[&[f32]], b: &[&[f32]], blocks: usize, same: bool) -> f64 {
    let per = a.first().map_or(0, |x| x.len()) / blocks.max(1);
    let cos = |x: &[f32], y: &[f32]| {
        let (mut d, mut nx, mut ny) = (0f64, 0f64, 0f64);
        for (p, q) in x.iter().zip(y) {
            d += f64::from(*p) * f64::from(*q);
            nx += f64::from(*p).powi(2);
            ny += f64::from(*q).powi(2);
        }
        if nx > 0.0 && ny > 0.0 {
            d / (nx.sqrt() * ny.sqrt())
        } else {
            0.0
        }
    };
    pairwise(a, b, same, |x, y| {
        (0..blocks)
            .map(|h| cos(&x[h * per..(h + 1) * per], &y[h * per..(h + 1) * per]))
            .sum::<f64>()
            / blocks as f64
    })
}

/// Mean pairwise block-averaged cosine of factored targets.
pub fn mean_pairwise_cos_targets(a: &[&FactoredDelta], b: &[&FactoredDelta], same: bool) -> f64 {
    pairwise(a, b, same, |x, y| x.mean_cosine(y))
}

fn pairwise<T: ?Sized>(a: &[&T], b: &[&T], same: bool, f: impl Fn(&T, &T) -> f64) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            if same && j <= i {
                continue;
            }
            sum += f(x, y);
            n += 1;
        }
    }
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(t: [f32; 8], norms: [f32; 2]) -> Projected {
        Projected {
            hbar: vec![],
            t: t.to_vec(),
            norms: norms.to_vec(),
        }
    }

    /// Two blocks of 2 × 2 coefficients. The training targets' mean is `e₁` in block 0 and
    /// zero in block 1 (their block-1 parts cancel): a held-out target along `e₁` in block 0
    /// scores its share of the full norm there (2 of 4), and 0 in block 1.
    #[test]
    fn the_control_is_the_training_mean_s_cosine_against_the_full_norm() {
        let train = [
            item([1., 0., 0., 0., 0., 1., 0., 0.], [1., 1.]),
            item([1., 0., 0., 0., 0., -1., 0., 0.], [1., 1.]),
        ];
        let held = [
            item([2., 0., 0., 0., 0., 0., 3., 0.], [4., 3.]),
            item([-1., 0., 0., 0., 0., 0., 0., 1.], [1., 1.]),
        ];
        let got = mean_target_cosine(&train, &held, 2);
        assert_eq!(got.len(), 2);
        assert!((got[0] - (0.5 + 0.0) / 2.0).abs() < 1e-12, "{got:?}");
        assert!((got[1] - (-1.0 + 0.0) / 2.0).abs() < 1e-12, "{got:?}");
        assert!(mean_target_cosine(&[], &held, 2).iter().all(|c| c.is_nan()));
    }
}
