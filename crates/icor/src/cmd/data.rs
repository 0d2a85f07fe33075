//! `icor data prepare|show`: the shipped QA sets and Wikipedia corpus as FlashRAG jsonl in the
//! asset cache (row counts checked), and a look at any FlashRAG jsonl file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use icor_qa::data::{
    self, DATASETS, JsonlReader, Passage, QaExample, ReadOptions, corpus_path, dataset_path,
    find_dataset,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// Cache folder [default: $ICOR_HOME, else the platform cache folder + /icor].
    #[arg(long, value_name = "DIR", global = true)]
    home: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Convert the shipped topic files and Wikipedia summaries into FlashRAG jsonl (fetching the
    /// assets first when needed); every row count is checked.
    Prepare,
    /// List the prepared data sets (name, split, rows, role, path).
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Read a FlashRAG data set or corpus jsonl (a prepared one by name, or any file) and report
    /// its rows; malformed lines fail with file:line unless skipped.
    Check {
        /// A prepared data set (`nq`, `nq/dev`, …) or `corpus`.
        #[arg(long, conflicts_with = "file")]
        dataset: Option<String>,
        /// Any FlashRAG jsonl file.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The file is a corpus (`{id, contents}`) rather than a data set.
        #[arg(long, requires = "file")]
        corpus: bool,
        /// Skip malformed lines and report how many.
        #[arg(long)]
        skip_bad_lines: bool,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let home = icor_assets::home(args.home.as_deref())?;
    match args.command {
        Command::Prepare => {
            let started = Instant::now();
            let bar = icor_qa::retrieve::progress::bar(
                "data prepare",
                DATASETS.len() as u64 + 1,
                "files",
                !args.quiet,
            );
            let files = data::prepare_from_assets(&home, |file| {
                let line = format!(
                    "{:<22} {:>6} rows  {}",
                    file.key,
                    file.rows,
                    file.path.display()
                );
                bar.suspend(|| println!("{line}"));
                bar.inc(1);
            })?;
            bar.finish_and_clear();
            println!(
                "prepared {} files in {:.1} s (row counts as catalogued)",
                files.len(),
                started.elapsed().as_secs_f64()
            );
        }
        Command::List { json } => {
            let rows: Vec<serde_json::Value> = DATASETS
                .iter()
                .map(|spec| {
                    let path = dataset_path(&home, spec);
                    serde_json::json!({
                        "dataset": spec.key(), "rows": spec.rows, "role": spec.role,
                        "regex_answers": spec.regex_answers, "path": path, "prepared": path.is_file(),
                    })
                })
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for (spec, row) in DATASETS.iter().zip(&rows) {
                    println!(
                        "{:<22} {:>6} rows  {:<14} {}",
                        spec.key(),
                        spec.rows,
                        row["role"].as_str().unwrap_or(""),
                        if row["prepared"] == true {
                            "prepared"
                        } else {
                            "not prepared (icor data prepare)"
                        }
                    );
                }
                println!(
                    "{:<22} {:>6} rows  {:<14} {}",
                    "corpus/wiki-summaries",
                    data::CORPUS_ROWS,
                    "corpus",
                    corpus_path(&home).display()
                );
            }
        }
        Command::Check {
            dataset,
            file,
            corpus,
            skip_bad_lines,
        } => {
            let options = ReadOptions { skip_bad_lines };
            let (path, is_corpus) = match (dataset.as_deref(), file) {
                (Some("corpus"), _) => (corpus_path(&home), true),
                (Some(name), _) => (dataset_path(&home, find_dataset(name, None)?), false),
                (None, Some(file)) => (file, corpus),
                (None, None) => anyhow::bail!("name --dataset or --file"),
            };
            let (rows, skipped) = if is_corpus {
                let mut reader = JsonlReader::<Passage>::open(&path, options)?;
                let rows = reader
                    .by_ref()
                    .try_fold(0usize, |n, row| row.map(|_| n + 1))?;
                (rows, reader.skipped())
            } else {
                let mut reader = JsonlReader::<QaExample>::open(&path, options)?;
                let rows = reader
                    .by_ref()
                    .try_fold(0usize, |n, row| row.map(|_| n + 1))?;
                (rows, reader.skipped())
            };
            println!("{}: {rows} rows", path.display());
            if skip_bad_lines {
                println!("skipped {skipped} malformed lines");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
