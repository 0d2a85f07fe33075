//! The restart rule (`train_restarting`): a run whose own curve says it stalled is trained again
//! from the next attempt's seed, every dropped attempt is recorded, and a run that left the
//! plateau is exactly the run trained without the rule.

mod common;

use icor_probe::backend::Backend;
use icor_probe::metrics::GdRef;
use icor_probe::model::Arch;
use icor_probe::task::{Task, rng};
use icor_probe::train::{TrainConfig, TrainEvent, attempt_seed, train, train_restarting};

/// MLP + LSA on a Gaussian table: 150 steps take it well off the plateau (`backends.rs`).
fn setup() -> (Task, GdRef, icor_probe::task::Batch, TrainConfig) {
    let (retrieved, gd) = common::gaussian_contexts();
    let curve_batch = retrieved.sample(&mut rng(9, 5), 100);
    let cfg = TrainConfig {
        steps: 150,
        batch: 64,
        lr: 1e-2,
        clip: 0.0,
        eval_every: 25,
        curve_tasks: 100,
    };
    (Task::Retrieved(retrieved), gd, curve_batch, cfg)
}

#[test]
fn a_run_that_leaves_the_plateau_is_not_restarted_and_equals_plain_training() {
    let device = Backend::Cpu.device().unwrap();
    let (task, gd, curve_batch, cfg) = setup();
    let arch = Arch::Mlp { width: 16 };
    let mut events = Vec::new();
    let kept = train_restarting(&task, arch, &cfg, 2, 3, &gd, &curve_batch, &device, |e| {
        events.push(e)
    })
    .unwrap();
    assert!(kept.restarts.is_empty(), "{:?}", kept.restarts);
    assert_eq!(kept.init_seed, 3);
    assert_eq!(events.len(), cfg.steps);
    assert!(events.iter().all(|e| matches!(e, TrainEvent::Step(_))));
    let (_, plain) = train(&task, arch, &cfg, 3, &gd, &curve_batch, &device, |_| {}).unwrap();
    assert_eq!(kept.curve.loss_model, plain.loss_model);
}

#[test]
fn a_stalled_run_is_trained_again_from_the_next_seed_until_the_restarts_run_out() {
    let device = Backend::Cpu.device().unwrap();
    let (task, gd, curve_batch, mut cfg) = setup();
    cfg.steps = 0; // a curve of one point: nothing left the plateau
    let mut restarts = 0;
    let kept = train_restarting(
        &task,
        Arch::Mlp { width: 16 },
        &cfg,
        2,
        3,
        &gd,
        &curve_batch,
        &device,
        |e| restarts += usize::from(e == TrainEvent::Restart),
    )
    .unwrap();
    assert_eq!(restarts, 2);
    let dropped: Vec<u64> = kept.restarts.iter().map(|r| r.init_seed).collect();
    assert_eq!(dropped, vec![attempt_seed(3, 0), attempt_seed(3, 1)]);
    assert_eq!(
        kept.init_seed,
        attempt_seed(3, 2),
        "the last attempt is kept"
    );
    // each attempt starts from its own initialisation: their untrained losses differ
    assert_ne!(kept.restarts[0].final_loss, kept.restarts[1].final_loss);
    assert!(kept.restarts.iter().all(|r| r.progress.is_none()));
}

#[test]
fn attempt_seeds_start_at_the_run_seed_and_never_meet_another_runs() {
    let mut all = std::collections::HashSet::new();
    for seed in 0..100 {
        assert_eq!(attempt_seed(seed, 0), seed);
        for k in 0..4 {
            assert!(all.insert(attempt_seed(seed, k)), "seed {seed} attempt {k}");
        }
    }
}
