//! Runs of a sweep trained side by side (`icor probe --jobs N`) give the numbers and the file
//! of the same sweep run one at a time: every run draws its randomness from its own seed, and
//! the file lists its runs in a fixed order whatever order they finished in.

use icor_probe::backend::Backend;
use icor_probe::concurrent::Slots;
use icor_probe::sweep::{Profile, Setup, SweepKind, SweepResult, run_sweep};
use icor_probe::train::TrainConfig;

/// A budget small enough for a test: 40 steps of batch 16, 3 seeds, one restart.
fn tiny() -> Profile {
    Profile {
        name: "tiny".into(),
        train: TrainConfig {
            steps: 40,
            batch: 16,
            lr: 1e-2,
            clip: 0.0,
            eval_every: 20,
            curve_tasks: 64,
        },
        seeds: 3,
        eval_tasks: 256,
        tabular_steps: None,
        depth_lr_power: 1.0,
        softmax_lr: None,
        // 40 steps leave most runs on the plateau: restarts side by side must give the
        // numbers of restarts one at a time
        restarts: 1,
    }
}

/// `kind` on the tiny budget from seed 7 on the CPU, for `protocols`, into `out`.
fn run_tiny(
    kind: SweepKind,
    protocols: &[&str],
    out: &std::path::Path,
    slots: &Slots,
) -> SweepResult {
    let device = Backend::Cpu.device().unwrap();
    let protocols: Vec<String> = protocols.iter().map(|p| p.to_string()).collect();
    let profile = tiny();
    let setup = Setup {
        profile: &profile,
        base_seed: 7,
        backend: "cpu",
        device: &device,
        out,
        slots,
    };
    run_sweep(kind, &setup, &protocols).unwrap()
}

fn sweep(jobs: usize, out: &std::path::Path) -> SweepResult {
    run_tiny(
        SweepKind::Alpha,
        &["authors", "projection"],
        out,
        &Slots::new(jobs),
    )
}

/// The file as JSON without the per-run wall times (`seconds`), which measure the machine.
fn without_times(path: &std::path::Path) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for run in v["runs"].as_array_mut().unwrap() {
        run.as_object_mut().unwrap().remove("seconds");
    }
    v
}

#[test]
fn concurrent_runs_give_the_sequential_numbers_and_file() {
    let (one, three) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = sweep(1, one.path());
    let b = sweep(3, three.path());
    assert_eq!(a.runs.len(), 6, "2 protocols × 3 seeds");
    let order = |r: &SweepResult| -> Vec<(String, u64)> {
        r.runs
            .iter()
            .map(|r| (r.protocol.clone(), r.seed))
            .collect()
    };
    assert_eq!(order(&a), order(&b));
    assert_eq!(
        without_times(&one.path().join("alpha.json")),
        without_times(&three.path().join("alpha.json"))
    );
    // a file written by concurrent runs resumes with nothing left to do
    let again = sweep(2, three.path());
    assert_eq!(order(&again), order(&b));
    let times = |r: &SweepResult| -> Vec<f64> { r.runs.iter().map(|r| r.seconds).collect() };
    assert_eq!(times(&again), times(&b), "a finished run was trained again");
}

/// Two sweeps side by side on one shared budget of two runs (as `icor probe all` runs its
/// sweeps) write the files each writes alone, one run at a time.
#[test]
fn sweeps_side_by_side_on_one_budget_give_the_files_of_each_alone() {
    let run = |kind: SweepKind, out: &std::path::Path, slots: &Slots| {
        run_tiny(kind, &["authors"], out, slots)
    };
    let (alone, shared) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for kind in [SweepKind::Alpha, SweepKind::Docs] {
        run(kind, alone.path(), &Slots::new(1));
    }
    let slots = Slots::new(2);
    std::thread::scope(|s| {
        for kind in [SweepKind::Alpha, SweepKind::Docs] {
            let (slots, run, out) = (&slots, &run, shared.path());
            s.spawn(move || run(kind, out, slots));
        }
    });
    for name in ["alpha.json", "docs.json"] {
        assert_eq!(
            without_times(&alone.path().join(name)),
            without_times(&shared.path().join(name)),
            "{name}"
        );
    }
}
