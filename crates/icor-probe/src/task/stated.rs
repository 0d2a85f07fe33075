//! The paper's synthetic setting taken literally (§4.1, App. C.1): N = 10 context tokens,
//! n_I = 10 query features, teacher weights ~ N(0, I), x ~ U(−α, α) with training at α = 1.
//!
//! - [`Projection`]: every example carries its own k retrieved documents, concatenated into the
//!   token, e = (x, D, y) with D ∈ R^{k·d_doc}, y = W¹x + W²D (W¹, W² ~ N(0, I) per task). The GD
//!   reference starts at W = 0 (von Oswald). More documents, more variance: the loss grows with k.
//! - [`DotProduct`]: x₁ = x₂ = x; per task k documents dⱼ ~ U(−½, ½)^10 give W₂ = W_z (Σⱼ dⱼdⱼᵀ) Mᵀ
//!   (W_z, M ~ N(0, 0.1²), fixed per run) and y = (W¹ + W₂)x. The GD reference starts at
//!   W⁽⁰⁾ = W₂ (the retrieval term is the current weight, Lemma 1). The transformer sees the
//!   documents as k extra key/value tokens h_d,j = (M dⱼ, W_z dⱼ) (Eq. 22: K = [K_ctx; h_d]).

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Batch, dot, normal, push_task, uniform};

/// Width of one document's feature block in the projection interface (kept small so that
/// 25 documents still give a 61-wide token; the paper does not state it).
pub const PROJECTION_DOC_WIDTH: usize = 2;

/// Projection interface, as stated.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Projection {
    /// Documents per example k.
    pub docs: usize,
    /// Context tokens N.
    pub n: usize,
    /// Query features n_I.
    pub d_query: usize,
}

impl Projection {
    /// k documents per example, N = n_I = 10.
    pub fn new(docs: usize) -> Self {
        Self {
            docs,
            n: 10,
            d_query: 10,
        }
    }

    /// B tasks; document features ~ U(−½, ½), query features ~ U(−α, α).
    pub fn sample(&self, rng: &mut ChaCha8Rng, b: usize, alpha: f64) -> Batch {
        let dd = self.docs * PROJECTION_DOC_WIDTH;
        let (n, dx) = (self.n, self.d_query + dd);
        let (t, d) = (n + 1, dx + 1);
        let mut tokens = Vec::with_capacity(b * t * d);
        let mut targets = Vec::with_capacity(b);
        for _ in 0..b {
            let w = normal(rng, dx, 1.0); // [W¹ W²]
            let d_query = self.d_query;
            push_task(rng, &w, n, &mut tokens, &mut targets, &|r| {
                let mut x = uniform(r, d_query, alpha);
                x.extend(uniform(r, dd, 0.5));
                x
            });
        }
        Batch {
            b,
            t,
            d,
            tokens,
            targets,
            w0: vec![0.0; b * dx],
            extra_kv: None,
        }
    }
}

/// Dot-product interface, as stated.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DotProduct {
    /// Documents per task k.
    pub docs: usize,
    /// Context tokens N.
    pub n: usize,
    /// Query (and document) width.
    pub d: usize,
    /// W_z (1 × d), fixed per run.
    pub w_z: Vec<f64>,
    /// M (d × d), row-major, fixed per run.
    pub m: Vec<f64>,
}

impl DotProduct {
    /// Draws W_z and M ~ N(0, 0.1²) once.
    pub fn new(docs: usize, rng: &mut ChaCha8Rng) -> Self {
        let d = 10;
        Self {
            docs,
            n: 10,
            d,
            w_z: normal(rng, d, 0.1),
            m: normal(rng, d * d, 0.1),
        }
    }

    /// B tasks with fresh documents, teacher W¹ and inputs each.
    pub fn sample(&self, rng: &mut ChaCha8Rng, b: usize, alpha: f64) -> Batch {
        let (n, dx, k) = (self.n, self.d, self.docs);
        let (t, d) = (n + 1, dx + 1);
        let mut tokens = Vec::with_capacity(b * t * d);
        let mut targets = Vec::with_capacity(b);
        let mut w0 = Vec::with_capacity(b * dx);
        let mut extra = Vec::with_capacity(b * k * d);
        for _ in 0..b {
            let docs = uniform(rng, k * dx, 0.5);
            // W₂ = W_z (Σⱼ dⱼdⱼᵀ) Mᵀ = Σⱼ (W_z·dⱼ) (M dⱼ)ᵀ  (Eq. 17)
            let mut w2 = vec![0.0; dx];
            for j in 0..k {
                let dj = &docs[j * dx..(j + 1) * dx];
                let a = dot(&self.w_z, dj);
                let mdj: Vec<f64> = (0..dx)
                    .map(|r| dot(&self.m[r * dx..(r + 1) * dx], dj))
                    .collect();
                for (w, v) in w2.iter_mut().zip(&mdj) {
                    *w += a * v;
                }
                extra.extend(mdj.iter().map(|&v| v as f32));
                extra.push(a as f32);
            }
            let w1 = normal(rng, dx, 1.0);
            let w: Vec<f64> = w1.iter().zip(&w2).map(|(a, b)| a + b).collect();
            push_task(rng, &w, n, &mut tokens, &mut targets, &|r| {
                uniform(r, dx, alpha)
            });
            w0.extend(w2.iter().map(|&v| v as f32));
        }
        Batch {
            b,
            t,
            d,
            tokens,
            targets,
            w0,
            extra_kv: Some((extra, k)),
        }
    }
}
