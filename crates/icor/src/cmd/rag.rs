//! `icor rag …`: RAG-GD on the frozen LLM — train `W_0^ret`, compute the gradient-step
//! targets, meta-train `g_φ`, evaluate every method, and write the results and report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use icor_llm::device_by_name;
use icor_rag::Profile;
use icor_rag::analysis::report::render;
use icor_rag::experiment::run::{
    RunOptions, Stage, load_results, method_labels, run, save_results,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Every stage: retrieval, W_0^ret, targets, g_φ, evaluation; then the results JSON and
    /// the generated report.
    Run(RunArgs),
    /// Stage 1 only (runs nothing after it): train the base retrieval adapter W_0^ret.
    Adapter(RunArgs),
    /// Stages 1–2: the adapter, then the K-step gradient targets ΔW_GD^(K)(C).
    Targets(RunArgs),
    /// Stages 1–3: … then the bases and the predictor g_φ (matching loss, Eq. 9).
    Predictor(RunArgs),
    /// Stages 1–4 (the same as `run`).
    Eval(RunArgs),
    /// Render the report of a results JSON (what `cargo xtask rag-report` does).
    Report {
        /// A results file written by `icor rag run`.
        results: PathBuf,
        /// Where to write the Markdown (default: print it).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Merge results files of one profile run over disjoint retrievers (`run --retrievers …`)
    /// or disjoint methods (`run --methods …`) into the profile's results JSON and report;
    /// refused unless the parts share settings, model file, backend, threads and code
    /// version, hold the same questions, and each method's settings are the profile's.
    Merge {
        /// Results files written by `icor rag run --retrievers …` or `--methods …`.
        #[arg(required = true, num_args = 2..)]
        parts: Vec<PathBuf>,
        /// Where the merged results and report go: <dir>/rag/<profile>.json and
        /// <dir>/rag-<profile>.md.
        #[arg(long, default_value = "reports")]
        report_dir: PathBuf,
    },
    /// Does the frozen LLM use its retrieved demonstrations like one gradient step on the
    /// Q/K/V interface? In-context effect vs the step, against random, shuffled-answer,
    /// other-context and reordering controls (resumable; writes reports/mechanism.md).
    Mechanism(crate::cmd::mechanism::Args),
    /// The interface study for W_0^ret: stage 1 on the top 2, 8, 16 and all layers (and the
    /// ranks asked for), each until its dev loss stops improving; learning curves, dev EM,
    /// cost per step and the interface a profile should take (resumable; writes
    /// reports/rag-interface-<profile>.md).
    Interface(crate::cmd::interface::Args),
    /// List a profile's settings and methods.
    Show {
        /// A built-in profile (smoke, quick, decided, cpu, paper) or the path of a profile file (`*.toml`).
        #[arg(long, default_value = "quick")]
        profile: String,
    },
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// smoke: CI, a few questions end to end; quick: SmolLM2-135M, every method, both
    /// retrievers, 100 questions per set; decided: SmolLM2-135M on the interface study's
    /// choice, 258 meta-training contexts, 500 questions per set (parts over several
    /// sessions); cpu: Qwen2.5-0.5B, hours; paper: the paper's
    /// settings (for a GPU). Or the path of a profile file (`*.toml`: a copy of one of
    /// crates/icor-rag/profiles/, edited), which names the run.
    #[arg(long, default_value = "quick")]
    profile: String,
    /// Run folder for checkpoints and per-stage artefacts (default: target/icor-rag/<profile>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in the run folder (artefacts whose stamp matches are reused; stale
    /// ones are rebuilt). Without it a run folder that holds artefacts is refused.
    #[arg(long, conflicts_with = "fresh")]
    resume: bool,
    /// Delete the run folder's artefacts first.
    #[arg(long)]
    fresh: bool,
    /// Where the results JSON and report go: <dir>/rag/<profile>.json and <dir>/rag-<profile>.md.
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Compute device: flex (CPU) or wgpu (with the `wgpu` feature).
    #[arg(long, default_value = "flex")]
    device: String,
    /// Asset cache (default: $ICOR_HOME or ~/.cache/icor); missing assets are fetched.
    #[arg(long)]
    home: Option<PathBuf>,
    /// Override the profile's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the number of top layers that carry the interface (0 = every layer): the
    /// all-layers vs top-L ablation. Every stage's artefacts are stamped with it, and the
    /// results differ from the profile's in this setting, so `merge` keeps them apart.
    #[arg(long)]
    interface_layers: Option<usize>,
    /// Evaluate only these of the profile's sets (comma-separated `name/split`); the results
    /// are marked partial. Artefacts stay those of the whole profile, so a later run without
    /// the filter resumes them.
    #[arg(long, value_delimiter = ',')]
    sets: Vec<String>,
    /// Run only these of the profile's retrievers (comma-separated); results marked partial.
    #[arg(long, value_delimiter = ',')]
    retrievers: Vec<String>,
    /// Run only these methods (comma-separated ids, as `icor rag show` lists them); stages
    /// none of them reads are skipped and the results are marked partial. `icor rag merge`
    /// joins such a part to a run of the other methods.
    #[arg(long, value_delimiter = ',')]
    methods: Vec<String>,
    /// Questions of one set decoded as one batch in the evaluation (their RAG prompts
    /// left-padded together, every method's rows of every question in one batch); the answers
    /// do not depend on it, only the speed and the memory.
    #[arg(long, default_value_t = 8)]
    eval_batch: usize,
    /// Print a JSON summary (stage times, average EM per method) on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

pub fn run_cmd(args: Args) -> Result<ExitCode> {
    match args.command {
        Sub::Run(a) | Sub::Eval(a) => stages(a, Stage::Eval),
        Sub::Adapter(a) => stages(a, Stage::Adapter),
        Sub::Mechanism(a) => crate::cmd::mechanism::run_cmd(a),
        Sub::Interface(a) => crate::cmd::interface::run_cmd(a),
        Sub::Targets(a) => stages(a, Stage::Targets),
        Sub::Predictor(a) => stages(a, Stage::Predictor),
        Sub::Report { results, out } => {
            let r = load_results(&results)?;
            let md = render(&r);
            match out {
                Some(p) => {
                    std::fs::write(&p, md).with_context(|| format!("writing {}", p.display()))?
                }
                None => print!("{md}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Sub::Merge { parts, report_dir } => {
            let loaded = parts
                .iter()
                // load_results' errors name the file.
                .map(|p| load_results(p))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let whole = Profile::named(&loaded[0].profile.name)?;
            let merged = icor_rag::analysis::merge::merge(&whole, loaded)?;
            let json = report_dir.join("rag").join(format!("{}.json", whole.name));
            let md = report_dir.join(format!("rag-{}.md", whole.name));
            save_results(&json, &merged)?;
            std::fs::write(&md, render(&merged))
                .with_context(|| format!("writing {}", md.display()))?;
            eprintln!(
                "wrote {} and {} ({})",
                json.display(),
                md.display(),
                if merged.complete {
                    "complete"
                } else {
                    "partial: retrievers, sets or methods missing"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Sub::Show { profile } => {
            let p = Profile::named(&profile)?;
            println!("{}", serde_json::to_string_pretty(&p)?);
            println!("methods:");
            for m in method_labels(&p) {
                println!("  {m}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn stages(a: RunArgs, until: Stage) -> Result<ExitCode> {
    let mut profile = Profile::named(&a.profile)?;
    if let Some(s) = a.seed {
        profile.seed = s;
    }
    if let Some(l) = a.interface_layers {
        profile.interface_layers = l;
    }
    let filtered = !a.sets.is_empty() || !a.retrievers.is_empty() || !a.methods.is_empty();
    let profile_sets = (!a.sets.is_empty()).then(|| profile.eval_sets.clone());
    // Before any model is loaded: an unknown method id is an error that lists the known ones.
    icor_rag::experiment::run::selected_methods(
        &profile,
        (!a.methods.is_empty()).then_some(&a.methods[..]),
    )?;
    for (wanted, all, what) in [
        (&a.sets, &mut profile.eval_sets, "set"),
        (&a.retrievers, &mut profile.retrievers, "retriever"),
    ] {
        if wanted.is_empty() {
            continue;
        }
        if let Some(bad) = wanted.iter().find(|w| !all.contains(w)) {
            bail!(
                "{what} `{bad}` is not in profile {} (it has: {})",
                a.profile,
                all.join(", ")
            );
        }
        all.retain(|x| wanted.contains(x));
    }
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/icor-rag").join(&profile.name));
    let has_artefacts = std::fs::read_dir(&out)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if has_artefacts && a.fresh {
        std::fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
    } else if has_artefacts && !a.resume {
        bail!(
            "run folder {} holds artefacts of an earlier run: pass --resume to continue it or --fresh to start over",
            out.display()
        );
    }
    let json = a
        .report_dir
        .join("rag")
        .join(format!("{}.json", profile.name));
    let md = a.report_dir.join(format!("rag-{}.md", profile.name));
    let home = icor_assets::home(a.home.as_deref())?;
    let device = device_by_name(&a.device)?;
    let options = RunOptions {
        profile,
        out,
        home,
        device,
        backend: a.device.clone(),
        progress: !a.quiet,
        until,
        partial: (until == Stage::Eval).then(|| (json.clone(), md.clone())),
        methods: (!a.methods.is_empty()).then(|| a.methods.clone()),
        eval_batch: a.eval_batch.max(1),
        profile_sets,
    };
    let mut results = run(&options)?;
    results.complete &= !filtered;
    if until == Stage::Eval {
        save_results(&json, &results)?;
        std::fs::write(&md, render(&results))
            .with_context(|| format!("writing {}", md.display()))?;
        eprintln!("wrote {} and {}", json.display(), md.display());
    }
    if a.json {
        let summary = serde_json::json!({
            "profile": options.profile.name,
            "total_seconds": results.total_seconds,
            "stages": results.stages,
            "sets": results.sets.iter().map(|s| serde_json::json!({
                "retriever": s.retriever, "set": s.set, "questions": s.questions.len(),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(ExitCode::SUCCESS)
}
