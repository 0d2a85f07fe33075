//! RMSNorm (Zhang & Sennrich 2019): `y = x / sqrt(mean(x²) + ε) ⊙ w`, in f32.

use burn::tensor::Tensor;

/// Root-mean-square layer norm over the last dimension.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    pub weight: Tensor<1>,
    pub eps: f32,
}

impl RmsNorm {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let d = self.weight.dims()[0];
        let var = x.clone().square().mean_dim(2);
        let inv = var.add_scalar(self.eps).sqrt().recip();
        x.mul(inv).mul(self.weight.clone().reshape([1, 1, d]))
    }
}
