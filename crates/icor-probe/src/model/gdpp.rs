//! GD++ (von Oswald et al.): the GD construction with a learned step size η and a learned
//! diagonal preconditioner Γ = diag(γ) on the query (icor-linear's preconditioned layer),
//! applied `depth` times from each task's w0.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::init::constant;
use super::{Input, Params};
use crate::reference::gd_forward;
use crate::task::Readout;

/// Learned (η, γ) on top of the construction.
#[derive(Module, Debug)]
pub struct GdPlusPlus {
    /// η, `[1, 1]`.
    pub eta: Param<Tensor<2>>,
    /// γ, `[1, d_x]`.
    pub gamma: Param<Tensor<2>>,
    pub depth: usize,
    /// 1 when the read-out includes the base term W⁽⁰⁾x_q.
    pub with_base: usize,
}

impl GdPlusPlus {
    /// η = 1, γ = 1 (plain GD with unit step) before training.
    pub fn init(d: usize, depth: usize, device: &Device) -> Self {
        Self {
            eta: constant(1, 1, 1.0, device),
            gamma: constant(1, d - 1, 1.0, device),
            depth,
            with_base: 0,
        }
    }

    /// One prediction per task.
    pub fn predict(&self, input: &Input) -> Tensor<1> {
        let readout = if self.with_base == 1 {
            Readout::WithBase
        } else {
            Readout::ShiftOnly
        };
        gd_forward(
            input,
            self.eta.val().reshape([1]),
            Some(self.gamma.val()),
            self.depth,
            readout,
        )
    }
}

impl Params for GdPlusPlus {
    fn params(&self) -> Vec<&Param<Tensor<2>>> {
        vec![&self.eta, &self.gamma]
    }
}
