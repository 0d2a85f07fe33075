//! Why some quick-profile runs of the authors' protocol never leave the initial plateau, and
//! what budget gets every seed off it (issue: "the same conclusions on every seed block").
//!
//! Runs the docs sweep's depth-1 LSA on each of `--protocols` (default: the authors') for every
//! (seed, documents) of `--seeds` × {2, 5, 10, 25} under each of `--variants` (default: all
//! four: `steps1500`, `steps3000`, `lr3e-2`, `batch512`), and prints one Markdown table: per
//! protocol and variant, how many runs stalled (icor-probe's own rule, `converge.rs`), the mean
//! sensitivity cosine of the runs that did not, and the training time.
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run --example plateau -- [--seeds 3,4,5] [--eval-tasks 2000] \
//!     [--protocols authors,projection,dot_product] [--variants steps1500,lr3e-2]
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
    // The variants change one setting of the quick budget as it was when the plateau was
    // found (1,500 steps); `steps3000` is the quick budget adopted since.
    let mut quick = Profile::quick();
    quick.train.steps = 1500;
    let variant = |key: &str, name: &str, f: &dyn Fn(&mut Profile)| {
        let mut p = quick.clone();
        p.eval_tasks = eval_tasks;
        f(&mut p);
        (key.to_string(), name.to_string(), p)
    };
    let all = [
        variant(
            "steps1500",
            "1,500 steps, batch 128, lr 1e-2 (the former quick budget)",
            &|_| {},
        ),
        variant("steps3000", "3,000 steps (the quick budget now)", &|p| {
            p.train.steps = 3000
        }),
        variant("lr3e-2", "lr 3e-2", &|p| p.train.lr = 3e-2),
        variant("batch512", "batch 512", &|p| p.train.batch = 512),
    ];
    let chosen: Vec<String> = arg::<String>(&args, "--variants")
        .unwrap_or_else(|| "steps1500,steps3000,lr3e-2,batch512".into())
        .split(',')
        .map(String::from)
        .collect();
    if let Some(bad) = chosen.iter().find(|c| !all.iter().any(|v| &v.0 == *c)) {
        return Err(
            format!("unknown variant {bad} (steps1500, steps3000, lr3e-2, batch512)").into(),
        );
    }
    let protocols: Vec<String> = arg::<String>(&args, "--protocols")
        .unwrap_or_else(|| "authors".into())
        .split(',')
        .map(String::from)
        .collect();
    println!(
        "| protocol | variant | stalled | stalled (seed, docs) | cosine of the others | seconds |"
    );
    println!("|---|---|---|---|---|---|");
    for protocol in &protocols {
        for (_, name, profile) in all.iter().filter(|v| chosen.contains(&v.0)) {
            let row = table_row(protocol, profile, &seeds, &device, name)?;
            println!("| {protocol} | {name} | {row}");
        }
    }
    Ok(())
}

/// One protocol under one budget: "stalled | which | cosine | seconds |".
fn table_row(
    protocol: &str,
    profile: &Profile,
    seeds: &[u64],
    device: &burn::tensor::Device,
    name: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let t = Instant::now();
    let (mut stalled, mut cos, mut n) = (Vec::new(), 0.0, 0usize);
    let mut total = 0;
    for &seed in seeds {
        for docs in [2, 5, 10, 25] {
            let run = docs_run(protocol, docs, profile, seed, device)?;
            total += 1;
            if run.stalled() {
                stalled.push(format!("({seed}, {docs})"));
            } else if let Some(e) = run.train_eval() {
                cos += e.trained.sens_cos;
                n += 1;
            }
            eprintln!(
                "{protocol}, {name}: seed {seed}, {docs} docs: stalled {}",
                run.stalled()
            );
        }
    }
    Ok(format!(
        "{} of {total} | {} | {:.3} | {:.0} |",
        stalled.len(),
        if stalled.is_empty() {
            "–".to_string()
        } else {
            stalled.join(" ")
        },
        cos / n.max(1) as f64,
        t.elapsed().as_secs_f64()
    ))
}
