//! `icor retrieve`: fill the retrieval cache of a data set, or answer one query.
//!
//! ```text
//! icor retrieve --retriever bm25 --dataset nq --k 20            # cache for nq/test
//! icor retrieve --retriever dense --query "who wrote hamlet" --k 5 --json
//! ```
//!
//! The corpus defaults to the prepared Wikipedia summaries (prepared on first use); any
//! FlashRAG corpus jsonl can be given with `--corpus`, any FlashRAG data set with
//! `--dataset-file`.

use std::path::PathBuf;
use std::process::ExitCode;

use icor_qa::data::{self, CORPUS_NAME, DatasetSpec, QaExample, ReadOptions, find_dataset};
use icor_qa::data::{corpus_path, dataset_path, read_all, write_atomic};
use icor_qa::metrics::HitRule;
use icor_qa::retrieve::progress::bar;
use icor_qa::retrieve::setup::{OpenOptions, RetrieverKind, open};
use icor_qa::retrieve::{Corpus, cache_path, recall, retrieve_all};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `bm25` (tantivy, k1 = 0.9, b = 0.4) or `dense` (all-MiniLM-L6-v2, exact inner product).
    #[arg(long, value_parser = ["bm25", "dense"])]
    retriever: String,
    /// A prepared data set: `nq`, `triviaqa`, `web_questions`, `squad`, `curatedtrec` (or `name/split`).
    #[arg(long, conflicts_with_all = ["query", "dataset_file"])]
    dataset: Option<String>,
    /// Split of --dataset [default: test, or the only split].
    #[arg(long, requires = "dataset")]
    split: Option<String>,
    /// Any FlashRAG data-set jsonl instead of a prepared one (needs --out).
    #[arg(long, conflicts_with = "query", requires = "out")]
    dataset_file: Option<PathBuf>,
    /// One query: print the hits (with --json, as JSON with contents).
    #[arg(long)]
    query: Option<String>,
    /// Passages per question.
    #[arg(long, default_value_t = 20)]
    k: usize,
    /// Only the first N questions.
    #[arg(long)]
    limit: Option<usize>,
    /// Corpus jsonl [default: the prepared wiki-summaries corpus].
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Dense model folder (a BERT sentence encoder with mean pooling: `config.json`,
    /// `model.safetensors`, `tokenizer.json`) [default: the shipped all-MiniLM-L6-v2].
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Where to write the cache [default: in the asset cache, by retriever/corpus/data set].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Skip malformed corpus / data-set lines (and say how many).
    #[arg(long)]
    skip_bad_lines: bool,
    /// JSON output.
    #[arg(long)]
    json: bool,
    /// Cache folder [default: $ICOR_HOME, else the platform cache folder + /icor].
    #[arg(long, value_name = "DIR")]
    home: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let home = icor_assets::home(args.home.as_deref())?;
    let kind: RetrieverKind = args.retriever.parse()?;
    let read = ReadOptions {
        skip_bad_lines: args.skip_bad_lines,
    };
    let corpus_file = match &args.corpus {
        Some(path) => path.clone(),
        None => {
            if data::ensure_prepared(&home, |f| {
                if !args.quiet {
                    eprintln!("prepared {} ({} rows)", f.key, f.rows)
                }
            })? {
                eprintln!(
                    "data prepared under {}",
                    data::prepared_root(&home).display()
                );
            }
            corpus_path(&home)
        }
    };
    let size = std::fs::metadata(&corpus_file)
        .map(|m| m.len())
        .unwrap_or(0);
    let scan = bar("corpus scan", size, "bytes", !args.quiet);
    let corpus = Corpus::open(&corpus_file, args.skip_bad_lines, |b| scan.set_position(b))?;
    scan.finish_and_clear();
    if corpus.skipped() > 0 {
        eprintln!(
            "{}: skipped {} malformed lines",
            corpus_file.display(),
            corpus.skipped()
        );
    }
    let options = OpenOptions {
        model_dir: args.model.clone(),
        read,
        progress: !args.quiet,
        ..OpenOptions::new(&home)
    };
    let retriever = open(kind, &corpus_file, corpus.len(), &options)?;

    if let Some(query) = &args.query {
        let hits = retriever.search(query, args.k)?;
        let rows = hits
            .iter()
            .enumerate()
            .map(|(rank, hit)| {
                let passage = corpus.get(hit.row as usize)?;
                Ok(serde_json::json!({"rank": rank + 1, "id": passage.id, "score": hit.score, "contents": passage.contents}))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if args.json {
            let out = serde_json::json!({"retriever": kind.name(), "query": query, "k": args.k, "hits": rows});
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            for row in &rows {
                let contents = row["contents"].as_str().unwrap_or("");
                let first: String = contents.chars().take(100).collect();
                println!(
                    "{:>2}. [{}] {:.4}  {}",
                    row["rank"],
                    row["id"].as_str().unwrap_or(""),
                    row["score"].as_f64().unwrap_or(0.0),
                    first.replace('\n', " ")
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }

    let (spec, questions_file): (Option<&DatasetSpec>, PathBuf) =
        match (&args.dataset, &args.dataset_file) {
            (Some(name), _) => {
                let spec = find_dataset(name, args.split.as_deref())?;
                (Some(spec), dataset_path(&home, spec))
            }
            (None, Some(file)) => (None, file.clone()),
            (None, None) => anyhow::bail!("name --dataset, --dataset-file or --query"),
        };
    let (mut questions, skipped) = read_all::<QaExample>(&questions_file, read)?;
    if skipped > 0 {
        eprintln!(
            "{}: skipped {skipped} malformed lines",
            questions_file.display()
        );
    }
    if let Some(limit) = args.limit {
        questions.truncate(limit);
    }
    let (rows, stats) = retrieve_all(retriever.as_ref(), &corpus, &questions, args.k, !args.quiet)?;
    let corpus_name = if args.corpus.is_some() {
        corpus_file
            .file_stem()
            .map_or_else(|| "corpus".into(), |s| s.to_string_lossy().into_owned())
    } else {
        CORPUS_NAME.to_owned()
    };
    let out = match (&args.out, spec) {
        (Some(out), _) => out.clone(),
        (None, Some(spec)) => cache_path(&home, kind.name(), &corpus_name, spec),
        (None, None) => anyhow::bail!("--dataset-file needs --out"),
    };
    write_atomic(&out, &rows)?;
    let regex = spec.is_some_and(|s| s.regex_answers);
    let ks: Vec<usize> = [1, 5, 20, args.k]
        .into_iter()
        .filter(|&k| k <= args.k)
        .collect();
    let flashrag = recall(&corpus, &questions, &rows, &ks, regex, HitRule::FlashRag)?;
    let dpr = recall(&corpus, &questions, &rows, &ks, regex, HitRule::Dpr)?;
    let as_map = |r: &icor_qa::metrics::RecallAtK| -> serde_json::Map<String, serde_json::Value> {
        r.ks.iter()
            .zip(r.values())
            .map(|(k, v)| (format!("@{k}"), serde_json::json!(v)))
            .collect()
    };
    let summary = serde_json::json!({
        "retriever": kind.name(), "dataset": spec.map(|s| s.key()), "questions": stats.questions,
        "k": args.k, "seconds": stats.seconds, "queries_per_second": stats.queries_per_second,
        "recall": as_map(&flashrag),
        "recall_dpr": as_map(&dpr),
        "cache": out,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{} questions, top-{} by {} in {:.1} s ({:.1} q/s) → {}",
            stats.questions,
            args.k,
            kind.name(),
            stats.seconds,
            stats.queries_per_second,
            out.display()
        );
        println!("           FlashRAG   DPR has_answer");
        for ((k, a), b) in flashrag.ks.iter().zip(flashrag.values()).zip(dpr.values()) {
            println!("recall@{k:<3} {a:>8.3}   {b:>8.3}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
