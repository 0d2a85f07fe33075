//! Rotary position embedding (RoFormer, Su et al. 2021) in both coordinate layouts.
//!
//! Head coordinates are rotated in pairs by angle `p · θ^(−2i/d)` at position `p`. The pairs
//! are `(i, i + d/2)` in the [`RopeLayout::RotateHalf`] layout and `(2i, 2i + 1)` in the
//! [`RopeLayout::Interleaved`] layout; the two give the same model once Q/K rows are permuted
//! accordingly (which llama.cpp's converter does for GGUF llama files).

use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use icor_kernels::burn_ops::SharedRope;
use icor_kernels::rowwise::{Pairing, RopeTables};

use super::config::RopeLayout;
use super::positions::Positions;

/// Precomputed `cos`/`sin` tables, `[positions, head_dim / 2]`.
#[derive(Debug, Clone)]
pub struct Rope {
    cos: Tensor<2>,
    sin: Tensor<2>,
    /// The same tables on the host, for the one-pass Q/K/V kernel of inference on the CPU.
    cos_host: Arc<Vec<f32>>,
    sin_host: Arc<Vec<f32>>,
    pub layout: RopeLayout,
    pub positions: usize,
}

impl Rope {
    /// Tables for `positions` positions, computed in f32 like transformers' `inv_freq`.
    pub fn new(
        head_dim: usize,
        theta: f32,
        positions: usize,
        layout: RopeLayout,
        device: &Device,
    ) -> Self {
        let half = head_dim / 2;
        let inv: Vec<f32> = (0..half)
            .map(|i| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32))
            .collect();
        let mut cos = Vec::with_capacity(positions * half);
        let mut sin = Vec::with_capacity(positions * half);
        for p in 0..positions {
            for &f in &inv {
                let a = p as f32 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        Self {
            cos: Tensor::from_data(TensorData::new(cos.clone(), [positions, half]), device),
            sin: Tensor::from_data(TensorData::new(sin.clone(), [positions, half]), device),
            cos_host: Arc::new(cos),
            sin_host: Arc::new(sin),
            layout,
            positions,
        }
    }

    /// The tables on the host with their pairing, for [`icor_kernels::rowwise::qkv_heads`].
    pub fn host_tables(&self) -> RopeTables<'_> {
        RopeTables {
            cos: &self.cos_host,
            sin: &self.sin_host,
            pairing: match self.layout {
                RopeLayout::RotateHalf => Pairing::RotateHalf,
                RopeLayout::Interleaved => Pairing::Interleaved,
            },
        }
    }

    /// The host tables held by shared ownership, for the training pass's Q/K/V split
    /// ([`icor_kernels::burn_ops::qkv_heads_tracked`]), whose backward outlives this borrow.
    pub fn shared_tables(&self) -> SharedRope {
        SharedRope {
            cos: self.cos_host.clone(),
            sin: self.sin_host.clone(),
            pairing: self.host_tables().pairing,
        }
    }

    /// Rotates `x: [batch, heads, len, head_dim]` whose first token sits at position `start`.
    pub fn apply(&self, x: Tensor<4>, start: usize) -> Tensor<4> {
        self.apply_at(x, &Positions::shared(start))
    }

    /// Rotates `x: [batch, heads, len, head_dim]` at `pos`: one slice of the tables when the
    /// rows share their positions, else each row's own (left-padded prompts).
    pub fn apply_at(&self, x: Tensor<4>, pos: &Positions<'_>) -> Tensor<4> {
        let [b, _, t, d] = x.dims();
        let half = d / 2;
        let (cos, sin) = match pos.per_row(b, t) {
            None => (
                self.cos
                    .clone()
                    .narrow(0, pos.start, t)
                    .reshape([1, 1, t, half]),
                self.sin
                    .clone()
                    .narrow(0, pos.start, t)
                    .reshape([1, 1, t, half]),
            ),
            Some(rows) => {
                let idx = crate::tensor_util::index_tensor(&rows, &x.device());
                (
                    self.cos
                        .clone()
                        .select(0, idx.clone())
                        .reshape([b, 1, t, half]),
                    self.sin.clone().select(0, idx).reshape([b, 1, t, half]),
                )
            }
        };
        self.rotate(x, cos, sin)
    }

    /// The rotation itself, with `cos`/`sin` broadcast over `x`'s heads (and rows).
    fn rotate(&self, x: Tensor<4>, cos: Tensor<4>, sin: Tensor<4>) -> Tensor<4> {
        let [b, h, t, d] = x.dims();
        let half = d / 2;
        match self.layout {
            RopeLayout::RotateHalf => {
                let x1 = x.clone().narrow(3, 0, half);
                let x2 = x.narrow(3, half, half);
                let o1 = x1.clone().mul(cos.clone()).sub(x2.clone().mul(sin.clone()));
                let o2 = x2.mul(cos).add(x1.mul(sin));
                Tensor::cat(vec![o1, o2], 3)
            }
            RopeLayout::Interleaved => {
                let xr = x.reshape([b, h, t, half, 2]);
                let x0: Tensor<4> = xr.clone().narrow(4, 0, 1).reshape([b, h, t, half]);
                let x1: Tensor<4> = xr.narrow(4, 1, 1).reshape([b, h, t, half]);
                let o0 = x0.clone().mul(cos.clone()).sub(x1.clone().mul(sin.clone()));
                let o1 = x0.mul(sin).add(x1.mul(cos));
                Tensor::stack::<5>(vec![o0, o1], 4).reshape([b, h, t, d])
            }
        }
    }
}

/// Row permutation llama.cpp applies to HF llama Q/K weights (`convert_hf_to_gguf.py`,
/// `LlamaModel.permute`): within each head, row `2i` of the GGUF weight is HF row `i` and row
/// `2i + 1` is HF row `i + d/2`. Returns, for each GGUF row, the HF row it came from.
pub fn interleave_permutation(n_heads: usize, head_dim: usize) -> Vec<usize> {
    let half = head_dim / 2;
    let mut out = Vec::with_capacity(n_heads * head_dim);
    for h in 0..n_heads {
        for i in 0..half {
            out.push(h * head_dim + i);
            out.push(h * head_dim + i + half);
        }
    }
    out
}
