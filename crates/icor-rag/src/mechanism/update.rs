//! A change of an interface's parameters on layers `first_layer..n`, as host blocks: the
//! dense interface has three per layer (`ΔW_Q`, `ΔW_K`, `ΔW_V`, each transposed), the LoRA
//! interface six (`δA`, `δB` of Q, K, V in [`crate::method::params::LoraLayout`]'s order). What a
//! block means is the [`super::space::Space`]'s business; this type only does the arithmetic
//! the study needs (scale, add, restrict to the top layers, norms, a random direction).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::error::{Error, Result};

/// `ΔW` (or `δθ`) on layers `first_layer..`, `per_layer` blocks per layer, in layer order.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub first_layer: usize,
    pub per_layer: usize,
    pub blocks: Vec<Vec<f32>>,
}

impl Update {
    /// Layers covered.
    pub fn layers(&self) -> usize {
        self.blocks.len() / self.per_layer.max(1)
    }

    /// `‖ΔW_b‖_F` of every block.
    pub fn block_norms(&self) -> Vec<f64> {
        self.blocks
            .iter()
            .map(|b| {
                b.iter()
                    .map(|&x| f64::from(x) * f64::from(x))
                    .sum::<f64>()
                    .sqrt()
            })
            .collect()
    }

    /// `‖ΔW‖_F` over every block.
    pub fn norm(&self) -> f64 {
        self.block_norms().iter().map(|n| n * n).sum::<f64>().sqrt()
    }

    /// `s · ΔW`.
    pub fn scaled(&self, s: f64) -> Self {
        let mut out = self.clone();
        for b in &mut out.blocks {
            for x in b.iter_mut() {
                *x = (f64::from(*x) * s) as f32;
            }
        }
        out
    }

    /// `self + s · other` (same layout).
    pub fn add_scaled(&mut self, other: &Update, s: f64) -> Result<()> {
        let same = self.first_layer == other.first_layer
            && self.per_layer == other.per_layer
            && self.blocks.len() == other.blocks.len()
            && self
                .blocks
                .iter()
                .zip(&other.blocks)
                .all(|(a, b)| a.len() == b.len());
        if !same {
            return Err(Error::Config(format!(
                "updates from layer {} ({} blocks) and {} ({} blocks) do not add",
                self.first_layer,
                self.blocks.len(),
                other.first_layer,
                other.blocks.len()
            )));
        }
        for (a, b) in self.blocks.iter_mut().zip(&other.blocks) {
            for (x, y) in a.iter_mut().zip(b) {
                *x = (f64::from(*x) + s * f64::from(*y)) as f32;
            }
        }
        Ok(())
    }

    /// The blocks of layers `first_layer..` only (the top-L interface of the same step).
    pub fn restrict(&self, first_layer: usize) -> Result<Self> {
        if first_layer < self.first_layer || first_layer > self.first_layer + self.layers() {
            return Err(Error::Config(format!(
                "cannot restrict an update on layers {}..{} to layers from {first_layer}",
                self.first_layer,
                self.first_layer + self.layers()
            )));
        }
        let skip = self.per_layer * (first_layer - self.first_layer);
        Ok(Self {
            first_layer,
            per_layer: self.per_layer,
            blocks: self.blocks[skip..].to_vec(),
        })
    }

    /// A random update with every block's Frobenius norm equal to this one's (Gaussian
    /// direction per block, seeded): the direction control.
    pub fn random_like(&self, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = self.clone();
        for (b, target) in out.blocks.iter_mut().zip(self.block_norms()) {
            let draw: Vec<f64> = (0..b.len())
                .map(|_| rng.sample::<f64, _>(StandardNormal))
                .collect();
            let n = draw.iter().map(|x| x * x).sum::<f64>().sqrt();
            let s = if n > 0.0 { target / n } else { 0.0 };
            for (x, d) in b.iter_mut().zip(draw) {
                *x = (d * s) as f32;
            }
        }
        out
    }

    /// `⟨self, other⟩_F`.
    pub fn inner(&self, other: &Update) -> f64 {
        self.blocks
            .iter()
            .zip(&other.blocks)
            .map(|(a, b)| {
                a.iter()
                    .zip(b)
                    .map(|(&x, &y)| f64::from(x) * f64::from(y))
                    .sum::<f64>()
            })
            .sum()
    }

    /// Every block concatenated (the flat order of [`crate::method::params::LoraLayout`] for the
    /// LoRA interface).
    pub fn flat(&self) -> Vec<f32> {
        self.blocks.iter().flatten().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update() -> Update {
        Update {
            first_layer: 1,
            per_layer: 2,
            blocks: vec![vec![1.0, 2.0], vec![3.0], vec![0.0, 4.0], vec![-1.0]],
        }
    }

    #[test]
    fn restriction_keeps_the_top_layers_and_random_keeps_block_norms() {
        let u = update();
        assert_eq!(u.layers(), 2);
        let top = u.restrict(2).unwrap();
        assert_eq!(top.blocks, vec![vec![0.0, 4.0], vec![-1.0]]);
        assert!(u.restrict(0).is_err());
        assert!(u.restrict(4).is_err());
        let r = u.random_like(7);
        for (a, b) in r.block_norms().iter().zip(u.block_norms()) {
            assert!((a - b).abs() < 1e-6);
        }
        assert_ne!(r, u);
        let mut v = u.clone();
        v.add_scaled(&u, -1.0).unwrap();
        assert_eq!(v.norm(), 0.0);
        assert!(v.add_scaled(&top, 1.0).is_err());
        assert_eq!(u.flat(), vec![1.0, 2.0, 3.0, 0.0, 4.0, -1.0]);
        assert!((u.inner(&u) - u.norm().powi(2)).abs() < 1e-9);
    }
}
