//! The nonlinear model of §4.3: an MLP after the input embedding (e ← e + W₂ ReLU(W₁e + b₁) + b₂,
//! the authors' `input_mlp` residual form), then one LSA layer. The paper gives no width; the
//! study sweeps it.

use burn::module::{Module, Param};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::init::{constant, variance_scaling};
use super::{Input, Lsa, Params, lin};

/// MLP(width) + LSA.
#[derive(Module, Debug)]
pub struct Mlp {
    pub w1: Param<Tensor<2>>,
    pub b1: Param<Tensor<2>>,
    pub w2: Param<Tensor<2>>,
    pub b2: Param<Tensor<2>>,
    pub lsa: Lsa,
}

impl Mlp {
    /// Seeded init: MLP weights VarianceScaling(1.0 / 0.002·…) as for the attention.
    pub fn init(d: usize, width: usize, seed: u64, device: &Device) -> Self {
        Self {
            w1: variance_scaling(d, width, 1.0, seed, 31, device),
            b1: constant(1, width, 0.0, device),
            w2: variance_scaling(width, d, 0.002, seed, 32, device),
            b2: constant(1, d, 0.0, device),
            lsa: Lsa::init(d, 1, seed, device),
        }
    }

    /// One prediction per task.
    pub fn predict(&self, input: &Input) -> Tensor<1> {
        let h = input.tokens.clone();
        let [b, t, d] = h.dims();
        let width = self.b1.dims()[1];
        let hidden = relu(lin(h.clone(), self.w1.val()) + self.b1.val().reshape([1, 1, width]));
        let h = h + lin(hidden, self.w2.val()) + self.b2.val().reshape([1, 1, d]);
        let _ = (b, t);
        let embedded = Input {
            tokens: h,
            ..input.clone()
        };
        self.lsa.predict(&embedded)
    }
}

impl Params for Mlp {
    fn params(&self) -> Vec<&Param<Tensor<2>>> {
        let mut v = vec![&self.w1, &self.b1, &self.w2, &self.b2];
        v.extend(self.lsa.params());
        v
    }
}
