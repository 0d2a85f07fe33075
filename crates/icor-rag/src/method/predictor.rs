//! The update predictor `g_φ` (§5.1, App. G): demonstrations encoded by the frozen LLM with
//! `W_0^ret` (EOS hidden states), mean-pooled to `h̄(C)`, a two-layer MLP encoder (hidden 256,
//! code 64), then one head per (layer, projection) block.
//!
//! Head parameterisation. The paper's heads emit `U, V ∈ R^{d×r}` per block; from a 64-d code
//! that is `64·r·(d_in + d_out)` weights per block — for SmolLM2 on every layer about 83 M
//! weights, more than half the 135 M backbone. Here each head emits an `R × R` coefficient
//! matrix `C` in fixed orthonormal bases `P: [d_out, R]`, `Q: [d_in, R]` fitted to the training
//! targets ([`crate::method::factored::Basis`]), and the predicted update is a second low-rank term
//! added to `W_0^ret`, `gΔW = P C Qᵀ` (not a perturbation of the LoRA factors: the gradient
//! target `s(B_K A_K − B_0 A_0)` leaves the span of `B_0` and `A_0`, so a perturbation inside
//! those factors' spans could not reach it, and a free second term can). Then `‖gΔW‖ = ‖C‖`
//! and `⟨gΔW, ΔW*⟩ = ⟨C, PᵀΔW*Q⟩`, so Eq. 9 is evaluated exactly in `R × R`, and the
//! restriction's cost is measurable: the best cosine any `C` can reach is `‖PᵀΔW*Q‖/‖ΔW*‖`.

use burn::tensor::activation::gelu;
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use icor_llm::tensor_util::to_vec_f32;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Sizes of `g_φ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictorShape {
    /// Input: the backbone's hidden size.
    pub d: usize,
    pub hidden: usize,
    pub code: usize,
    /// Heads: (layer, projection) blocks.
    pub blocks: usize,
    /// Basis rank R.
    pub r: usize,
}

impl PredictorShape {
    fn sizes(&self) -> [usize; 6] {
        let out = self.blocks * self.r * self.r;
        [
            self.d * self.hidden,
            self.hidden,
            self.hidden * self.code,
            self.code,
            self.code * out,
            out,
        ]
    }

    /// Trainable weights.
    pub fn params(&self) -> usize {
        self.sizes().iter().sum()
    }

    /// Weights the paper's naive heads would need (`code · r · (d_in + d_out)` per block)
    /// for the same blocks, given each block's `(d_in, d_out)` and the adapter rank.
    pub fn naive_head_params(&self, dims: &[(usize, usize)], rank: usize) -> usize {
        dims.iter().map(|(i, o)| self.code * rank * (i + o)).sum()
    }
}

/// `g_φ`'s weights (flat, in [`PredictorShape`] order), the input standardisation and the
/// per-block output scale, all on the host.
#[derive(Debug, Clone)]
pub struct Predictor {
    pub shape: PredictorShape,
    pub params: Vec<f32>,
    /// Mean and standard deviation of `h̄` over the training contexts.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// Per block: the mean training-target norm divided by `R`, so a fresh head's
    /// `‖C‖` starts near the targets' scale.
    pub scale: Vec<f32>,
}

/// `g_φ`'s weights as tensors on one device.
#[derive(Debug, Clone)]
pub struct PredictorTensors {
    w: [Tensor<2>; 3],
    b: [Tensor<1>; 3],
    mean: Tensor<2>,
    std: Tensor<2>,
    scale: Tensor<4>,
    shape: PredictorShape,
}

impl Predictor {
    /// Fresh weights: uniform in `±1/√fan_in`, zero biases.
    pub fn init(
        shape: PredictorShape,
        mean: Vec<f32>,
        std: Vec<f32>,
        scale: Vec<f32>,
        seed: u64,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9e7d_1c70);
        let fan_in = [shape.d, shape.hidden, shape.code];
        let sizes = shape.sizes();
        let mut params = Vec::with_capacity(shape.params());
        for (i, &n) in sizes.iter().enumerate() {
            if i % 2 == 0 {
                let bound = 1.0 / (fan_in[i / 2] as f32).sqrt();
                params.extend((0..n).map(|_| rng.random_range(-bound..bound)));
            } else {
                params.extend(std::iter::repeat_n(0.0, n));
            }
        }
        Self {
            shape,
            params,
            mean,
            std,
            scale,
        }
    }

    /// The weights on `device` (trainable when it is an autodiff device).
    pub fn tensors(&self, device: &Device, trainable: bool) -> PredictorTensors {
        let s = self.shape;
        let sizes = s.sizes();
        let mut at = 0;
        let mut take = |n: usize| {
            let v = self.params[at..at + n].to_vec();
            at += n;
            v
        };
        let out = s.blocks * s.r * s.r;
        let dims = [(s.d, s.hidden), (s.hidden, s.code), (s.code, out)];
        let mut w = Vec::new();
        let mut b = Vec::new();
        for (i, (rows, cols)) in dims.iter().enumerate() {
            let wt =
                Tensor::<2>::from_data(TensorData::new(take(sizes[2 * i]), [*rows, *cols]), device);
            let bt =
                Tensor::<1>::from_data(TensorData::new(take(sizes[2 * i + 1]), [*cols]), device);
            w.push(if trainable { wt.require_grad() } else { wt });
            b.push(if trainable { bt.require_grad() } else { bt });
        }
        let row =
            |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, v.len()]), device);
        PredictorTensors {
            w: [w[0].clone(), w[1].clone(), w[2].clone()],
            b: [b[0].clone(), b[1].clone(), b[2].clone()],
            mean: row(&self.mean),
            std: row(&self.std),
            scale: Tensor::from_data(
                TensorData::new(self.scale.clone(), [1, s.blocks, 1, 1]),
                device,
            ),
            shape: s,
        }
    }
}

impl PredictorTensors {
    /// `C = g_φ(h̄)`: `[B, blocks, R, R]` from pooled demonstration states `h̄: [B, d]`.
    pub fn forward(&self, hbar: Tensor<2>) -> Tensor<4> {
        let s = self.shape;
        let bsz = hbar.dims()[0];
        let x = (hbar - self.mean.clone()) / self.std.clone();
        let lin = |x: Tensor<2>, i: usize| {
            let n = self.b[i].dims()[0];
            x.matmul(self.w[i].clone()) + self.b[i].clone().reshape([1, n])
        };
        let h = gelu(lin(x, 0));
        let z = lin(h, 1);
        let c = lin(z, 2).reshape([bsz, s.blocks, s.r, s.r]);
        c * self.scale.clone()
    }

    /// The flat gradient of every weight (zeros where the loss did not reach).
    pub fn gradient(&self, grads: &Gradients) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.shape.params());
        for i in 0..3 {
            let n = self.w[i].dims()[0] * self.w[i].dims()[1];
            out.extend(self.w[i].grad(grads).map_or(vec![0.0; n], to_vec_f32));
            let n = self.b[i].dims()[0];
            out.extend(self.b[i].grad(grads).map_or(vec![0.0; n], to_vec_f32));
        }
        out
    }
}
