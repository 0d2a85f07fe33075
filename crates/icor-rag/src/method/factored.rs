//! Interface updates in factored form. A change of the LoRA product,
//! `ΔW = s(B_K A_K − B_0 A_0)`, has rank ≤ 2r per (layer, projection) block, so it is kept
//! as `ΔW = U Vᵀ` (`U: [d_out, q]`, `V: [d_in, q]`) and every inner product, norm and cosine
//! comes from small `q × q` Gram matrices: `⟨U₁V₁ᵀ, U₂V₂ᵀ⟩_F = Σ (U₁ᵀU₂) ∘ (V₁ᵀV₂)`. Dense
//! `d × d` targets for hundreds of contexts would not fit in memory.
//!
//! The predictor's bases are fitted here too: the top-R left and right singular subspaces
//! of the stacked, norm-weighted training targets of each block.

use nalgebra::{DMatrix, SymmetricEigen};

use crate::method::params::LoraLayout;

/// One block `ΔW = U Vᵀ`, column-major `nalgebra` matrices in f64.
#[derive(Debug, Clone)]
pub struct Factor {
    pub u: DMatrix<f64>,
    pub v: DMatrix<f64>,
}

impl Factor {
    /// `⟨self, other⟩_F`.
    pub fn inner(&self, other: &Factor) -> f64 {
        let gu = self.u.transpose() * &other.u;
        let gv = self.v.transpose() * &other.v;
        gu.component_mul(&gv).sum()
    }

    /// `‖ΔW‖_F`.
    pub fn norm(&self) -> f64 {
        self.inner(self).max(0.0).sqrt()
    }

    /// `ΔW` as a dense matrix (tests and small checks only).
    pub fn dense(&self) -> DMatrix<f64> {
        &self.u * self.v.transpose()
    }
}

/// Cosine of two blocks (0 when either is zero).
pub fn cosine(a: &Factor, b: &Factor) -> f64 {
    let n = a.norm() * b.norm();
    if n > 0.0 { a.inner(b) / n } else { 0.0 }
}

/// Every block of an update, in the layout's order.
#[derive(Debug, Clone)]
pub struct FactoredDelta {
    pub blocks: Vec<Factor>,
}

impl FactoredDelta {
    /// `ΔW = s(B A − B_0 A_0)` per block, from flat factors `p` and `p0` in `layout`
    /// (stored as `a = Aᵀ`, `b = Bᵀ`): `U = s·[bᵀ, −b_0ᵀ]`, `V = [a, a_0]`.
    pub fn lora_change(layout: &LoraLayout, p: &[f32], p0: &[f32]) -> Self {
        let r = layout.rank;
        let s = f64::from(layout.scale());
        let blocks =
            layout
                .blocks
                .iter()
                .map(|blk| {
                    let (din, dout) = (blk.d_in, blk.d_out);
                    // a: [din, r] row-major; b: [r, dout] row-major.
                    let a = |src: &[f32], i: usize, j: usize| f64::from(src[blk.a_at + i * r + j]);
                    let b =
                        |src: &[f32], j: usize, o: usize| f64::from(src[blk.b_at + j * dout + o]);
                    let u = DMatrix::from_fn(dout, 2 * r, |o, j| {
                        if j < r {
                            s * b(p, j, o)
                        } else {
                            -s * b(p0, j - r, o)
                        }
                    });
                    let v = DMatrix::from_fn(din, 2 * r, |i, j| {
                        if j < r { a(p, i, j) } else { a(p0, i, j - r) }
                    });
                    Factor { u, v }
                })
                .collect();
        Self { blocks }
    }

    /// Mean over blocks of the per-block cosine (the form Eq. 9 sums).
    pub fn mean_cosine(&self, other: &FactoredDelta) -> f64 {
        let n = self.blocks.len().max(1) as f64;
        self.blocks
            .iter()
            .zip(&other.blocks)
            .map(|(a, b)| cosine(a, b))
            .sum::<f64>()
            / n
    }

    /// Block norms.
    pub fn norms(&self) -> Vec<f64> {
        self.blocks.iter().map(Factor::norm).collect()
    }
}

/// Orthonormal bases of one block: `P: [d_out, R]`, `Q: [d_in, R]`.
#[derive(Debug, Clone)]
pub struct Basis {
    pub p: DMatrix<f64>,
    pub q: DMatrix<f64>,
}

impl Basis {
    /// The top-`rank` left and right singular subspaces of the stacked updates
    /// `[ΔW_1/‖ΔW_1‖, …]`: eigenvectors of `Σᵢ Uᵢ(VᵢᵀVᵢ)Uᵢᵀ / ‖ΔWᵢ‖²` and of
    /// `Σᵢ Vᵢ(UᵢᵀUᵢ)Vᵢᵀ / ‖ΔWᵢ‖²`.
    pub fn fit(blocks: &[&Factor], rank: usize) -> Self {
        let (dout, din) = (blocks[0].u.nrows(), blocks[0].v.nrows());
        let mut left = DMatrix::<f64>::zeros(dout, dout);
        let mut right = DMatrix::<f64>::zeros(din, din);
        for f in blocks {
            let w = f.inner(f);
            if w <= 0.0 {
                continue;
            }
            let gu = f.u.transpose() * &f.u;
            let gv = f.v.transpose() * &f.v;
            left += (&f.u * gv * f.u.transpose()) / w;
            right += (&f.v * gu * f.v.transpose()) / w;
        }
        Self {
            p: top_eigenvectors(left, rank),
            q: top_eigenvectors(right, rank),
        }
    }

    /// `T = Pᵀ ΔW Q = (PᵀU)(QᵀV)ᵀ`, the block in the basis (`R × R`).
    pub fn project(&self, f: &Factor) -> DMatrix<f64> {
        (self.p.transpose() * &f.u) * (self.q.transpose() * &f.v).transpose()
    }
}

/// The `k` eigenvectors of a symmetric matrix with the largest eigenvalues, as columns
/// (sign fixed so each column's largest entry is positive, for reproducible bases).
fn top_eigenvectors(m: DMatrix<f64>, k: usize) -> DMatrix<f64> {
    let n = m.nrows();
    let k = k.min(n);
    let eig = SymmetricEigen::new(m);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    DMatrix::from_fn(n, k, |i, j| {
        let col = eig.eigenvectors.column(order[j]);
        let (imax, _) = col
            .iter()
            .enumerate()
            .fold((0, 0.0f64), |(bi, bv), (ii, &v)| {
                if v.abs() > bv {
                    (ii, v.abs())
                } else {
                    (bi, bv)
                }
            });
        let sign = if col[imax] < 0.0 { -1.0 } else { 1.0 };
        sign * col[i]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> DMatrix<f64> {
        DMatrix::from_fn(rows, cols, |_, _| rng.random_range(-1.0..1.0))
    }

    #[test]
    fn factored_inner_product_equals_the_dense_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let a = Factor {
            u: random(7, 3, &mut rng),
            v: random(5, 3, &mut rng),
        };
        let b = Factor {
            u: random(7, 4, &mut rng),
            v: random(5, 4, &mut rng),
        };
        let dense = a.dense().component_mul(&b.dense()).sum();
        let tol = 1e-12 * 7.0 * 5.0;
        assert!(
            (a.inner(&b) - dense).abs() < tol,
            "{} vs {dense}",
            a.inner(&b)
        );
        assert!((a.norm() - a.dense().norm()).abs() < tol);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn lora_change_is_the_difference_of_the_scaled_products() {
        let cfg_layout = |rank| LoraLayout {
            first_layer: 0,
            rank,
            alpha: 6.0,
            blocks: vec![crate::method::params::BlockLayout {
                layer: 0,
                proj: icor_llm::Proj::K,
                d_in: 4,
                d_out: 3,
                a_at: 0,
                b_at: 4 * rank,
            }],
            len: (4 + 3) * rank,
        };
        let layout = cfg_layout(2);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let p: Vec<f32> = (0..layout.len)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let p0: Vec<f32> = (0..layout.len)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let prod = |v: &[f32]| {
            // W = s · Bᵀ-layout: b is [r, out], a is [in, r]; ΔW (out × in) = s · bᵀ aᵀ.
            let a = DMatrix::from_fn(4, 2, |i, j| f64::from(v[i * 2 + j]));
            let b = DMatrix::from_fn(2, 3, |j, o| f64::from(v[8 + j * 3 + o]));
            3.0 * b.transpose() * a.transpose()
        };
        let want = prod(&p) - prod(&p0);
        let got = FactoredDelta::lora_change(&layout, &p, &p0).blocks[0].dense();
        assert!((want - got).norm() < 1e-10);
    }

    #[test]
    fn fitted_basis_captures_updates_that_live_in_a_subspace() {
        // Updates confined to a rank-2 left/right subspace are reproduced exactly by an R = 2
        // basis: the projection keeps the whole norm.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (pl, pr) = (random(9, 2, &mut rng), random(6, 2, &mut rng));
        let fs: Vec<Factor> = (0..5)
            .map(|_| {
                let c = random(2, 2, &mut rng);
                Factor {
                    u: &pl * c,
                    v: pr.clone(),
                }
            })
            .collect();
        let refs: Vec<&Factor> = fs.iter().collect();
        let basis = Basis::fit(&refs, 2);
        for f in &fs {
            let t = basis.project(f);
            assert!((t.norm() - f.norm()).abs() < 1e-9 * f.norm());
        }
        let orth = basis.p.transpose() * &basis.p;
        assert!((orth - DMatrix::<f64>::identity(2, 2)).norm() < 1e-10);
    }
}
