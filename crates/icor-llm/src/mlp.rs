//! SwiGLU feed-forward (Shazeer 2020): `down(silu(gate(x)) ⊙ up(x))`.

use burn::tensor::Tensor;
use burn::tensor::activation::silu;

use super::linear::FrozenLinear;

#[derive(Debug, Clone)]
pub struct SwiGlu {
    /// gate and up as one product (`[d, 2·d_ff]`, columns gate | up).
    pub gate_up: FrozenLinear,
    pub down: FrozenLinear,
}

impl SwiGlu {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let f = self.d_ff();
        let y = self.gate_up.forward(x, &[]);
        if let Some(h) = icor_kernels::burn_ops::silu_mul(&y) {
            return self.down.forward(h, &[]);
        }
        let a = silu(y.clone().slice([0..b, 0..t, 0..f]));
        let u = y.slice([0..b, 0..t, f..2 * f]);
        self.down.forward(a.mul(u), &[])
    }

    /// The hidden width d_ff.
    pub fn d_ff(&self) -> usize {
        self.gate_up.out_dim() / 2
    }
}
