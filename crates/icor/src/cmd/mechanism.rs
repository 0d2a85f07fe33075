//! `icor rag mechanism`: does the frozen LLM use its retrieved demonstrations like one
//! gradient step on the Q/K/V interface? Measures every context (resumable), then analyses
//! them and writes `<report-dir>/mechanism/<name>.json` and `<report-dir>/mechanism.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use icor_llm::device_by_name;
use icor_rag::mechanism::analysis::analyse;
use icor_rag::mechanism::files::{save, write_report};
use icor_rag::mechanism::study::{StudyOptions, run};
use icor_rag::mechanism::{InterfaceSpec, Settings};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Backbone (`smollm2-135m`, `qwen2.5-0.5b`, or a GGUF path).
    #[arg(long, default_value_t = Settings::default().model)]
    model: String,
    /// M, the number of contexts (even).
    #[arg(long, default_value_t = Settings::default().contexts)]
    contexts: usize,
    /// N, demonstrations per context.
    #[arg(long, default_value_t = Settings::default().demos)]
    demos: usize,
    /// K, gradient steps per update (every step k = 1…K is read).
    #[arg(long, default_value_t = Settings::default().steps)]
    steps: usize,
    /// An interface and its η grid, `all=1e-4,1e-3,1e-2` or `top2=0.01,0.1,1` (dense ΔW of
    /// Q/K/V on every layer or the top L); repeat for several. One η for all contexts is
    /// fitted among each grid. Default: all=1e-4,1e-3,1e-2, top8=1e-3,1e-2,0.1 and top2=0.01,0.1,1.
    #[arg(long = "interface")]
    interfaces: Vec<InterfaceSpec>,
    /// Retriever (`bm25` or `dense`).
    #[arg(long, default_value_t = Settings::default().retriever)]
    retriever: String,
    /// Queries from this set (`name/split`).
    #[arg(long, default_value_t = Settings::default().query_set)]
    query_set: String,
    /// Demonstrations from this set (`name/split`), drawn without replacement.
    #[arg(long, default_value_t = Settings::default().demo_pool)]
    demo_pool: String,
    /// Retrieved documents per question.
    #[arg(long, default_value_t = Settings::default().docs)]
    docs: usize,
    /// Tokens kept of each document (0: all).
    #[arg(long, default_value_t = Settings::default().doc_tokens)]
    doc_tokens: usize,
    /// Every n-th context fits η; the others are reported.
    #[arg(long, default_value_t = Settings::default().fit_every)]
    fit_every: usize,
    /// Seed of the contexts' draw and of the random controls.
    #[arg(long, default_value_t = Settings::default().seed)]
    seed: u64,
    /// W_0^ret (a LoRA on Q/K/V in PEFT's safetensors layout, e.g. the `w0-<retriever>.safetensors`
    /// that `icor rag adapter` writes): the steps then move its LoRA factors from their trained
    /// values (`all` = every layer it covers, `top<L>` its top L), and every read applies it.
    /// It is copied into the run folder and named in the settings by its sha256.
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// The study's name: its run folder and its file in the reports (default: the model's;
    /// give variants their own, e.g. `smollm2-135m--n5`).
    #[arg(long)]
    name: Option<String>,
    /// Run folder (default: runs/mechanism/<name>, committed but for its vectors/); a killed
    /// study resumes from it, on this machine or another.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where `mechanism/<name>.json` and `mechanism.md` go.
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Measure at most this many new contexts, then analyse what is measured (a part of a
    /// study; the report marks it partial until every context is in).
    #[arg(long)]
    max_new: Option<usize>,
    /// Compute device: flex (CPU) or wgpu (with the `wgpu` feature).
    #[arg(long, default_value = "flex")]
    device: String,
    /// Asset cache (default: $ICOR_HOME or ~/.cache/icor); missing assets are fetched.
    #[arg(long)]
    home: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub fn run_cmd(a: Args) -> Result<ExitCode> {
    let settings = Settings {
        model: a.model.clone(),
        retriever: a.retriever,
        query_set: a.query_set,
        demo_pool: a.demo_pool,
        contexts: a.contexts,
        demos: a.demos,
        docs: a.docs,
        doc_tokens: a.doc_tokens,
        steps: a.steps,
        interfaces: if a.interfaces.is_empty() {
            Settings::default().interfaces
        } else {
            a.interfaces
        },
        fit_every: a.fit_every,
        seed: a.seed,
        adapter: a
            .adapter
            .as_deref()
            .map(|p| {
                icor_assets::verify::hash_file(p)
                    .map(|(_, sha)| sha)
                    .with_context(|| format!("reading the adapter {}", p.display()))
            })
            .transpose()?,
    };
    settings.check()?;
    let name = a.name.unwrap_or_else(|| sanitize(&a.model));
    let out = a
        .out
        .unwrap_or_else(|| PathBuf::from("runs/mechanism").join(&name));
    let options = StudyOptions {
        settings,
        home: icor_assets::home(a.home.as_deref())?,
        out,
        device: device_by_name(&a.device)?,
        progress: !a.quiet,
        max_new: a.max_new,
        adapter_file: a.adapter,
    };
    let study = run(&options)?;
    if study.records.len() < 4 {
        eprintln!(
            "{} contexts measured: too few to analyse yet",
            study.records.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let analysis = analyse(
        &options.settings,
        &study.records,
        &options.out,
        &study.model_sha256,
        study.n_layers,
        study.vocab,
    )?;
    let json = save(&a.report_dir, &name, &analysis)?;
    let md = write_report(&a.report_dir)?;
    eprintln!(
        "wrote {} and {} ({} of {} contexts{})",
        json.display(),
        md.display(),
        study.records.len(),
        options.settings.contexts,
        if study.complete { "" } else { ", partial" }
    );
    Ok(ExitCode::SUCCESS)
}

/// A model's catalogue name as it is (`qwen2.5-0.5b`), a path by its file stem; as a file name.
fn sanitize(s: &str) -> String {
    let p = std::path::Path::new(s);
    let base = if s.contains(std::path::MAIN_SEPARATOR) || s.ends_with(".gguf") {
        p.file_stem()
            .map_or_else(|| s.to_string(), |f| f.to_string_lossy().into_owned())
    } else {
        s.to_string()
    };
    base.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_keep_the_catalogue_name_and_take_a_path_by_its_stem() {
        assert_eq!(super::sanitize("qwen2.5-0.5b"), "qwen2.5-0.5b");
        assert_eq!(super::sanitize("/models/My Model.Q4.gguf"), "My_Model.Q4");
    }
}
