//! `icor verify`: checks every identity of `proofs/` on seeded random cases.
//!
//! Case i uses seed S + i; the worst case of each identity is reported with its seed, so
//! `icor verify --seed <worst> --cases 1 --dump DIR` reproduces and exports it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use icor_linear::identities::{Identity, Outcome};
use icor_linear::sample::CaseSpec;
use serde::Serialize;
use serde_json::{Map, Value, json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Random cases per identity.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    cases: u64,
    /// Seed of the first case; case i uses seed + i.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Write every case (inputs, constructed W_K, W_Q, W_V, P, LSA and GD outputs) as JSON
    /// files DIR/<identity>/<seed>.json, for re-checking with another tool.
    #[arg(long, value_name = "DIR")]
    dump: Option<PathBuf>,
    /// Only run the identities whose name contains this text.
    #[arg(long)]
    only: Option<String>,
}

/// One row of the report.
#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    proof: &'static str,
    cases: u64,
    max_rel_err: f64,
    /// Tolerance at the worst case (relative error / tolerance is largest there).
    tol: f64,
    worst_seed: u64,
    worst_ratio: f64,
    failures: u64,
    pass: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if let Some(dir) = &args.dump {
        fs::create_dir_all(dir)
            .with_context(|| format!("creating dump folder {}", dir.display()))?;
    }
    let identities: Vec<Identity> = Identity::ALL
        .into_iter()
        .filter(|i| args.only.as_deref().is_none_or(|o| i.name().contains(o)))
        .collect();
    anyhow::ensure!(
        !identities.is_empty(),
        "no identity name contains {:?}; names: {}",
        args.only.unwrap_or_default(),
        names()
    );
    let mut checks = Vec::new();
    for identity in identities {
        checks.push(run_identity(identity, &args)?);
    }
    let pass = checks.iter().all(|c| c.pass);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "seed": args.seed, "pass": pass, "checks": checks })
            )?
        );
    } else {
        print_table(&checks);
    }
    Ok(if pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn names() -> String {
    Identity::ALL
        .iter()
        .map(|i| i.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn run_identity(identity: Identity, args: &Args) -> Result<Check> {
    let mut row = Check {
        name: identity.name(),
        proof: identity.proof(),
        cases: args.cases,
        max_rel_err: 0.0,
        tol: 0.0,
        worst_seed: args.seed,
        worst_ratio: -1.0,
        failures: 0,
        pass: true,
    };
    for i in 0..args.cases {
        let seed = args.seed.wrapping_add(i);
        let spec = CaseSpec::from_seed(seed);
        let out = identity
            .check(&spec)
            .with_context(|| format!("{} on seed {seed}", identity.name()))?;
        let ratio = ratio(&out);
        if !out.passed() {
            row.failures += 1;
            row.pass = false;
        }
        row.max_rel_err = if out.rel_err.is_nan() {
            f64::NAN
        } else {
            row.max_rel_err.max(out.rel_err)
        };
        if ratio > row.worst_ratio || ratio.is_nan() && !row.worst_ratio.is_nan() {
            (row.worst_ratio, row.tol, row.worst_seed) = (ratio, out.tol, seed);
        }
        if let Some(dir) = &args.dump {
            dump_case(dir, identity, &spec, &out)?;
        }
    }
    Ok(row)
}

/// Error relative to tolerance; bit-exact checks (tolerance 0) give 0 or ∞.
fn ratio(out: &Outcome) -> f64 {
    match (out.rel_err, out.tol) {
        (e, _) if e.is_nan() => f64::NAN,
        (e, _) if e == 0.0 => 0.0,
        (e, t) if t > 0.0 => e / t,
        _ => f64::INFINITY,
    }
}

fn matrix_json(m: &ndarray::Array2<f64>) -> Value {
    Value::Array(m.rows().into_iter().map(|r| json!(r.to_vec())).collect())
}

fn dump_case(dir: &Path, identity: Identity, spec: &CaseSpec, out: &Outcome) -> Result<()> {
    let folder = dir.join(identity.name());
    fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let scalars: Map<String, Value> = out
        .record
        .scalars
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let matrices: Map<String, Value> = out
        .record
        .matrices
        .iter()
        .map(|(k, m)| (k.clone(), matrix_json(m)))
        .collect();
    let doc = json!({
        "identity": identity.name(),
        "proof": identity.proof(),
        "spec": spec,
        "rel_err": out.rel_err,
        "tol": out.tol,
        "pass": out.passed(),
        "layout": "tokens are rows (x1, x2, y); weights act on column vectors: q = W_Q e",
        "scalars": scalars,
        "matrices": matrices,
    });
    let path = folder.join(format!("{}.json", spec.seed));
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, serde_json::to_vec(&doc)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

fn print_table(checks: &[Check]) {
    println!(
        "{:<30} {:>7} {:>13} {:>11} {:>10} {:>6}  proof",
        "identity", "cases", "max rel err", "tolerance", "worst seed", "pass"
    );
    for c in checks {
        println!(
            "{:<30} {:>7} {:>13.3e} {:>11.1e} {:>10} {:>6}  {}",
            c.name,
            c.cases,
            c.max_rel_err,
            c.tol,
            c.worst_seed,
            if c.pass { "ok" } else { "FAIL" },
            c.proof
        );
    }
    let failed: u64 = checks.iter().map(|c| c.failures).sum();
    println!(
        "{} identities, {} cases each: {}",
        checks.len(),
        checks.first().map_or(0, |c| c.cases),
        if failed == 0 {
            "all pass".to_string()
        } else {
            format!("{failed} failing cases")
        }
    );
}
