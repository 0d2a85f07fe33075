//! RMSNorm (Zhang & Sennrich 2019): `y = x / sqrt(mean(x²) + ε) ⊙ w`, in f32.

use std::sync::Arc;

use burn::tensor::Tensor;

/// Root-mean-square layer norm over the last dimension.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    pub weight: Tensor<1>,
    pub eps: f32,
    /// `weight` on the host, for the one-pass kernel of inference on the CPU backend.
    host: Arc<Vec<f32>>,
}

impl RmsNorm {
    /// The norm with `weight` (`[d]`) and `eps`.
    pub fn new(weight: Tensor<1>, eps: f32) -> Self {
        let host = Arc::new(weight.clone().try_into_vec_as::<f32>().unwrap_or_default());
        Self { weight, eps, host }
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        if let Some(y) = icor_kernels::burn_ops::rms_norm(&x, &self.host, self.eps) {
            return y;
        }
        let d = self.weight.dims()[0];
        let var = x.clone().square().mean_dim(2);
        let inv = var.add_scalar(self.eps).sqrt().recip();
        x.mul(inv).mul(self.weight.clone().reshape([1, 1, d]))
    }
}
