//! One LSA training step at the authors' budget, timed outside criterion so that
//! `cargo xtask bench perf` can run it in two builds (burn with and without its `rayon` and
//! `simd` features) and set it beside the JAX peer (`scripts/lsa_step_jax.py`, same shapes).
//!
//! The step is `icor_probe::train::Trainer::step`, the one `icor probe` loops over: draw a batch
//! of the authors' task (5 documents: N = 10 context tokens + the query, tokens of width 21),
//! forward the depth-1 LSA, half-MSE, backward, global-norm clip 0.001, Adam (lr 5e-4,
//! β₂ 0.98). Best of `--rounds` rounds of `--steps` steps after 3 warm-up steps; one JSON line.
//!
//! `cargo build --workspace --example lsa_step && target/debug/examples/lsa_step [--batch B] [--steps S] [--rounds R] [--depth K]`
//! (`--depth`: layers of shared weights, 1 for the bench's peer comparison)
//! (`--workspace`: the feature set of the test build, so burn is not compiled again).

use std::time::Instant;

use icor_probe::backend::Backend;
use icor_probe::model::{Arch, Model};
use icor_probe::sweep::Profile;
use icor_probe::task::{Authors, Task, rng};
use icor_probe::train::Trainer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    icor_kernels::process::keep_freed_memory(); // as the `icor` binary, which runs `icor probe`, does
    let mut args = std::env::args().skip(1);
    let mut cfg = Profile::full().train;
    let (mut steps, mut rounds, mut depth) = (20usize, 3usize, 1usize);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--batch" => cfg.batch = value()?.parse()?,
            "--steps" => steps = value()?.parse()?,
            "--rounds" => rounds = value()?.parse()?,
            "--depth" => depth = value()?.parse()?,
            other => {
                return Err(format!(
                    "unknown argument {other} (--batch B, --steps S, --rounds R, --depth K)"
                )
                .into());
            }
        }
    }
    let device = Backend::Cpu.device()?;
    let task = Task::Authors(Authors::new(5, &mut rng(0, 0)));
    let shape = task.sample(&mut rng(0, 2), 1, task.train_alpha());
    let mut trainer = Trainer::new(&task, &cfg, 0);
    let mut model = Model::init(Arch::Lsa { depth }, shape.d, 0, &device);
    model.set_readout(task.readout());
    for _ in 0..3 {
        model = trainer.step(model, &device).0;
    }
    let mut best = f64::INFINITY;
    let mut loss = f32::NAN;
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        for _ in 0..steps {
            let (next, l) = trainer.step(model, &device);
            (model, loss) = (next, l);
        }
        best = best.min(t.elapsed().as_secs_f64() / steps as f64);
    }
    println!(
        "{}",
        serde_json::json!({
            "batch": cfg.batch,
            "depth": depth,
            "tokens": shape.t,
            "width": shape.d,
            "seconds_per_step": best,
            "steps_per_second": 1.0 / best,
            "last_loss": loss,
        })
    );
    Ok(())
}
