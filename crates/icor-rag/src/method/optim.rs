//! Optimisers over the interface's flat parameter vector (see [`crate::method::params`]).
//!
//! Written here rather than taken from `burn::optim` for two reasons that matter to the
//! method: burn's gradient clipping acts per parameter tensor, whereas App. G's "clip 1.0" is
//! PyTorch's global-norm clip over all LoRA factors; and resuming a killed run must restore
//! the moments exactly, which a flat vector saved with safetensors does with no recorder.

use serde::{Deserialize, Serialize};

/// Global L2 norm.
pub fn l2(v: &[f32]) -> f64 {
    v.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
}

/// Scales `g` so its global norm is at most `max` (PyTorch's `clip_grad_norm_`); returns the
/// norm before clipping.
pub fn clip_global_norm(g: &mut [f32], max: f64) -> f64 {
    let n = l2(g);
    if max > 0.0 && n > max {
        let s = (max / (n + 1e-6)) as f32;
        g.iter_mut().for_each(|x| *x *= s);
    }
    n
}

/// One plain SGD step `p ← p − η g` (Eq. 8's inner update).
pub fn sgd_step(p: &mut [f32], g: &[f32], eta: f64) {
    let eta = eta as f32;
    p.iter_mut().zip(g).for_each(|(p, g)| *p -= eta * g);
}

/// AdamW (Loshchilov & Hutter; PyTorch's defaults β = (0.9, 0.999), ε = 1e-8) with
/// decoupled weight decay.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AdamW {
    pub lr: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Steps taken.
    pub t: u64,
    pub m: Vec<f32>,
    pub v: Vec<f32>,
}

impl AdamW {
    pub fn new(n: usize, lr: f64, weight_decay: f64) -> Self {
        Self {
            lr,
            weight_decay,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// One step on `p` with gradient `g`.
    pub fn step(&mut self, p: &mut [f32], g: &[f32]) {
        self.t += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(self.t as i32);
        let c2 = 1.0 - b2.powi(self.t as i32);
        let decay = (1.0 - self.lr * self.weight_decay) as f32;
        for i in 0..p.len() {
            let gi = f64::from(g[i]);
            let m = b1 * f64::from(self.m[i]) + (1.0 - b1) * gi;
            let v = b2 * f64::from(self.v[i]) + (1.0 - b2) * gi * gi;
            self.m[i] = m as f32;
            self.v[i] = v as f32;
            let update = self.lr * (m / c1) / ((v / c2).sqrt() + self.eps);
            p[i] = p[i] * decay - update as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_scales_to_the_bound_and_leaves_small_gradients() {
        let mut g = vec![3.0, 4.0];
        assert!((clip_global_norm(&mut g, 1.0) - 5.0).abs() < 1e-12);
        assert!((l2(&g) - 1.0).abs() < 1e-5);
        let mut small = vec![0.3, 0.4];
        clip_global_norm(&mut small, 1.0);
        assert_eq!(small, vec![0.3, 0.4]);
    }

    #[test]
    fn adamw_first_step_moves_each_weight_by_lr_against_its_gradient_sign() {
        // With bias correction the first Adam step is lr · g / (|g| + ε) ≈ lr · sign(g).
        let mut opt = AdamW::new(2, 0.1, 0.0);
        let mut p = vec![1.0f32, 1.0];
        opt.step(&mut p, &[2.0, -0.5]);
        assert!(
            (p[0] - 0.9).abs() < 1e-6 && (p[1] - 1.1).abs() < 1e-6,
            "{p:?}"
        );
    }

    #[test]
    fn adamw_minimises_a_quadratic() {
        let mut opt = AdamW::new(3, 0.05, 0.0);
        let mut p = vec![1.0f32, -2.0, 0.5];
        for _ in 0..500 {
            let g: Vec<f32> = p.iter().map(|x| 2.0 * x).collect();
            opt.step(&mut p, &g);
        }
        assert!(l2(&p) < 1e-2, "{p:?}");
    }

    #[test]
    fn decoupled_weight_decay_shrinks_without_gradient() {
        let mut opt = AdamW::new(1, 0.1, 0.5);
        let mut p = vec![2.0f32];
        opt.step(&mut p, &[0.0]);
        assert!((p[0] - 2.0 * (1.0 - 0.05)).abs() < 1e-6);
    }
}
