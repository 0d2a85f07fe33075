//! The authors' protocol (ToneLi/ICL_RAG, dot-product "R2" code; §3.2b of the paper notes):
//! x ∈ R^20 ~ U(−α, α) with training at α = ½ (`input_range = 1`), w ~ N(0, I), y = w·x, N = 10
//! context tokens; one fixed document vector doc_weight = W1b (Σₖ dₖdₖᵀ) Mᵀ ∈ R^10 (dₖ ~
//! U(−½, ½)^10, W1b and M entries ~ N(0, 0.1²), drawn once per run) that the trained model
//! mixes into columns 10..19 of the context keys and values, and that the GD model uses as its
//! initial weight w0 = [0₁₀; doc_weight].

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Batch, KvMix, normal, push_task, uniform};

/// The authors' synthetic dot-product task family.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Authors {
    /// Number of documents k in Σₖ dₖdₖᵀ.
    pub docs: usize,
    /// Context tokens N (10).
    pub n: usize,
    /// Input width (20: `input_size = 10` doubled in the authors' data generator).
    pub dx: usize,
    /// The fixed doc_weight vector (10 values).
    pub doc_weight: Vec<f64>,
}

impl Authors {
    /// Draws doc_weight for `docs` documents from `rng` (once per run).
    pub fn new(docs: usize, rng: &mut ChaCha8Rng) -> Self {
        let (dd, dq) = (10, 10);
        let d = uniform(rng, docs * dd, 0.5);
        let w1b = normal(rng, dd, 0.1);
        let m = normal(rng, dq * dd, 0.1); // M: d_q × out_dim (10 × 10), row-major
        // second moment S = Σₖ dₖdₖᵀ (dd × dd)
        let mut s = vec![0.0; dd * dd];
        for k in 0..docs {
            let dk = &d[k * dd..(k + 1) * dd];
            for i in 0..dd {
                for j in 0..dd {
                    s[i * dd + j] += dk[i] * dk[j];
                }
            }
        }
        // doc_weight = W1b · S · Mᵀ  (1 × dq)
        let w1b_s: Vec<f64> = (0..dd)
            .map(|j| (0..dd).map(|i| w1b[i] * s[i * dd + j]).sum())
            .collect();
        let doc_weight = (0..dq)
            .map(|q| (0..dd).map(|j| w1b_s[j] * m[q * dd + j]).sum())
            .collect();
        Self {
            docs,
            n: 10,
            dx: 20,
            doc_weight,
        }
    }

    /// The mixing the trained model applies to its context keys and values.
    pub fn kv_mix(&self) -> KvMix {
        KvMix {
            start: self.dx - self.doc_weight.len(),
            doc: self.doc_weight.iter().map(|&v| v as f32).collect(),
            keep: 0.1,
        }
    }

    /// B tasks, x ~ U(−α, α)^20, y = w·x with w ~ N(0, I).
    pub fn sample(&self, rng: &mut ChaCha8Rng, b: usize, alpha: f64) -> Batch {
        let (n, dx) = (self.n, self.dx);
        let (t, d) = (n + 1, dx + 1);
        let mut tokens = Vec::with_capacity(b * t * d);
        let mut targets = Vec::with_capacity(b);
        let mut w0 = Vec::with_capacity(b * dx);
        for _ in 0..b {
            let w = normal(rng, dx, 1.0);
            push_task(rng, &w, n, &mut tokens, &mut targets, &|r| {
                uniform(r, dx, alpha)
            });
            w0.extend(std::iter::repeat_n(0.0f32, dx - self.doc_weight.len()));
            w0.extend(self.doc_weight.iter().map(|&v| v as f32));
        }
        Batch {
            b,
            t,
            d,
            tokens,
            targets,
            w0,
            extra_kv: None,
        }
    }
}
