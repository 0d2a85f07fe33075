//! Why some quick-profile runs of the authors' protocol never leave the initial plateau, and
//! what budget gets every seed off it (issue: "the same conclusions on every seed block").
//!
//! Runs the docs sweep's depth-1 LSA on the authors' protocol for every (seed, documents) of
//! `--seeds` × {2, 5, 10, 25} under the quick budget and under each variant below, and prints
//! one Markdown table: per variant, how many runs stalled (icor-probe's own rule,
//! `converge.rs`), the mean sensitivity cosine of the runs that did not, and the training time.
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run --example plateau -- [--seeds 3,4,5] [--eval-tasks 2000]
//! ```

use std::time::Instant;

use icor_probe::backend::Backend;
use icor_probe::sweep::{Profile, docs_run};

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds: Vec<u64> = arg::<String>(&args, "--seeds")
        .unwrap_or_else(|| "3,4,5".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let eval_tasks = arg(&args, "--eval-tasks").unwrap_or(2000);
    let device = Backend::Cpu.device()?;
    let quick = Profile::quick();
    let variant = |name: &str, f: &dyn Fn(&mut Profile)| {
        let mut p = quick.clone();
        p.eval_tasks = eval_tasks;
        f(&mut p);
        (name.to_string(), p)
    };
    let variants = [
        variant("quick (1,500 steps, batch 128, lr 1e-2)", &|_| {}),
        variant("3,000 steps", &|p| p.train.steps = 3000),
        variant("lr 3e-2", &|p| p.train.lr = 3e-2),
        variant("batch 512", &|p| p.train.batch = 512),
    ];
    println!("| variant | stalled | stalled (seed, docs) | cosine of the others | seconds |");
    println!("|---|---|---|---|---|");
    for (name, profile) in &variants {
        let t = Instant::now();
        let (mut stalled, mut cos, mut n) = (Vec::new(), 0.0, 0usize);
        let mut total = 0;
        for &seed in &seeds {
            for docs in [2, 5, 10, 25] {
                let run = docs_run("authors", docs, profile, seed, &device)?;
                total += 1;
                if run.stalled() {
                    stalled.push(format!("({seed}, {docs})"));
                } else if let Some(e) = run.train_eval() {
                    cos += e.trained.sens_cos;
                    n += 1;
                }
                eprintln!(
                    "{name}: seed {seed}, {docs} docs: stalled {}",
                    run.stalled()
                );
            }
        }
        println!(
            "| {name} | {} of {total} | {} | {:.3} | {:.0} |",
            stalled.len(),
            if stalled.is_empty() {
                "–".to_string()
            } else {
                stalled.join(" ")
            },
            cos / n.max(1) as f64,
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
