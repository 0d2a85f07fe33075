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

    /// The tokens after one layer.
    pub fn layer(&self, h: Tensor<3>, input: &Input) -> Tensor<3> {
        let kv = kv_input(&h, input);
        let q = lin(h.clone(), self.w_q.val());
        let k = lin(kv.clone(), self.w_k.val());
        let v = lin(kv, self.w_v.val());
        let attn = q.matmul(k.swap_dims(1, 2)).matmul(v); // Σᵢ (qⱼ·kᵢ) vᵢ
        h + lin(attn, self.p.val())
    }

    /// One prediction per task after `depth` layers.
    pub fn predict(&self, input: &Input) -> Tensor<1> {
        let mut h = input.tokens.clone();
        for _ in 0..self.depth {
            h = self.layer(h, input);
            if self.clip > 0.0 {
                h = h.clamp(-self.clip, self.clip);
            }
        }
        readout(h)
    }
}

impl Params for Lsa {
    fn params(&self) -> Vec<&Param<Tensor<2>>> {
        vec![&self.w_q, &self.w_k, &self.w_v, &self.p]
    }
}
