//! A frozen linear map `y = x Wᵀ + b` plus optional low-rank terms added on the fly.

use burn::tensor::Tensor;

/// A low-rank update `ΔW = U Vᵀ` (`U: [out, r]`, `V: [in, r]`) applied as `x V Uᵀ`, so the
/// base weight is never copied or modified.
#[derive(Debug, Clone)]
pub struct LowRank {
    /// `[in, r]`: the input-side factor (LoRA's `Aᵀ`).
    pub down: Tensor<2>,
    /// `[r, out]`: the output-side factor (LoRA's `Bᵀ`, scale folded in or applied by caller).
    pub up: Tensor<2>,
    pub scale: f32,
}

impl LowRank {
    /// `scale · x · down · up` for `x: [n, in]`.
    pub fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        let y = x.matmul(self.down.clone()).matmul(self.up.clone());
        if self.scale == 1.0 {
            y
        } else {
            y.mul_scalar(self.scale)
        }
    }
}

/// Frozen weights, stored transposed (`[in, out]`) for a plain row-major matmul.
#[derive(Debug, Clone)]
pub struct FrozenLinear {
    pub w_t: Tensor<2>,
    pub bias: Option<Tensor<1>>,
}

impl FrozenLinear {
    pub fn in_dim(&self) -> usize {
        self.w_t.dims()[0]
    }
    pub fn out_dim(&self) -> usize {
        self.w_t.dims()[1]
    }

    /// `x: [b, t, in] → [b, t, out]`, adding every low-rank term in `extra`.
    pub fn forward(&self, x: Tensor<3>, extra: &[LowRank]) -> Tensor<3> {
        let [b, t, i] = x.dims();
        let x2 = x.reshape([b * t, i]);
        let mut y = x2.clone().matmul(self.w_t.clone());
        if let Some(bias) = &self.bias {
            y = y.add(bias.clone().reshape([1, self.out_dim()]));
        }
        for lr in extra {
            y = y.add(lr.apply(x2.clone()));
        }
        y.reshape([b, t, self.out_dim()])
    }
}
