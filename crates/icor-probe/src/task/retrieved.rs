//! Tasks built by dot-product retrieval from a real (or synthetic) table (§4.3): the training
//! split is the retrieval corpus, always z-scored (features and target); each query row is
//! normalised by the input-side normalisation g ∈ {z-score, min–max, rank, tanh}; its context
//! is the N corpus rows with the largest retrieval scores g(x_q)ᵀ z(xᵢ) (the query's own row
//! left out when it comes from the corpus).
//!
//! Tokens: N context tokens (z(xᵢ), z(yᵢ)), then the query (g(x_q), 0); target z(y_q). The GD
//! reference starts at W⁽⁰⁾ = 0, so its one step is ŷ = (η/N) Σᵢ z(yᵢ) z(xᵢ)ᵀ g(x_q): the
//! dot-product interface's retrieval term W₂x with M = I and W_z reading each document's
//! label (Eq. 17, Lemma 1), i.e. the retrieval scores themselves weight the retrieved labels.
//! How g shapes those scores is exactly what the normalisation sweep varies.

use std::sync::Arc;

use ndarray::{Array2, ArrayView2, s};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::Batch;
use crate::tabular::shape::Shape;
use crate::tabular::{Norm, Normaliser, Table, normalise::mean_sd};

/// Training rows and test rows of a table with their retrieved contexts.
#[derive(Debug, Clone)]
pub struct Retrieved {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    norm: Norm,
    n: usize,
    p: usize,
    /// `[n_train, p]` z-scored corpus features, `[n_train]` z-scored targets.
    corpus: Vec<f32>,
    corpus_y: Vec<f32>,
    /// Training queries (the corpus rows under g) and their neighbours `[n_train, N]`.
    train_q: Vec<f32>,
    train_nbrs: Vec<u32>,
    /// Test queries under g, their z-scored targets and neighbours.
    test_q: Vec<f32>,
    test_y: Vec<f32>,
    test_nbrs: Vec<u32>,
    /// Feature statistics of the test queries under g and of the (raw) corpus.
    query_shape: Shape,
    corpus_shape: Shape,
}

impl Retrieved {
    /// Builds the corpus from `train` and the test queries from `test`, with `n` context rows.
    pub fn new(train: &Table, test: &Table, norm: Norm, n: usize) -> Self {
        let p = train.p();
        let z = Normaliser::fit(Norm::ZScore, train);
        let g = Normaliser::fit(norm, train);
        let (ym, ysd) = mean_sd(&train.y);
        let ysd = if ysd > 0.0 { ysd } else { 1.0 };
        let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
        let corpus = f32s(z.apply_table(train));
        let corpus_y = f32s(train.y.iter().map(|y| (y - ym) / ysd).collect());
        let train_q = f32s(g.apply_table(train));
        let test_q64 = g.apply_table(test);
        let (query_shape, corpus_shape) = shapes(train, test, norm);
        let test_q = f32s(test_q64);
        let test_y = f32s(test.y.iter().map(|y| (y - ym) / ysd).collect());
        let train_nbrs = top_n(&train_q, &corpus, p, n, true);
        let test_nbrs = top_n(&test_q, &corpus, p, n, false);
        Self {
            inner: Arc::new(Inner {
                name: train.name.clone(),
                norm,
                n,
                p,
                corpus,
                corpus_y,
                train_q,
                train_nbrs,
                test_q,
                test_y,
                test_nbrs,
                query_shape,
                corpus_shape,
            }),
        }
    }

    /// Table name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }
    /// Input-side normalisation.
    pub fn norm(&self) -> Norm {
        self.inner.norm
    }
    /// Context rows N.
    pub fn n(&self) -> usize {
        self.inner.n
    }
    /// Corpus rows.
    pub fn n_corpus(&self) -> usize {
        self.inner.corpus_y.len()
    }
    /// Test queries.
    pub fn n_test(&self) -> usize {
        self.inner.test_y.len()
    }
    /// Feature statistics of the test queries as the model sees them (after g).
    pub fn query_shape(&self) -> Shape {
        self.inner.query_shape
    }
    /// Feature statistics of the corpus (z-scoring changes none of them).
    pub fn corpus_shape(&self) -> Shape {
        self.inner.corpus_shape
    }
    /// Features per row.
    pub fn p(&self) -> usize {
        self.inner.p
    }

    /// `b` training queries drawn uniformly (with replacement) from the corpus.
    pub fn sample(&self, rng: &mut ChaCha8Rng, b: usize) -> Batch {
        let n_train = self.inner.corpus_y.len();
        let idx: Vec<usize> = (0..b).map(|_| rng.random_range(0..n_train)).collect();
        let inner = &self.inner;
        self.batch(&idx, &inner.train_q, &inner.corpus_y, &inner.train_nbrs)
    }

    /// The first `max` test queries (all of them if fewer), in order.
    pub fn test_batch(&self, max: usize) -> Batch {
        let idx: Vec<usize> = (0..self.n_test().min(max)).collect();
        let inner = &self.inner;
        self.batch(&idx, &inner.test_q, &inner.test_y, &inner.test_nbrs)
    }

    fn batch(&self, idx: &[usize], q: &[f32], qy: &[f32], nbrs: &[u32]) -> Batch {
        let Inner {
            n,
            p,
            corpus,
            corpus_y,
            ..
        } = &*self.inner;
        let (n, p) = (*n, *p);
        let (t, d) = (n + 1, p + 1);
        let b = idx.len();
        let mut tokens = Vec::with_capacity(b * t * d);
        let mut targets = Vec::with_capacity(b);
        for &i in idx {
            for &j in &nbrs[i * n..(i + 1) * n] {
                let j = j as usize;
                tokens.extend_from_slice(&corpus[j * p..(j + 1) * p]);
                tokens.push(corpus_y[j]);
            }
            tokens.extend_from_slice(&q[i * p..(i + 1) * p]);
            tokens.push(0.0);
            targets.push(qy[i]);
        }
        Batch {
            b,
            t,
            d,
            tokens,
            targets,
            w0: vec![0.0; b * p],
            extra_kv: None,
        }
    }
}

/// Feature statistics of the test queries under g (fitted on `train`) and of the corpus.
pub fn shapes(train: &Table, test: &Table, norm: Norm) -> (Shape, Shape) {
    let g = Normaliser::fit(norm, train);
    (
        Shape::of(&g.apply_table(test), test.p()),
        Shape::of(&train.x, train.p()),
    )
}

/// For every query row, the `n` corpus rows of largest score qᵀc (ties: lower index first),
/// best first; with `self_excluded`, query i is corpus row i and is never its own neighbour.
fn top_n(queries: &[f32], corpus: &[f32], p: usize, n: usize, self_excluded: bool) -> Vec<u32> {
    let nq = queries.len() / p;
    let nc = corpus.len() / p;
    let c = ArrayView2::from_shape((nc, p), corpus).expect("corpus is [n, p]");
    let q = ArrayView2::from_shape((nq, p), queries).expect("queries are [n, p]");
    let mut out = Vec::with_capacity(nq * n);
    const BLOCK: usize = 512;
    let mut best = Best::new(n);
    for start in (0..nq).step_by(BLOCK) {
        let end = (start + BLOCK).min(nq);
        let scores: Array2<f32> = q.slice(s![start..end, ..]).dot(&c.t());
        for (r, row) in scores.outer_iter().enumerate() {
            let me = self_excluded.then_some(start + r);
            best.clear();
            match row.as_slice() {
                Some(row) => best.scan(row, me),
                None => best.scan(&row.to_vec(), me), // a product ndarray laid out by column
            }
            out.extend(best.indices());
        }
    }
    out
}

/// The `k` best (score, index) pairs seen so far, best first: higher score, then lower index.
/// One pass over a row keeps only these `k`, instead of sorting the whole corpus per query.
struct Best {
    k: usize,
    items: Vec<(f32, u32)>,
}

impl Best {
    fn new(k: usize) -> Self {
        Self {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    fn clear(&mut self) {
        self.items.clear();
    }

    /// True when (a_score, a) ranks before (b_score, b).
    fn before(a: (f32, u32), b: (f32, u32)) -> bool {
        b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).is_lt()
    }

    fn offer(&mut self, score: f32, j: u32) {
        if self.k == 0 {
            return;
        }
        let item = (score, j);
        if self.items.len() == self.k && !Self::before(item, self.items[self.k - 1]) {
            return;
        }
        let at = self.items.partition_point(|&x| Self::before(x, item));
        self.items.insert(at, item);
        self.items.truncate(self.k);
    }

    /// Offers every score of `row` (index = position) but `skip`'s. Rows are scanned in
    /// blocks: once `k` are kept, a block whose largest score is below the worst kept one is
    /// passed over whole; a block reaching it is offered score by score, so ties (and −0 against
    /// +0) are ranked as the full sort ranks them. Scores are finite (products of normalised
    /// rows).
    fn scan(&mut self, row: &[f32], skip: Option<usize>) {
        const BLOCK: usize = 64;
        for (b, block) in row.chunks(BLOCK).enumerate() {
            if self.items.len() == self.k {
                let worst = self.items[self.k - 1].0;
                if block.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) < worst {
                    continue;
                }
            }
            for (i, &score) in block.iter().enumerate() {
                let j = b * BLOCK + i;
                if Some(j) != skip {
                    self.offer(score, j as u32);
                }
            }
        }
    }

    fn indices(&self) -> impl Iterator<Item = u32> + '_ {
        self.items.iter().map(|&(_, j)| j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_n_returns_the_best_scores_best_first_without_self() {
        // corpus rows on a line: scores with query (1) are the values themselves
        let corpus = [3.0f32, -1.0, 7.0, 5.0, 0.0];
        let nbrs = top_n(&corpus, &corpus, 1, 2, true);
        // row 2 (value 7) may not pick itself: 5 (row 3) then 3 (row 0)
        assert_eq!(&nbrs[4..6], &[3, 0]);
        // row 1 (value −1): scores −3, −7, −5, 0 → best 0 (row 4), −3 (row 0)
        assert_eq!(&nbrs[2..4], &[4, 0]);
        let q = [1.0f32];
        assert_eq!(top_n(&q, &corpus, 1, 3, false), vec![2, 3, 0]);
    }

    /// The one-pass selection equals a full sort by (score descending, index ascending), ties
    /// included, with and without the query's own row.
    #[test]
    fn top_n_equals_a_full_sort_with_ties() {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (n, p, k) = (300usize, 3usize, 7usize); // several blocks of 64
        // values on a coarse grid, so equal scores are common
        let corpus: Vec<f32> = (0..n * p)
            .map(|_| rng.random_range(-2i32..=2) as f32)
            .collect();
        for self_excluded in [true, false] {
            let got = top_n(&corpus, &corpus, p, k, self_excluded);
            // the scores top_n ranks (the same product: −0 and +0 are told apart as there)
            let c = ArrayView2::from_shape((n, p), &corpus[..]).unwrap();
            let scores = c.dot(&c.t());
            for qi in 0..n {
                let score = |j: usize| -> f32 { scores[[qi, j]] };
                let mut all: Vec<u32> = (0..n as u32)
                    .filter(|&j| !(self_excluded && j as usize == qi))
                    .collect();
                all.sort_by(|a, b| {
                    score(*b as usize)
                        .total_cmp(&score(*a as usize))
                        .then(a.cmp(b))
                });
                assert_eq!(&got[qi * k..(qi + 1) * k], &all[..k], "query {qi}");
            }
        }
    }
}
