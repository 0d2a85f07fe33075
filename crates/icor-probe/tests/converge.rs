//! Stalled-run detection (`icor_probe::converge`) and the restart rule
//! (`icor_probe::train::train_restarting`) on the committed results of both seed blocks
//! (`reports/probe/`, seeds 0–2, and `reports/probe-seed3/`, seeds 3–5; quick profile, 3,000
//! steps, at most two restarts): every run's stored verdict is the one its record gives; every
//! run converged; exactly two runs were restarted, once each, one per block — the two whose
//! first attempt never left the initial plateau (the authors' protocol at depth 5 with 10
//! documents, seed 0; softmax attention with 2 heads on 5 documents, seed 5) — and each kept
//! attempt is the next attempt's seed; and each file's summaries are those its runs give.

use std::path::{Path, PathBuf};

use icor_probe::converge::MIN_PROGRESS;
use icor_probe::nonlinear::TabularResult;
use icor_probe::sweep::{SweepResult, load, summarise};
use icor_probe::train::attempt_seed;

fn dir(block: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../reports")
        .join(block)
}

fn committed<T: serde::de::DeserializeOwned>(block: &str, name: &str) -> T {
    load(&dir(block).join(format!("{name}.json")))
        .unwrap_or_else(|e| panic!("{block}/{name}.json: {e}"))
        .unwrap_or_else(|| panic!("{block}/{name}.json is committed"))
}

const BLOCKS: [&str; 2] = ["probe", "probe-seed3"];
const SWEEPS: [&str; 4] = ["docs", "alpha", "depth", "archs"];

type Run = (&'static str, String, String, usize, u64);

/// The stalled and the restarted runs of one block's sweeps, checking that every stored verdict
/// is recomputed alike, that every dropped attempt stalled by its curve and the kept one took
/// the next attempt's seed, and that no tabular run stalled or restarted; also returns how many
/// runs were judged.
fn judged_runs(block: &str) -> (Vec<Run>, Vec<Run>, usize) {
    let (mut stalled, mut restarted, mut judged) = (Vec::new(), Vec::new(), 0);
    for name in SWEEPS {
        for run in &committed::<SweepResult>(block, name).runs {
            let c = run.convergence().expect("every run is evaluated");
            assert_eq!(run.convergence, Some(c), "{block}/{name}: stored verdict");
            judged += 1;
            let id = (
                name,
                run.protocol.clone(),
                run.arch.label(),
                run.docs,
                run.seed,
            );
            if c.stalled {
                stalled.push(id.clone());
            }
            if !run.restarts.is_empty() {
                for (k, r) in run.restarts.iter().enumerate() {
                    assert_eq!(r.init_seed, attempt_seed(run.seed, k), "{id:?}");
                    assert!(r.progress.is_none_or(|p| p < MIN_PROGRESS), "{id:?}: {r:?}");
                }
                let kept = attempt_seed(run.seed, run.restarts.len());
                assert_eq!(run.init_seed, Some(kept), "{id:?}");
                restarted.push(id);
            } else {
                assert_eq!(run.init_seed, None, "{id:?}");
            }
        }
    }
    for name in ["nonlinear", "features"] {
        for run in &committed::<TabularResult>(block, name).runs {
            judged += 1;
            let c = run.convergence();
            assert_eq!(run.convergence, Some(c), "{block}/{name}: stored verdict");
            assert!(
                !c.stalled && run.restarts.is_empty(),
                "{block}/{name}: {} {:?} seed {}: {c:?}",
                run.source,
                run.norm,
                run.seed
            );
        }
    }
    (stalled, restarted, judged)
}

#[test]
fn every_committed_run_converged_one_per_seed_block_after_a_restart() {
    let expected: [Vec<Run>; 2] = [
        vec![("depth", "authors".into(), "LSA depth 5".into(), 10, 0)],
        vec![(
            "archs",
            "authors".into(),
            "softmax attention, 2 heads".into(),
            5,
            5,
        )],
    ];
    for (block, want) in BLOCKS.iter().zip(expected) {
        let (stalled, restarted, judged) = judged_runs(block);
        assert_eq!(judged, 81 + 150, "{block}: runs in the committed files");
        assert!(stalled.is_empty(), "{block}: {stalled:?}");
        assert_eq!(restarted, want, "{block}");
    }
}

#[test]
fn committed_summaries_are_those_of_their_runs_without_stalled_seeds() {
    for block in BLOCKS {
        for name in SWEEPS {
            let r: SweepResult = committed(block, name);
            let fresh = summarise(&r.runs);
            assert_eq!(fresh.len(), r.summary.len(), "{block}/{name}");
            for (new, old) in fresh.iter().zip(&r.summary) {
                let key = (&new.protocol, &new.arch, new.docs, new.alpha);
                assert_eq!(
                    key,
                    (&old.protocol, &old.arch, old.docs, old.alpha),
                    "{name}"
                );
                assert_eq!(new.stalled, old.stalled, "{block}/{name} {key:?}");
                assert_eq!(new.restarted, old.restarted, "{block}/{name} {key:?}");
                for (a, b) in [
                    (new.loss_model, old.loss_model),
                    (new.loss_gd, old.loss_gd),
                    (new.pred_diff, old.pred_diff),
                    (new.sens_cos, old.sens_cos),
                    (new.control_sens_cos, old.control_sens_cos),
                ] {
                    // a stalled seed is out of its row's statistics
                    assert_eq!(a.n + new.stalled.len(), new.seeds, "{name} {key:?}");
                    assert_eq!(a.n, b.n, "{block}/{name} {key:?}");
                    assert!((a.mean - b.mean).abs() < 1e-12, "{block}/{name} {key:?}");
                    assert!(
                        (a.half_width - b.half_width).abs() < 1e-12,
                        "{block}/{name} {key:?}"
                    );
                }
            }
        }
    }
}
