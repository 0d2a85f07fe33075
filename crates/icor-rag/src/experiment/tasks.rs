//! Which questions play which role (§5.1 of the paper, with the shipped data): the adapter's
//! training questions and the meta-training pools come from the training pools (NQ,
//! TriviaQA, SQuAD dev), disjoint from every evaluated question; the evaluated sets are the
//! first questions of NQ and TriviaQA test (in-domain) and of WebQuestions and CuratedTREC
//! (held out: never trained on; support drawn from later questions of the same set).
//!
//! Held out means held out. Each data set is shuffled with its own seed (the profile's,
//! mixed with the set's key), so no two pools share row positions. A training pool's
//! shuffled rows are cut in three disjoint slices: the meta-training pool
//! (`0..pool_size`), the support pool of the in-domain evaluated set of the same data
//! (`pool_size..2·pool_size`: its support contexts, and the held-out contexts that measure
//! `g_φ`'s fidelity, never a demonstration anything was trained on) and, for the first pool,
//! `W_0^ret`'s training questions after them.

use std::path::Path;

use icor_qa::data::{
    DatasetSpec, QaExample, ReadOptions, dataset_path, ensure_prepared, find_dataset, read_all,
};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::experiment::profile::Profile;
use crate::experiment::store::fnv1a;

/// The version of the split scheme, part of every stage's stamp: artefacts made under
/// another scheme (other questions in the pools) are rebuilt, never reused.
/// 1: every set shuffled with the same seed, in-domain support from the training pools.
/// 2: a seed per set, in-domain support from a disjoint slice.
pub const SPLITS_VERSION: u32 = 2;

/// An evaluated set with its support pool.
#[derive(Debug, Clone)]
pub struct EvalTask {
    /// `name/split`.
    pub key: String,
    pub spec: &'static DatasetSpec,
    pub questions: Vec<QaExample>,
    /// Where support pairs are drawn from (a name for the pool).
    pub pool_key: String,
    /// The data set (`name/split`) the pool's rows come from.
    pub pool_set: String,
    pub pool: Vec<QaExample>,
    /// Never trained on.
    pub held_out: bool,
}

/// A training pool (meta-training contexts are drawn from it).
#[derive(Debug, Clone)]
pub struct TrainPool {
    pub key: String,
    pub spec: &'static DatasetSpec,
    pub pool: Vec<QaExample>,
    /// The slice after `pool`, disjoint from it and from `W_0^ret`'s questions: the support
    /// pool of the in-domain evaluated set of the same data.
    pub heldout_pool: Vec<QaExample>,
}

/// Every question a run uses, by role.
#[derive(Debug, Clone)]
pub struct Splits {
    /// `W_0^ret`'s training questions (the first training pool, after its two pools).
    pub adapter_train: Vec<QaExample>,
    /// `W_0^ret`'s dev questions for early stopping (after its training questions; empty
    /// without early stopping).
    pub adapter_dev: Vec<QaExample>,
    pub train_pools: Vec<TrainPool>,
    pub eval: Vec<EvalTask>,
}

fn load(home: &Path, key: &str) -> Result<(&'static DatasetSpec, Vec<QaExample>)> {
    let (name, split) = key
        .split_once('/')
        .ok_or_else(|| Error::Config(format!("data set `{key}` is not `name/split`")))?;
    let spec = find_dataset(name, Some(split))?;
    let (rows, _) = read_all::<QaExample>(&dataset_path(home, spec), ReadOptions::default())?;
    Ok((spec, rows))
}

/// The seed of one data set's shuffle (and of the contexts drawn from its pools): the
/// profile's seed mixed with the set's key, so sets are permuted independently.
pub fn set_seed(seed: u64, key: &str) -> u64 {
    seed ^ fnv1a(key.as_bytes())
}

/// `rows` shuffled with the seed of `key`.
pub fn shuffled(mut rows: Vec<QaExample>, seed: u64, key: &str) -> Vec<QaExample> {
    rows.shuffle(&mut ChaCha8Rng::seed_from_u64(set_seed(seed, key) ^ 0x7a5c));
    rows
}

/// The name of the in-domain support pool cut from training pool `key`.
pub fn heldout_pool_key(key: &str) -> String {
    format!("{key} (held-out support)")
}

impl Splits {
    /// Reads the prepared data sets (preparing them on first use) and assigns the roles.
    pub fn load(home: &Path, profile: &Profile) -> Result<Self> {
        ensure_prepared(home, |_| {})?;
        let mut train_pools = Vec::new();
        let mut adapter_train = Vec::new();
        let mut adapter_dev = Vec::new();
        for (i, key) in profile.train_pools.iter().enumerate() {
            let (spec, rows) = load(home, key)?;
            let rows = shuffled(rows, profile.seed, key);
            let pools = 2 * profile.pool_size;
            let dev = profile.adapter.early_stop.map_or(0, |e| e.dev_questions);
            let need = pools
                + if i == 0 {
                    profile.adapter.train_questions + dev
                } else {
                    0
                };
            if rows.len() < need {
                return Err(Error::Config(format!(
                    "{key} has {} questions, the profile needs {need} (a meta-training pool and \
                     a held-out support pool of {} each{})",
                    rows.len(),
                    profile.pool_size,
                    if i == 0 {
                        ", and W_0^ret's questions"
                    } else {
                        ""
                    }
                )));
            }
            if i == 0 {
                adapter_train = rows[pools..need - dev].to_vec();
                adapter_dev = rows[need - dev..need].to_vec();
            }
            train_pools.push(TrainPool {
                key: key.clone(),
                spec,
                pool: rows[..profile.pool_size].to_vec(),
                heldout_pool: rows[profile.pool_size..pools].to_vec(),
            });
        }
        let mut eval = Vec::new();
        for key in &profile.eval_sets {
            let (spec, rows) = load(home, key)?;
            let own_pool = train_pools.iter().find(|p| p.spec.name == spec.name);
            let task = match own_pool {
                Some(p) => EvalTask {
                    key: key.clone(),
                    spec,
                    questions: rows.iter().take(profile.eval.questions).cloned().collect(),
                    pool_key: heldout_pool_key(&p.key),
                    pool_set: p.key.clone(),
                    pool: p.heldout_pool.clone(),
                    held_out: false,
                },
                None => {
                    if rows.len() <= profile.pool_size {
                        return Err(Error::Config(format!(
                            "{key} has {} questions, fewer than its support pool of {}",
                            rows.len(),
                            profile.pool_size
                        )));
                    }
                    let n = profile.eval.questions.min(rows.len() - profile.pool_size);
                    EvalTask {
                        key: key.clone(),
                        spec,
                        questions: rows[..n].to_vec(),
                        pool_key: format!("{key} (questions {n}..{})", n + profile.pool_size),
                        pool_set: key.clone(),
                        pool: rows[n..n + profile.pool_size].to_vec(),
                        held_out: true,
                    }
                }
            };
            eval.push(task);
        }
        Ok(Self {
            adapter_train,
            adapter_dev,
            train_pools,
            eval,
        })
    }
}

/// A readable answer for a demonstration when the golden answers are regular expressions
/// (CuratedTREC): the first top-level alternative with the regex syntax removed.
pub fn regex_answer_text(pattern: &str) -> String {
    let mut depth = 0usize;
    let mut first = String::new();
    for c in pattern.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            '|' if depth == 0 => break,
            _ => {}
        }
        first.push(c);
    }
    // Inside a group keep its first alternative only.
    let mut out = String::new();
    let mut skip = 0usize;
    let mut depth = 0usize;
    for c in first.chars() {
        match c {
            '(' | '[' => {
                depth += 1;
                continue;
            }
            ')' | ']' => {
                depth = depth.saturating_sub(1);
                if skip > depth {
                    skip = 0;
                }
                continue;
            }
            '|' => {
                skip = depth;
                continue;
            }
            _ => {}
        }
        if skip > 0 {
            continue;
        }
        if !"\\^$?*+{}".contains(c) {
            out.push(c);
        }
    }
    let out = out.replace(".", " ");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::regex_answer_text;

    #[test]
    fn regex_answers_become_readable_text() {
        assert_eq!(regex_answer_text("Ronald Reagan|Reagan"), "Ronald Reagan");
        assert_eq!(
            regex_answer_text("(President )?Lincoln"),
            "President Lincoln"
        );
        assert_eq!(regex_answer_text("1,?000"), "1,000");
        assert_eq!(regex_answer_text("(Mt\\.?|Mount) Everest"), "Mt Everest");
    }
}
