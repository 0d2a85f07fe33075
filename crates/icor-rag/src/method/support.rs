//! Phase 1 of Algorithm 1: a support context `C` of `N` demonstrations drawn from the task's
//! support pool. Draws are a pure function of (seed, query), so every method that uses
//! support (RAG-GD, TT-SGD) sees the same demonstrations for the same query and seed.

use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

/// `n` distinct pool indices for `(seed, key)`, never `exclude` (the query itself when it
/// sits in its own pool).
pub fn draw(pool: usize, n: usize, seed: u64, key: u64, exclude: Option<usize>) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ key.wrapping_mul(0xc2b2_ae3d_27d4_eb4f) ^ 0x5a,
    );
    let avail = pool - usize::from(exclude.is_some_and(|e| e < pool));
    sample(&mut rng, avail, n.min(avail))
        .into_iter()
        .map(|i| match exclude {
            Some(e) if i >= e => i + 1,
            _ => i,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_distinct_reproducible_and_skip_the_query() {
        for key in 0..50 {
            let a = draw(10, 3, 7, key, Some(4));
            assert_eq!(a, draw(10, 3, 7, key, Some(4)));
            assert_eq!(a.len(), 3);
            assert!(!a.contains(&4) && a.iter().all(|&i| i < 10));
            let mut s = a.clone();
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), 3);
        }
        assert_ne!(draw(100, 3, 1, 0, None), draw(100, 3, 2, 0, None));
    }
}
