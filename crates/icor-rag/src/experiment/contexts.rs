//! Stage 2's contexts (Algorithm 1, phase 1 at training time): `train_contexts_per_pool`
//! meta-training contexts from each training pool, and `heldout_contexts_per_task` held-out
//! contexts from each evaluated set's support pool, which measure how well `g_φ` predicts
//! the targets of contexts it never saw. Each pool draws with its own seed (the profile's,
//! mixed with the pool's name), so contexts of different pools do not sit at the same row
//! positions; held-out contexts come from pools disjoint from every training pool
//! ([`crate::experiment::tasks`]), so they share no demonstration with any training context.
//! Each context carries the K values its targets are computed for: every K, or the smallest
//! only beyond `all_k_contexts_per_pool` meta-training contexts of a pool.

use crate::experiment::profile::Profile;
use crate::experiment::tasks::{Splits, set_seed};

/// A support or training context: which pool, which demonstrations.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// The task it belongs to (a training pool or an evaluated set, `name/split`).
    pub task: String,
    /// The pool its demonstrations are drawn from.
    pub pool: String,
    /// Pool rows of its demonstrations.
    pub idx: Vec<usize>,
    pub heldout: bool,
    /// File stem of its artefacts.
    pub name: String,
    /// The K values of its gradient-step targets, ascending
    /// ([`crate::experiment::profile::TargetSettings::ks_for`]).
    pub ks: Vec<usize>,
    /// Its K = 1 target is also computed with the loss averaged over instances
    /// (`targets.averaging_check`).
    pub averaging_check: bool,
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Every context of a run: the meta-training contexts of each training pool, then the
/// held-out contexts of each evaluated set.
pub fn draw(splits: &Splits, p: &Profile) -> Vec<Context> {
    let train = splits
        .train_pools
        .iter()
        .map(|tp| (&tp.key, &tp.key, tp.pool.len(), false));
    let heldout = splits
        .eval
        .iter()
        .map(|t| (&t.key, &t.pool_key, t.pool.len(), true));
    let mut contexts = Vec::new();
    for (task, pool, len, heldout) in train.chain(heldout) {
        let (n, stream, prefix) = if heldout {
            (p.targets.heldout_contexts_per_task, 0x4e1d, "heldout-")
        } else {
            (p.targets.train_contexts_per_pool, 0x7a7, "")
        };
        let seed = set_seed(p.seed, pool) ^ stream;
        for c in 0..n {
            contexts.push(Context {
                task: task.clone(),
                pool: pool.clone(),
                idx: crate::method::support::draw(len, p.support, seed, c as u64, None),
                heldout,
                name: format!("{prefix}{}-{c}", sanitize(task)),
                ks: p.targets.ks_for(c, heldout),
                averaging_check: heldout && c < p.targets.averaging_check.unwrap_or(0),
            });
        }
    }
    contexts
}
