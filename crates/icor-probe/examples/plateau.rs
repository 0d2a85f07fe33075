//! Why some quick-profile runs of the authors' protocol never leave the initial plateau, and
//! what budget gets every seed off it (issue: "the same conclusions on every seed block").
//!
//! Runs `--arch` (default the docs sweep's depth-1 LSA; `lsa2`, `lsa5`, `softmax2`, `gdpp`,
//! `mlp32`, `mlp128`) on each of `--protocols` (default: the authors') for every (seed,
//! documents) of `--seeds` × `--docs` (default {2, 5, 10, 25}) under each of `--variants`
//! (default: the four below), and prints one Markdown table: per protocol and variant, how many
//! runs stalled (icor-probe's own rule, `converge.rs`), the mean sensitivity cosine of the runs
//! that did not, and the training time.
//!
//! Variants: `steps1500` (the former quick budget), `steps3000`, `lr3e-2`, `batch512` (one
//! change each to the former budget), or `quick` (the quick profile now) with changes joined
//! by `+`: `quick+lr=2.2e-2+steps=4000+batch=256+restarts=0` (the learning rate before the depth
//! sweep's division by the depth; `restarts`: how many times a stalled run is trained again).
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run --example plateau -- [--seeds 3,4,5] [--eval-tasks 2000] \
//!     [--protocols authors,projection,dot_product] [--variants steps1500,lr3e-2] \
//!     [--arch lsa5] [--docs 10]
//! ```

use std::time::Instant;

use icor_probe::backend::Backend;
use icor_probe::model::Arch;
use icor_probe::sweep::{Profile, synthetic_run};

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
    quick.restarts = 0; // the budgets as they were: no restarts
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
    let mut all = all.to_vec();
    for c in &chosen {
        if !all.iter().any(|v| &v.0 == c) {
            let mut p = quick_variant(c)?;
            p.eval_tasks = eval_tasks;
            all.push((c.clone(), c.clone(), p));
        }
    }
    let arch = parse_arch(&arg::<String>(&args, "--arch").unwrap_or_else(|| "lsa1".into()))?;
    let docs: Vec<usize> = arg::<String>(&args, "--docs")
        .unwrap_or_else(|| "2,5,10,25".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let protocols: Vec<String> = arg::<String>(&args, "--protocols")
        .unwrap_or_else(|| "authors".into())
        .split(',')
        .map(String::from)
        .collect();
    println!("{}, documents {docs:?}, seeds {seeds:?}\n", arch.label());
    println!(
        "| protocol | variant | stalled | stalled (seed, docs) | restarted (seed, docs: restarts) | cosine of the others | seconds |"
    );
    println!("|---|---|---|---|---|---|---|");
    for protocol in &protocols {
        for (_, name, profile) in all.iter().filter(|v| chosen.contains(&v.0)) {
            let row = table_row(protocol, arch, &docs, profile, &seeds, &device, name)?;
            println!("| {protocol} | {name} | {row}");
        }
    }
    Ok(())
}

/// `quick` with `+key=value` changes (`lr`, `steps`, `batch`, `restarts`).
fn quick_variant(spec: &str) -> Result<Profile, Box<dyn std::error::Error>> {
    let mut parts = spec.split('+');
    if parts.next() != Some("quick") {
        return Err(format!(
            "unknown variant {spec} (steps1500, steps3000, lr3e-2, batch512, or quick+key=value…)"
        )
        .into());
    }
    let mut p = Profile::quick();
    for change in parts {
        let (key, value) = change
            .split_once('=')
            .ok_or(format!("{spec}: `{change}` is not key=value"))?;
        match key {
            "lr" => p.train.lr = value.parse()?,
            "steps" => p.train.steps = value.parse()?,
            "batch" => p.train.batch = value.parse()?,
            "restarts" => p.restarts = value.parse()?,
            _ => {
                return Err(
                    format!("{spec}: unknown setting {key} (lr, steps, batch, restarts)").into(),
                );
            }
        }
    }
    Ok(p)
}

fn parse_arch(name: &str) -> Result<Arch, Box<dyn std::error::Error>> {
    Ok(match name {
        "lsa1" => Arch::Lsa { depth: 1 },
        "lsa2" => Arch::Lsa { depth: 2 },
        "lsa5" => Arch::Lsa { depth: 5 },
        "softmax2" => Arch::Softmax { heads: 2 },
        "gdpp" => Arch::GdPlusPlus { depth: 1 },
        "mlp32" => Arch::Mlp { width: 32 },
        "mlp128" => Arch::Mlp { width: 128 },
        _ => {
            return Err(format!(
                "unknown --arch {name} (lsa1, lsa2, lsa5, softmax2, gdpp, mlp32, mlp128)"
            )
            .into());
        }
    })
}

/// One protocol under one budget: "stalled | which | restarted | cosine | seconds |".
fn table_row(
    protocol: &str,
    arch: Arch,
    docs_list: &[usize],
    profile: &Profile,
    seeds: &[u64],
    device: &burn::tensor::Device,
    name: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let t = Instant::now();
    let (mut stalled, mut restarted, mut cos, mut n) = (Vec::new(), Vec::new(), 0.0, 0usize);
    let mut total = 0;
    for &seed in seeds {
        for &docs in docs_list {
            let run = synthetic_run(protocol, docs, arch, profile, seed, device)?;
            total += 1;
            if !run.restarts.is_empty() {
                restarted.push(format!("({seed}, {docs}: {})", run.restarts.len()));
            }
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
    let list = |v: &[String]| {
        if v.is_empty() {
            "–".to_string()
        } else {
            v.join(" ")
        }
    };
    Ok(format!(
        "{} of {total} | {} | {} | {:.3} | {:.0} |",
        stalled.len(),
        list(&stalled),
        list(&restarted),
        cos / n.max(1) as f64,
        t.elapsed().as_secs_f64()
    ))
}
