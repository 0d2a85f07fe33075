//! Seeded random cases for the identity checks (`icor verify`) and the property tests.
//!
//! A [`CaseSpec`] fixes the shapes and a seed; [`Sampler`] draws the values from it with
//! ChaCha8, so a case is reproduced exactly from its spec on any machine.

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

/// Shapes and flags of one random case; the values are drawn from `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CaseSpec {
    /// Seed of the values.
    pub seed: u64,
    /// d₁ (query feature), 1..=12.
    pub d1: usize,
    /// d₂ of the generic layout, 1..=12.
    pub d2: usize,
    /// d_y, 1..=4.
    pub dy: usize,
    /// N context tokens, 1..=64.
    pub n: usize,
    /// Query tokens, 1..=4.
    pub queries: usize,
    /// Documents k, 1..=25.
    pub docs: usize,
    /// Width of one document, 1..=12 (projection interface: 1..=3 per document).
    pub d_doc: usize,
    /// Stacked layers K, 1..=16.
    pub steps: usize,
    /// Feature columns rescaled by 10^u, u ~ U(−3, 3): badly scaled inputs.
    pub badly_scaled: bool,
    /// Start from W₁ = W₂ = 0 (the paper's experiments) instead of random weights.
    pub zero_init: bool,
}

impl CaseSpec {
    /// Draws every shape from `seed` within the ranges documented on the fields.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5eed_5eed_5eed);
        Self {
            seed,
            d1: rng.random_range(1..=12),
            d2: rng.random_range(1..=12),
            dy: rng.random_range(1..=4),
            n: rng.random_range(1..=64),
            queries: rng.random_range(1..=4),
            docs: rng.random_range(1..=25),
            d_doc: rng.random_range(1..=12),
            steps: rng.random_range(1..=16),
            badly_scaled: rng.random_bool(0.3),
            zero_init: rng.random_bool(0.25),
        }
    }
}

/// Draws matrices for a case.
pub struct Sampler {
    rng: ChaCha8Rng,
}

impl Sampler {
    /// A sampler for `seed` (use [`CaseSpec::seed`]).
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Entries i.i.d. N(0, σ²).
    pub fn normal(&mut self, rows: usize, cols: usize, sigma: f64) -> Array2<f64> {
        let dist = Normal::new(0.0, sigma).expect("σ is a finite positive constant");
        Array2::from_shape_fn((rows, cols), |_| dist.sample(&mut self.rng))
    }

    /// Entries i.i.d. U(−a, a).
    pub fn uniform(&mut self, rows: usize, cols: usize, a: f64) -> Array2<f64> {
        let dist = Uniform::new_inclusive(-a, a).expect("a is a finite positive constant");
        Array2::from_shape_fn((rows, cols), |_| dist.sample(&mut self.rng))
    }

    /// Per-column factors: 10^u with u ~ U(−3, 3) when `badly_scaled`, else 1.
    pub fn column_scales(&mut self, cols: usize, badly_scaled: bool) -> Array1<f64> {
        Array1::from_shape_fn(cols, |_| {
            if badly_scaled {
                10f64.powf(self.rng.random_range(-3.0..=3.0))
            } else {
                1.0
            }
        })
    }

    /// U(−1, 1) inputs (Garg et al.), columns rescaled by [`Self::column_scales`].
    pub fn inputs(&mut self, rows: usize, cols: usize, badly_scaled: bool) -> Array2<f64> {
        let scales = self.column_scales(cols, badly_scaled);
        self.uniform(rows, cols, 1.0) * &scales
    }

    /// A log-uniform step size in [10⁻³, 10].
    pub fn eta(&mut self) -> f64 {
        10f64.powf(self.rng.random_range(-3.0..=1.0))
    }

    /// A uniform number in [lo, hi].
    pub fn between(&mut self, lo: f64, hi: f64) -> f64 {
        self.rng.random_range(lo..=hi)
    }

    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.rng.random_bool(0.5)
    }
}
