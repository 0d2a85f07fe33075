//! `icor rag interface`: the interface study for `W_0^ret` (issue 23, item 1). Stage 1 of a
//! profile (which must stop early on a dev pool) once per interface — LoRA on Q/K/V of the top
//! L layers at rank r — each in its own run folder under the study folder, so every interface
//! resumes on its own; then the report `reports/rag-interface-<profile>.md` from the results of
//! every interface (`reports/rag/interface/<profile>/L<l>-r<r>.json`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use icor_llm::device_by_name;
use icor_rag::Profile;
use icor_rag::analysis::interface::{load_variants, render};
use icor_rag::experiment::run::{RunOptions, Stage, load_results, run, save_results};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The profile whose stage 1 is varied: a built-in name or a profile file (`*.toml`) with
    /// `[adapter.early_stop]`, e.g. crates/icor-rag/profiles/interface.toml. Only its first
    /// retriever is used.
    #[arg(long)]
    profile: String,
    /// Top layers that carry the interface, one run each (0: every layer).
    #[arg(long, value_delimiter = ',', default_value = "2,8,16,0")]
    layers: Vec<usize>,
    /// LoRA ranks, one run each per layer count (α = r × the profile's α / rank).
    #[arg(long, value_delimiter = ',', default_value = "16")]
    ranks: Vec<usize>,
    /// Study folder: one run folder per interface under it (default:
    /// target/icor-rag/interface-<profile>). Finished interfaces are resumed, not rerun.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where the results and the report go: <dir>/rag/interface/<profile>/ and
    /// <dir>/rag-interface-<profile>.md.
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Compute device: flex (CPU) or wgpu (with the `wgpu` feature).
    #[arg(long, default_value = "flex")]
    device: String,
    /// Asset cache (default: $ICOR_HOME or ~/.cache/icor); missing assets are fetched.
    #[arg(long)]
    home: Option<PathBuf>,
    /// Dev questions decoded as one batch (speed only).
    #[arg(long, default_value_t = 8)]
    eval_batch: usize,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

pub fn run_cmd(a: Args) -> Result<ExitCode> {
    let base = Profile::named(&a.profile)?;
    if base.adapter.early_stop.is_none() {
        bail!(
            "profile {} has no [adapter.early_stop]: the study trains each interface until its \
             dev loss stops improving",
            a.profile
        );
    }
    if let Some(r) = a.ranks.iter().find(|&&r| r == 0) {
        bail!("rank {r}: a LoRA rank is at least 1");
    }
    let study = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("target/icor-rag/interface-{}", base.name)));
    let results_dir = a.report_dir.join("rag/interface").join(&base.name);
    let home = icor_assets::home(a.home.as_deref())?;
    let device = device_by_name(&a.device)?;
    let mut studied = 0;
    for &rank in &a.ranks {
        for &layers in &a.layers {
            let name = format!("L{layers}-r{rank}");
            eprintln!("== interface {name}");
            let profile = variant_profile(&base, layers, rank);
            let json = results_dir.join(format!("{name}.json"));
            if finished(&json, &profile) {
                eprintln!("   finished earlier: {}", json.display());
                studied += 1;
                continue;
            }
            let out = study.join(&name);
            share_retrieval(&study, &out, &profile.retrievers[0])?;
            let options = RunOptions {
                profile,
                out: out.clone(),
                home: home.clone(),
                device: device.clone(),
                backend: a.device.clone(),
                progress: !a.quiet,
                until: Stage::Adapter,
                partial: None,
                methods: Some(vec!["base-adapter".into()]),
                eval_batch: a.eval_batch.max(1),
                profile_sets: None,
            };
            let results = run(&options)?;
            share_retrieval(&out, &study, &options.profile.retrievers[0])?;
            save_results(&json, &results)?;
            studied += 1;
            // after every interface, so the report always reads the results committed so far
            write_report(&a.report_dir, &base.name, &results_dir)?;
        }
    }
    if studied == 0 {
        bail!("no interface to study: --layers and --ranks name none");
    }
    write_report(&a.report_dir, &base.name, &results_dir)?;
    eprintln!("wrote {} and its report", results_dir.display());
    Ok(ExitCode::SUCCESS)
}

/// `<report_dir>/rag-interface-<profile>.md` from every interface finished so far in the
/// results folder, this call's and earlier calls' (so a study can add ranks or layer counts
/// one call at a time).
fn write_report(report_dir: &Path, profile: &str, results_dir: &Path) -> Result<()> {
    let md = report_dir.join(format!("rag-interface-{profile}.md"));
    let variants = load_variants(results_dir)?;
    std::fs::write(&md, render(profile, &variants)?)
        .with_context(|| format!("writing {}", md.display()))
}

/// Whether a study already finished this interface with these very settings, its dev prompts
/// with their documents (its results are committed with the report, so a study resumes on a
/// machine without its run folders).
fn finished(json: &Path, profile: &Profile) -> bool {
    load_results(json).is_ok_and(|r| {
        r.profile == *profile
            && !r.adapters.is_empty()
            && r.adapters
                .iter()
                .all(|a| a.dev_answers.is_some() && a.dev_with_docs)
    })
}

/// The profile with the interface on the top `layers` layers at `rank`, the first retriever
/// only, named after both (its artefacts' stamps carry every setting).
fn variant_profile(base: &Profile, layers: usize, rank: usize) -> Profile {
    let mut p = base.clone();
    p.interface_layers = layers;
    p.adapter.alpha = base.adapter.alpha * rank as f32 / base.adapter.rank as f32;
    p.adapter.rank = rank;
    p.retrievers.truncate(1);
    p.name = format!("{}--interface-L{layers}-r{rank}", base.name);
    p
}

/// Copies the retrieval cache of `retriever` from run folder `from` to `to` where `to` has
/// none (the cache's stamp does not depend on the interface, so every run of the study
/// shares the first one's retrieval).
fn share_retrieval(from: &Path, to: &Path, retriever: &str) -> Result<()> {
    let (src, dst) = (
        from.join("retrieval").join(format!("{retriever}.json")),
        to.join("retrieval").join(format!("{retriever}.json")),
    );
    if !src.exists() || dst.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(to.join("retrieval"))
        .with_context(|| format!("creating {}", to.display()))?;
    let tmp = dst.with_extension("json.tmp");
    std::fs::copy(&src, &tmp).with_context(|| format!("copying {}", src.display()))?;
    std::fs::rename(&tmp, &dst).with_context(|| format!("writing {}", dst.display()))?;
    Ok(())
}
