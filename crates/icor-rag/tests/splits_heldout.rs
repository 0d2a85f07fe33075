//! Held out means held out, on the shipped data and the profiles' own settings: the slices
//! of each training pool (meta-training pool, in-domain support pool, `W_0^ret`'s
//! questions) are disjoint; no evaluated set's support pool holds a question anything is
//! trained on; no held-out context shares a demonstration with a training context; and
//! each data set is shuffled and drawn with its own seed, so the pools of NQ, TriviaQA and
//! SQuAD do not sit at the same row positions.

use std::collections::{HashMap, HashSet};

use icor_qa::data::{QaExample, ReadOptions, dataset_path, find_dataset, read_all};
use icor_rag::experiment::contexts::draw;
use icor_rag::experiment::profile::Profile;
use icor_rag::experiment::tasks::Splits;

fn ids(set: &str, rows: &[QaExample]) -> HashSet<String> {
    rows.iter().map(|q| format!("{set}:{}", q.id)).collect()
}

fn splits(profile: &Profile) -> Splits {
    let home = icor_assets::home(None).expect("asset cache");
    Splits::load(&home, profile).expect("data prepared (run `icor fetch`)")
}

/// Everything a run trains on: `W_0^ret`'s questions and every meta-training pool.
fn trained(s: &Splits, p: &Profile) -> HashSet<String> {
    let mut t = ids(&p.train_pools[0], &s.adapter_train);
    for tp in &s.train_pools {
        t.extend(ids(&tp.key, &tp.pool));
    }
    t
}

#[test]
fn support_pools_and_heldout_contexts_share_nothing_with_training() {
    for name in ["smoke", "quick", "decided"] {
        let p = Profile::named(name).unwrap();
        let s = splits(&p);
        let trained = trained(&s, &p);
        for tp in &s.train_pools {
            let (pool, held) = (ids(&tp.key, &tp.pool), ids(&tp.key, &tp.heldout_pool));
            assert_eq!(pool.len(), p.pool_size, "{name} {}", tp.key);
            assert_eq!(held.len(), p.pool_size, "{name} {}", tp.key);
            assert!(pool.is_disjoint(&held), "{name} {}", tp.key);
        }
        assert!(
            ids(&p.train_pools[0], &s.adapter_train).iter().all(|k| !s
                .train_pools
                .iter()
                .any(|tp| ids(&tp.key, &tp.pool).contains(k))),
            "{name}: W_0^ret's questions overlap a meta-training pool"
        );
        // Support pools of the evaluated sets: nothing trained on, no evaluated question.
        let mut rows_of: HashMap<String, (String, Vec<QaExample>)> = HashMap::new();
        for t in &s.eval {
            let support = ids(&t.pool_set, &t.pool);
            assert!(support.is_disjoint(&trained), "{name} {}", t.key);
            assert!(
                support.is_disjoint(&ids(&t.key, &t.questions)),
                "{name} {}",
                t.key
            );
            rows_of.insert(t.pool_key.clone(), (t.pool_set.clone(), t.pool.clone()));
        }
        for tp in &s.train_pools {
            rows_of.insert(tp.key.clone(), (tp.key.clone(), tp.pool.clone()));
        }
        // Contexts: held-out demonstrations never appear in a training context.
        let contexts = draw(&s, &p);
        let demos = |heldout: bool| -> HashSet<String> {
            contexts
                .iter()
                .filter(|c| c.heldout == heldout)
                .flat_map(|c| {
                    let (set, rows) = &rows_of[&c.pool];
                    c.idx.iter().map(move |&i| format!("{set}:{}", rows[i].id))
                })
                .collect()
        };
        let (train_demos, held_demos) = (demos(false), demos(true));
        assert!(!held_demos.is_empty() && !train_demos.is_empty(), "{name}");
        let shared: Vec<_> = held_demos.intersection(&train_demos).collect();
        assert!(
            shared.is_empty(),
            "{name}: held-out contexts reuse {shared:?}"
        );
    }
}

#[test]
fn every_data_set_is_shuffled_and_drawn_with_its_own_seed() {
    let p = Profile::named("quick").unwrap();
    let s = splits(&p);
    let home = icor_assets::home(None).unwrap();
    // The file positions of each pool's rows.
    let positions: Vec<Vec<usize>> = s
        .train_pools
        .iter()
        .map(|tp| {
            let spec = find_dataset(&tp.key, None).unwrap();
            let (rows, _) =
                read_all::<QaExample>(&dataset_path(&home, spec), ReadOptions::default()).unwrap();
            let at: HashMap<&str, usize> = rows
                .iter()
                .enumerate()
                .map(|(i, q)| (q.id.as_str(), i))
                .collect();
            tp.pool.iter().map(|q| at[q.id.as_str()]).collect()
        })
        .collect();
    for (i, a) in positions.iter().enumerate() {
        for b in &positions[i + 1..] {
            assert_ne!(a, b, "two pools hold the same row positions");
        }
    }
    // Context c of each training pool draws other rows.
    let contexts = draw(&s, &p);
    let first: Vec<&Vec<usize>> = s
        .train_pools
        .iter()
        .map(|tp| {
            &contexts
                .iter()
                .find(|c| !c.heldout && c.pool == tp.key)
                .unwrap()
                .idx
        })
        .collect();
    assert!(
        first.windows(2).any(|w| w[0] != w[1]),
        "context 0 takes the same rows in every pool: {first:?}"
    );
}

/// The decided profile's scheme: the first `all_k_contexts_per_pool` contexts of each
/// training pool, and every held-out context, carry every K; the other training contexts
/// the smallest K only.
#[test]
fn contexts_beyond_the_all_k_subset_carry_the_smallest_k_only() {
    let mut p = Profile::named("quick").unwrap();
    p.targets.all_k_contexts_per_pool = Some(4);
    let s = splits(&p);
    let contexts = draw(&s, &p);
    for tp in &s.train_pools {
        let own: Vec<_> = contexts
            .iter()
            .filter(|c| !c.heldout && c.pool == tp.key)
            .collect();
        assert_eq!(own.len(), p.targets.train_contexts_per_pool);
        for (i, c) in own.iter().enumerate() {
            let want: &[usize] = if i < 4 { &[1, 5, 10] } else { &[1] };
            assert_eq!(c.ks, want, "{} (context {i} of {})", c.name, tp.key);
        }
    }
    let held: Vec<_> = contexts.iter().filter(|c| c.heldout).collect();
    assert!(!held.is_empty());
    assert!(held.iter().all(|c| c.ks == [1, 5, 10]));
}
