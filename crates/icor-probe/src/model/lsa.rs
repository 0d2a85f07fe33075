//! Linear self-attention, Eq. 2: h ← h + P·V·Kᵀ·q with keys and values from the context tokens
//! only; `depth` applications of one set of weights (the authors' recurrent "deq" form).
//! Row-token convention: q = h W_Q, so W_Q here is the transpose of the column-vector form.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::init::{from_values, variance_scaling};
use super::{Input, Params, kv_input, lin, readout};

/// Single-head LSA with D×D weights shared across `depth` layers.
#[derive(Module, Debug)]
pub struct Lsa {
    pub w_q: Param<Tensor<2>>,
    pub w_k: Param<Tensor<2>>,
    pub w_v: Param<Tensor<2>>,
    pub p: Param<Tensor<2>>,
    pub depth: usize,
    /// Activations are clamped to ±`clip` after every layer when non-zero (the authors' code
    /// does this with 10 for more than three layers).
    pub clip: f32,
}

impl Lsa {
    /// Random init, VarianceScaling(0.002 / depth), seeded (authors' defaults).
    pub fn init(d: usize, depth: usize, seed: u64, device: &Device) -> Self {
        let scale = 0.002 / depth as f64;
        Self {
            w_q: variance_scaling(d, d, scale, seed, 11, device),
            w_k: variance_scaling(d, d, scale, seed, 12, device),
            w_v: variance_scaling(d, d, scale, seed, 13, device),
            p: variance_scaling(d, d, scale, seed, 14, device),
            depth,
            clip: if depth > 3 { 10.0 } else { 0.0 },
        }
    }

    /// The constructed GD predictor as LSA weights (Lemma 1 / the K-step stack of icor-linear,
    /// in the negated-read-out convention): W_Q = W_K = diag(I_{d_x}, 0); the value's y entry
    /// is y − w0·x; P = −(η/N) on the y-slot. `depth` layers perform `depth` GD steps from w0
    /// and the read-out is (W⁽ᴷ⁾ − w0)·x_q.
    pub fn gd_construction(
        d: usize,
        depth: usize,
        eta: f64,
        n: usize,
        w0: &[f32],
        device: &Device,
    ) -> Self {
        let dx = d - 1;
        let mut kq = vec![0.0f32; d * d];
        for i in 0..dx {
            kq[i * d + i] = 1.0;
        }
        let mut v = vec![0.0f32; d * d];
        for (i, w) in w0.iter().enumerate().take(dx) {
            v[i * d + dx] = -w;
        }
        v[dx * d + dx] = 1.0;
        let mut p = vec![0.0f32; d * d];
        p[dx * d + dx] = -(eta / n as f64) as f32;
        Self {
            w_q: from_values(kq.clone(), d, d, device),
            w_k: from_values(kq, d, d, device),
            w_v: from_values(v, d, d, device),
            p: from_values(p, d, d, device),
            depth,
            clip: 0.0,
        }
    }

    /// (1 − t)·self + t·other, parameter by parameter (von Oswald's interpolation).
    pub fn interpolate(&self, other: &Lsa, t: f32, device: &Device) -> Self {
        let mix = |a: &Param<Tensor<2>>, b: &Param<Tensor<2>>| {
            let v = a.val().detach() * (1.0 - t) + b.val().detach() * t;
            let [r, c] = v.dims();
            Param::from_tensor(crate::tensor::tensor2(
                crate::tensor::values(&v),
                [r, c],
                device,
            ))
        };
        Self {
            w_q: mix(&self.w_q, &other.w_q),
            w_k: mix(&self.w_k, &other.w_k),
            w_v: mix(&self.w_v, &other.w_v),
            p: mix(&self.p, &other.p),
            depth: self.depth,
            clip: self.clip,
        }
    }

    /// The tokens after one layer (every row).
    pub fn layer(&self, h: Tensor<3>, input: &Input) -> Tensor<3> {
        let kv = kv_input(&h, input);
        let q = lin(h.clone(), self.w_q.val());
        let k = lin(kv.clone(), self.w_k.val());
        let v = lin(kv, self.w_v.val());
        let attn = q.matmul(k.swap_dims(1, 2)).matmul(v); // Σᵢ (qⱼ·kᵢ) vᵢ
        h + lin(attn, self.p.val())
    }

    /// The query token alone after one layer, `[B, D]`: Eq. 2 for the query row,
    /// h_q + P·Σᵢ (q·kᵢ)·vᵢ. The read-out needs no other row of the last layer, so that layer
    /// computes this one; the scores and their sum over the context are broadcast products over
    /// the whole batch, not one small matrix product per task.
    pub fn query_layer(&self, h: Tensor<3>, input: &Input) -> Tensor<2> {
        let [b, t, d] = h.dims();
        let kv = kv_input(&h, input);
        let h_q = h.slice([0..b, t - 1..t, 0..d]).reshape([b, d]);
        let q = h_q.clone().matmul(self.w_q.val()).reshape([b, 1, d]);
        let k = lin(kv.clone(), self.w_k.val());
        let v = lin(kv, self.w_v.val());
        let scores = (k * q).sum_dim(2); // [B, M, 1]: q·kᵢ
        let attn = (v * scores).sum_dim(1).reshape([b, d]); // Σᵢ (q·kᵢ) vᵢ
        h_q + attn.matmul(self.p.val())
    }

    /// One prediction per task after `depth` layers; the last computes the query row only.
    pub fn predict(&self, input: &Input) -> Tensor<1> {
        let clip = |h: Tensor<3>| {
            if self.clip > 0.0 {
                h.clamp(-self.clip, self.clip)
            } else {
                h
            }
        };
        let mut h = input.tokens.clone();
        for _ in 1..self.depth {
            h = clip(self.layer(h, input));
        }
        let [b, _, d] = h.dims();
        let h_q = clip(self.query_layer(h, input).reshape([b, 1, d]));
        readout(h_q)
    }
}

impl Params for Lsa {
    fn params(&self) -> Vec<&Param<Tensor<2>>> {
        vec![&self.w_q, &self.w_k, &self.w_v, &self.p]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::model::readout;
    use crate::task::{Authors, DotProduct, Projection, Task, rng};
    use crate::tensor::values;

    /// The read-out through the query-row last layer equals the read-out of every row after
    /// `depth` full layers, on each protocol's tokens (the authors' key/value mixing, extra
    /// document tokens) and at depths 1, 2 and 5 (clipped).
    #[test]
    fn query_row_last_layer_equals_the_full_layer() {
        let device = Backend::Cpu.device().unwrap();
        let tasks = [
            Task::Authors(Authors::new(5, &mut rng(1, 0))),
            Task::Projection(Projection::new(3)),
            Task::DotProduct(DotProduct::new(4, &mut rng(2, 0))),
        ];
        for task in &tasks {
            let batch = task.sample(&mut rng(3, 1), 16, task.train_alpha());
            let (input, _) = Input::new(&batch, task.kv_mix().as_ref(), &device, false);
            for depth in [1, 2, 5] {
                let mut lsa = Lsa::init(batch.d, depth, 7, &device);
                lsa.w_q = Param::from_tensor((lsa.w_q.val() * 300.0).detach()); // away from ≈ 0 outputs
                lsa.p = Param::from_tensor((lsa.p.val() * 300.0).detach());
                let mut h = input.tokens.clone();
                for _ in 0..depth {
                    h = lsa.layer(h, &input);
                    if lsa.clip > 0.0 {
                        h = h.clamp(-lsa.clip, lsa.clip);
                    }
                }
                let full = values(&readout(h));
                let fast = values(&lsa.predict(&input));
                let scale = full.iter().fold(0f32, |m, v| m.max(v.abs()));
                assert!(
                    scale > 1e-3,
                    "{}: outputs too small to compare",
                    task.label()
                );
                for (a, b) in fast.iter().zip(&full) {
                    assert!(
                        (a - b).abs() <= 1e-5 * scale.max(1.0),
                        "{} depth {depth}: {a} vs {b}",
                        task.label()
                    );
                }
            }
        }
    }
}
