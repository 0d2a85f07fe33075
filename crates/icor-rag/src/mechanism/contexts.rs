//! The M contexts of a study: context `i` is a query from the query set and N demonstrations
//! from the demonstration pool, each with its retrieved documents. Both sets are shuffled with
//! the study's seed, each with its own stream, and demonstrations are drawn without
//! replacement (context `i` takes pool rows `iN..(i+1)N`), so no two contexts share a
//! demonstration and a larger M keeps the earlier contexts as they were.
//!
//! Contexts `2j` and `2j + 1` are each other's *other context*: the control that puts (or
//! steps on) another context's demonstrations uses its partner's.

use std::collections::HashSet;
use std::path::Path;

use icor_qa::data::{
    QaExample, ReadOptions, dataset_path, ensure_prepared, find_dataset, read_all,
};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::settings::Settings;
use crate::error::{Error, Result};
use crate::experiment::tasks::regex_answer_text;

/// One question as the study uses it: its text and the one answer it is taught with.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// `name/split:id`.
    pub key: String,
    pub example: QaExample,
    /// The first golden answer (readable text for regex answers).
    pub answer: String,
}

/// Context `index`: a query and its demonstrations.
#[derive(Debug, Clone)]
pub struct Context {
    pub index: usize,
    pub query: Question,
    pub demos: Vec<Question>,
}

impl Context {
    /// The context whose demonstrations are this one's controls.
    pub fn partner(index: usize) -> usize {
        index ^ 1
    }
}

/// The rows of `key` (`name/split`), shuffled with `seed` on the stream `stream`.
fn load_shuffled(home: &Path, key: &str, seed: u64, stream: u64) -> Result<Vec<Question>> {
    let (name, split) = key
        .split_once('/')
        .ok_or_else(|| Error::Config(format!("data set `{key}` is not `name/split`")))?;
    let spec = find_dataset(name, Some(split))?;
    let (mut rows, _) = read_all::<QaExample>(&dataset_path(home, spec), ReadOptions::default())?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rows.shuffle(&mut rng);
    Ok(rows
        .into_iter()
        .filter(|q| !q.golden_answers.is_empty())
        .map(|q| {
            let first = q.golden_answers[0].clone();
            let answer = if spec.regex_answers {
                regex_answer_text(&first)
            } else {
                first
            };
            Question {
                key: format!("{key}:{}", q.id),
                example: q,
                answer,
            }
        })
        .collect())
}

/// Draws the study's M contexts (data sets prepared on first use), never a question whose
/// key is in `exclude` (`W_0^ret`'s training questions, when the study steps from it: a
/// demonstration it was trained on is not a new one). Excluding none keeps the draw of a
/// study without an adapter as it was.
pub fn draw(home: &Path, s: &Settings, exclude: &HashSet<String>) -> Result<Vec<Context>> {
    ensure_prepared(home, |_| {})?;
    let keep = |v: Vec<Question>| -> Vec<Question> {
        v.into_iter()
            .filter(|q| !exclude.contains(&q.key))
            .collect()
    };
    let queries = keep(load_shuffled(home, &s.query_set, s.seed, 1)?);
    let pool = keep(load_shuffled(home, &s.demo_pool, s.seed, 2)?);
    assign(queries, pool, s.contexts, s.demos)
}

/// Context `i` = query `i` and pool rows `iN..(i+1)N`.
pub fn assign(
    queries: Vec<Question>,
    pool: Vec<Question>,
    contexts: usize,
    demos: usize,
) -> Result<Vec<Context>> {
    if queries.len() < contexts || pool.len() < contexts * demos {
        return Err(Error::Config(format!(
            "mechanism: {contexts} contexts of {demos} demonstrations need {contexts} queries and \
             {} pool questions; the sets have {} and {}",
            contexts * demos,
            queries.len(),
            pool.len()
        )));
    }
    let mut pool = pool.into_iter();
    Ok(queries
        .into_iter()
        .take(contexts)
        .enumerate()
        .map(|(index, query)| Context {
            index,
            query,
            demos: pool.by_ref().take(demos).collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(set: &str, i: usize) -> Question {
        Question {
            key: format!("{set}:{i}"),
            example: QaExample::new(
                format!("{i}"),
                format!("question {i}"),
                vec![format!("a{i}")],
            ),
            answer: format!("a{i}"),
        }
    }

    #[test]
    fn no_two_contexts_share_a_demonstration_and_partners_pair_up() {
        let queries: Vec<_> = (0..10).map(|i| q("nq/test", i)).collect();
        let pool: Vec<_> = (0..40).map(|i| q("nq/dev", i)).collect();
        let cs = assign(queries, pool, 8, 3).unwrap();
        let mut seen = std::collections::HashSet::new();
        for c in &cs {
            for d in &c.demos {
                assert!(seen.insert(d.key.clone()), "{} in two contexts", d.key);
            }
            let p = Context::partner(c.index);
            assert_ne!(p, c.index);
            assert_eq!(Context::partner(p), c.index);
            assert!(p < cs.len());
        }
        assert_eq!(seen.len(), 24);
        // A larger M keeps the earlier contexts.
        let queries: Vec<_> = (0..10).map(|i| q("nq/test", i)).collect();
        let pool: Vec<_> = (0..40).map(|i| q("nq/dev", i)).collect();
        let more = assign(queries, pool, 10, 3).unwrap();
        for (a, b) in cs.iter().zip(&more) {
            assert_eq!(a.query, b.query);
            assert_eq!(a.demos, b.demos);
        }
    }

    #[test]
    fn too_few_questions_are_refused() {
        let queries: Vec<_> = (0..4).map(|i| q("nq/test", i)).collect();
        let pool: Vec<_> = (0..5).map(|i| q("nq/dev", i)).collect();
        assert!(assign(queries, pool, 4, 3).is_err());
    }
}
