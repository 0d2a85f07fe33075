//! `icor probe <sweep>`: runs the boundary-study sweeps and writes one JSON file per sweep.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use icor_probe::backend::Backend;
use icor_probe::concurrent::Slots;
use icor_probe::nonlinear::{Study, TabularResult, run_study};
use icor_probe::sweep::{Profile, Setup, SweepKind, SweepResult, run_sweep};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Which {
    /// Document count {2, 5, 10, 25}, three protocols, depth 1.
    Docs,
    /// Test-input range α ∈ {0.5 … 2}.
    Alpha,
    /// Depth 2 and 5 with shared weights, documents {2, 5, 10, 15} ({2, 10} with --quick).
    Depth,
    /// GD++, softmax attention, MLP + LSA (two widths), authors' protocol.
    Archs,
    /// MLP + LSA on five real tables × four input normalisations, retrieved contexts (§4.3).
    Nonlinear,
    /// Synthetic features of matched variance (uniform … log-normal), and the rank correlation
    /// of each feature statistic with the alignment over synthetic and real tables (run after
    /// `nonlinear` to include the real ones).
    Features,
    /// Every sweep above.
    All,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which sweep to run.
    #[arg(value_enum)]
    sweep: Which,
    /// Small budget (batch 128, 3,000 steps, lr 1e-2; 1,500 steps in the tabular studies);
    /// without it the authors' budget (batch 2048, 8,000 steps, lr 5e-4, global-norm clip
    /// 0.001). Both train a depth-L stack at lr/L.
    #[arg(long)]
    quick: bool,
    /// First training seed; seeds S, S+1, S+2 are used.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run only these protocols of the synthetic sweeps (comma-separated: authors, projection,
    /// dot_product); a later run without the filter resumes the same files.
    #[arg(long, value_delimiter = ',', value_parser = ["authors", "projection", "dot_product"])]
    protocol: Vec<String>,
    /// Training seeds per configuration (≥ 3 for confidence intervals).
    #[arg(long)]
    seeds: Option<usize>,
    /// Compute backend.
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "wgpu"])]
    backend: String,
    /// Runs (seeds × configurations) trained at once [default: every core on cpu, 1 on wgpu].
    /// One run of these small models keeps about one core busy; the numbers do not depend on it.
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Output folder; a sweep whose JSON is already there resumes.
    #[arg(long, default_value = "reports/probe")]
    out: PathBuf,
    /// Asset cache holding the tabular sets (default: $ICOR_HOME or ~/.cache/icor); missing
    /// sets are fetched on first use (`icor fetch <set>` does it ahead of time).
    #[arg(long)]
    home: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let backend: Backend = args.backend.parse()?;
    let device = backend.device()?;
    let jobs = args.jobs.map_or_else(
        || icor_probe::concurrent::default_jobs(backend),
        usize::from,
    );
    let mut profile = if args.quick {
        Profile::quick()
    } else {
        Profile::full()
    };
    if let Some(s) = args.seeds {
        anyhow::ensure!(s >= 1, "--seeds must be at least 1");
        profile.seeds = s;
    }
    let (kinds, studies): (Vec<SweepKind>, Vec<Study>) = match args.sweep {
        Which::Docs => (vec![SweepKind::Docs], vec![]),
        Which::Alpha => (vec![SweepKind::Alpha], vec![]),
        Which::Depth => (vec![SweepKind::Depth], vec![]),
        Which::Archs => (vec![SweepKind::Archs], vec![]),
        Which::Nonlinear => (vec![], vec![Study::Nonlinear]),
        Which::Features => (vec![], vec![Study::Features]),
        Which::All => (
            SweepKind::ALL.to_vec(),
            vec![Study::Nonlinear, Study::Features],
        ),
    };
    anyhow::ensure!(
        args.protocol.is_empty() || studies.is_empty(),
        "--protocol filters the synthetic sweeps (docs, alpha, depth, archs); the tabular studies have no protocols"
    );
    let home = if studies.is_empty() {
        None
    } else {
        Some(icor_assets::home(args.home.as_deref())?)
    };
    // Every selected sweep side by side on one budget of runs: no core idles while one
    // sweep finishes its last runs and the next waits.
    let slots = Slots::new(jobs);
    let setup = Setup {
        profile: &profile,
        base_seed: args.seed,
        backend: &args.backend,
        device: &device,
        out: &args.out,
        slots: &slots,
    };
    let start = std::time::Instant::now();
    let (sweeps, tabular) = std::thread::scope(|scope| {
        let sweeps: Vec<_> = kinds
            .iter()
            .map(|&kind| {
                let (setup, args) = (&setup, &args);
                scope.spawn(move || {
                    run_sweep(kind, setup, &args.protocol)
                        .with_context(|| format!("sweep {}", kind.name()))
                })
            })
            .collect();
        let tabular: Vec<_> = studies
            .iter()
            .map(|&study| {
                let (setup, home) = (&setup, &home);
                scope.spawn(move || {
                    let home = home.as_deref().context("asset cache")?;
                    run_study(study, setup, home).with_context(|| format!("study {}", study.name()))
                })
            })
            .collect();
        (
            sweeps.into_iter().map(joined).collect::<Vec<_>>(),
            tabular.into_iter().map(joined).collect::<Vec<_>>(),
        )
    });
    let mut tabular = tabular.into_iter().collect::<Result<Vec<_>>>()?;
    // `features` correlates with `nonlinear`'s real tables: read them again now that both
    // are done (every run resumes; only the statistics are recomputed).
    if let (Some(i), true) = (
        studies.iter().position(|&s| s == Study::Features),
        studies.contains(&Study::Nonlinear),
    ) {
        let home = home.as_deref().context("asset cache")?;
        tabular[i] = run_study(Study::Features, &setup, home).context("study features")?;
    }
    for (kind, result) in kinds.iter().zip(sweeps) {
        print_sweep(*kind, &result?, &args.out);
    }
    for (study, result) in studies.iter().zip(&tabular) {
        print_study(*study, result, &args.out);
    }
    eprintln!(
        "{} sweep(s) in {:.0} s, up to {jobs} runs at once",
        kinds.len() + studies.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// A sweep thread's result (a panic as an error).
fn joined<T>(h: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    h.join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("a sweep's thread panicked")))
}

/// A finished sweep's summary lines.
fn print_sweep(kind: SweepKind, result: &SweepResult, out: &std::path::Path) {
    eprintln!(
        "{}: {} runs → {}",
        kind.name(),
        result.runs.len(),
        out.join(format!("{}.json", kind.name())).display()
    );
    for s in &result.summary {
        eprintln!(
            "  {:<12} {:<22} docs={:<3} α={:<5} {} | loss TF {:.4} GD {:.4} | pred diff {:.4} | cos {:.3} (control {:.3})",
            s.protocol,
            s.arch,
            s.docs,
            s.alpha,
            converged(s.seeds, &s.stalled),
            s.loss_model.mean,
            s.loss_gd.mean,
            s.pred_diff.mean,
            s.sens_cos.mean,
            s.control_sens_cos.mean
        );
    }
}

/// A finished tabular study's summary lines and correlations.
fn print_study(study: Study, result: &TabularResult, out: &std::path::Path) {
    eprintln!(
        "{}: {} runs → {}",
        study.name(),
        result.runs.len(),
        out.join(format!("{}.json", study.name())).display()
    );
    for s in &result.summary {
        eprintln!(
            "  {:<11} {:<8} {:<15} {} | loss TF {:.4} GD {:.4} | pred diff {:.4} | cos {:.3} (control {:.3}) | kurtosis {:.1}",
            s.source,
            s.norm.name(),
            s.arch,
            converged(s.seeds, &s.stalled),
            s.loss_model.mean,
            s.loss_gd.mean,
            s.pred_diff.mean,
            s.sens_cos.mean,
            s.control_sens_cos.mean,
            s.shape.kurtosis
        );
    }
    for c in result.correlations.iter().filter(|c| c.points == "all") {
        eprintln!(
            "  ρ(cos, {}) = {:+.3} over {} points ({})",
            c.statistic, c.rho, c.n, c.arch
        );
    }
}

/// "3/3 converged", or "2/3 converged (stalled: seed 5)": the means beside it are over the
/// converged seeds only (`icor_probe::converge`).
fn converged(seeds: usize, stalled: &[u64]) -> String {
    let k = seeds.saturating_sub(stalled.len());
    if stalled.is_empty() {
        format!("{k}/{seeds} converged")
    } else {
        let list: Vec<String> = stalled.iter().map(u64::to_string).collect();
        format!("{k}/{seeds} converged (stalled: seed {})", list.join(", "))
    }
}
