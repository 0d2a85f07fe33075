//! `icor reproduce`: the whole paper, small — the theory check, the boundary study's quick
//! profile, RAG-GD's quick profile, then an index of the reports with each headline result.
//!
//! Each step is this program run again with the step's own command, so each keeps its own
//! progress bars, resume rules and errors: the boundary study resumes per sweep (a sweep whose
//! JSON is there is not run again), RAG-GD resumes every stage from its run folder. Interrupted,
//! `icor reproduce` run again continues where it stopped. Nothing is written outside `--reports`
//! (and the asset cache), so the committed `reports/` stay the reference to compare with.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Step {
    /// `icor verify --cases 2000`: every identity of the theory (seconds).
    Theory,
    /// `icor probe all --quick`: the boundary study's quick profile.
    Probe,
    /// `icor rag run --profile <rag-profile> --resume`: RAG-GD and every baseline.
    Rag,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder for every report and results file (and the run folders under it).
    #[arg(long, default_value = "target/icor-reproduce")]
    reports: PathBuf,
    /// Steps to run, in this order (the index is written after them in any case).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "theory,probe,rag"
    )]
    steps: Vec<Step>,
    /// RAG-GD profile: quick (SmolLM2-135M, both retrievers, 100 questions per set) or cpu
    /// (Qwen2.5-0.5B; many hours on a CPU).
    #[arg(long, default_value = "quick", value_parser = ["quick", "cpu"])]
    rag_profile: String,
    /// Asset cache (default: $ICOR_HOME or ~/.cache/icor); missing assets are fetched and
    /// their sha256 checked.
    #[arg(long)]
    home: Option<PathBuf>,
    /// No progress bars in the steps (their stage lines remain).
    #[arg(long)]
    quiet: bool,
}

/// Wall time of each step measured on the 2-core reference machine (AMD EPYC, 2026-12-07,
/// `runs/reproduce/2026-12-07-amd-e91a3de/run.log`); the ETA scales nothing, it states what the
/// step took there.
fn expected_seconds(step: Step, rag_profile: &str) -> f64 {
    match step {
        Step::Theory => 2.0,
        Step::Probe => 317.0,
        Step::Rag if rag_profile == "quick" => 1_749.0,
        // Not finished on the reference machine: its measured stage costs put it at days.
        Step::Rag => 48.0 * 3600.0,
    }
}

fn hms(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Runs this program with `args`; fails naming the step when it fails.
fn run_self(what: &str, args: &[String], stdout: Option<&Path>) -> Result<()> {
    let exe = std::env::current_exe().context("finding the icor program")?;
    let mut cmd = Command::new(exe);
    cmd.args(args);
    if let Some(path) = stdout {
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        cmd.stdout(Stdio::from(file));
    }
    let status = cmd
        .status()
        .with_context(|| format!("starting `icor {}`", args.join(" ")))?;
    if !status.success() {
        bail!(
            "step {what} failed ({status}): `icor {}`; fix the cause and run `icor reproduce` again to continue",
            args.join(" ")
        );
    }
    Ok(())
}

pub fn run(a: Args) -> Result<ExitCode> {
    let dir = &a.reports;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let home: Vec<String> = a
        .home
        .iter()
        .flat_map(|h| ["--home".to_string(), h.display().to_string()])
        .collect();
    let started = Instant::now();
    let mut remaining: f64 = a
        .steps
        .iter()
        .map(|&s| expected_seconds(s, &a.rag_profile))
        .sum();
    let n = a.steps.len() + 1;
    for (i, &step) in a.steps.iter().enumerate() {
        let expected = expected_seconds(step, &a.rag_profile);
        eprintln!(
            "\n[{}/{n}] {step:?}: took {} on the 2-core reference machine (less when resumed); whole job: {} elapsed, about {} left",
            i + 1,
            hms(expected),
            hms(started.elapsed().as_secs_f64()),
            hms(remaining)
        );
        let t = Instant::now();
        let s = |x: &str| x.to_string();
        match step {
            Step::Theory => {
                let md = dir.join("verify.md");
                run_self(
                    "theory",
                    &[s("verify"), s("--cases"), s("2000")],
                    Some(&dir.join("verify.txt")),
                )?;
                let table = std::fs::read_to_string(dir.join("verify.txt"))
                    .with_context(|| format!("reading {}", dir.join("verify.txt").display()))?;
                std::fs::write(
                    &md,
                    format!("# Exact identities of the linear theory\n\n`icor verify --cases 2000 --seed 0`:\n\n```text\n{table}```\n"),
                )
                .with_context(|| format!("writing {}", md.display()))?;
                std::fs::remove_file(dir.join("verify.txt")).ok();
            }
            Step::Probe => {
                let mut args = vec![
                    s("probe"),
                    s("all"),
                    s("--quick"),
                    s("--out"),
                    dir.join("probe").display().to_string(),
                ];
                args.extend(home.iter().cloned());
                run_self("probe", &args, None)?;
            }
            Step::Rag => {
                let mut args = vec![
                    s("rag"),
                    s("run"),
                    s("--profile"),
                    a.rag_profile.clone(),
                    s("--resume"),
                    s("--out"),
                    dir.join("rag-run")
                        .join(&a.rag_profile)
                        .display()
                        .to_string(),
                    s("--report-dir"),
                    dir.display().to_string(),
                ];
                if a.quiet {
                    args.push(s("--quiet"));
                }
                args.extend(home.iter().cloned());
                run_self("rag", &args, None)?;
            }
        }
        remaining -= expected;
        eprintln!(
            "[{}/{n}] {step:?} done in {}",
            i + 1,
            hms(t.elapsed().as_secs_f64())
        );
    }
    eprintln!("\n[{n}/{n}] index: headline results of every report");
    let index = icor_cli::index::render(dir)?;
    let path = dir.join("README.md");
    std::fs::write(&path, &index).with_context(|| format!("writing {}", path.display()))?;
    println!("{index}");
    eprintln!(
        "wrote {} ({} in all); compare with the committed reports/README.md",
        path.display(),
        hms(started.elapsed().as_secs_f64())
    );
    Ok(ExitCode::SUCCESS)
}
