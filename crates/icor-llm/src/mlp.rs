//! SwiGLU feed-forward (Shazeer 2020): `down(silu(gate(x)) ⊙ up(x))`.

use burn::tensor::Tensor;
use burn::tensor::activation::silu;

use super::linear::FrozenLinear;

#[derive(Debug, Clone)]
pub struct SwiGlu {
    pub gate: FrozenLinear,
    pub up: FrozenLinear,
    pub down: FrozenLinear,
}

impl SwiGlu {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let a = silu(self.gate.forward(x.clone(), &[]));
        let u = self.up.forward(x, &[]);
        self.down.forward(a.mul(u), &[])
    }
}
