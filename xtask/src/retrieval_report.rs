//! `cargo xtask retrieval-report`: `reports/retrieval.md` (and the numbers in
//! `reports/retrieval.json`) — recall@{1, 5, 20} of BM25 and dense retrieval on the first 1000
//! NQ and TriviaQA test questions over the shipped corpus, BM25 index build time, queries/s,
//! and dense passage-encoding speed against sentence-transformers on the same CPU in the same
//! run.
//!
//! Options: `--limit N` questions per set (1000), `--st-python PATH` (default
//! `~/.cache/icor/pyref-retrieval/bin/python`, see `scripts/retrieval_parity_fixture.py`),
//! `--encode-sample N` passages encoded by both burn and sentence-transformers for the speed
//! comparison (1000; retrieval itself uses the cached embeddings of the whole corpus),
//! `--skip-st`; `--render-only` rewrites the markdown from the committed JSON without measuring.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use icor_qa::data::{
    self, QaExample, ReadOptions, corpus_path, dataset_path, find_dataset, read_all,
};
use icor_qa::metrics::HitRule;
use icor_qa::retrieve::bm25::{Bm25Index, Bm25Params, Bm25Retriever};
use icor_qa::retrieve::dense::PASSAGE_MAX_TOKENS;
use icor_qa::retrieve::setup::{OpenOptions, open_dense};
use icor_qa::retrieve::{Corpus, CorpusStamp, Retriever, recall, retrieve_all};
use serde_json::{Value, json};

const KS: [usize; 3] = [1, 5, 20];
const SETS: [&str; 2] = ["nq/test", "triviaqa/test"];

struct Options {
    limit: usize,
    st_python: PathBuf,
    encode_sample: usize,
    rounds: usize,
    skip_st: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let mut options = Options {
        limit: 1000,
        st_python: home.join(".cache/icor/pyref-retrieval/bin/python"),
        encode_sample: 1000,
        rounds: 2,
        skip_st: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--limit" => options.limit = value()?.parse()?,
            "--st-python" => options.st_python = PathBuf::from(value()?),
            "--encode-sample" => options.encode_sample = value()?.parse()?,
            "--rounds" => options.rounds = value()?.parse()?,
            "--skip-st" => options.skip_st = true,
            other => bail!(
                "unknown option {other} (--limit N, --st-python PATH, --encode-sample N, --rounds N, --skip-st)"
            ),
        }
    }
    Ok(options)
}

fn evaluate(
    retriever: &dyn Retriever,
    corpus: &Corpus,
    sets: &[(String, Vec<QaExample>)],
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (key, questions) in sets {
        let (rows, stats) = retrieve_all(retriever, corpus, questions, 20, true)?;
        let r = recall(corpus, questions, &rows, &KS, false, HitRule::FlashRag)?;
        let dpr = recall(corpus, questions, &rows, &KS, false, HitRule::Dpr)?;
        eprintln!(
            "{} {key}: recall {:?}, {:.1} q/s",
            retriever.name(),
            r.values(),
            stats.queries_per_second
        );
        out.push(json!({
            "dataset": key, "questions": stats.questions, "recall": r.values(), "recall_dpr": dpr.values(),
            "seconds": stats.seconds, "queries_per_second": stats.queries_per_second,
        }));
    }
    Ok(out)
}

/// Runs everything and returns the numbers.
fn measure(root: &Path, options: &Options) -> Result<Value> {
    let load_before = crate::machine::load_average();
    let home = icor_assets::home(None)?;
    data::ensure_prepared(&home, |f| eprintln!("prepared {} ({} rows)", f.key, f.rows))?;
    let corpus_file = corpus_path(&home);
    let corpus = Corpus::open(&corpus_file, false, |_| {})?;
    let mut sets = Vec::new();
    for key in SETS {
        let spec = find_dataset(key, None)?;
        let (mut questions, _) =
            read_all::<QaExample>(&dataset_path(&home, spec), ReadOptions::default())?;
        questions.truncate(options.limit);
        sets.push((key.to_owned(), questions));
    }
    let scratch = tempfile::tempdir()?;

    // BM25: a fresh index, timed.
    let progress =
        icor_qa::retrieve::progress::bar("bm25 index", corpus.len() as u64, "passages", true);
    let index = Bm25Index::build(
        &scratch.path().join("bm25"),
        &corpus_file,
        CorpusStamp::of(&corpus_file)?,
        ReadOptions::default(),
        |n| progress.set_position(n),
    )?;
    progress.finish_and_clear();
    let bm25_build = index.stats.build_seconds;
    let bm25 = Bm25Retriever::new(index, Bm25Params::default());
    let bm25_results = evaluate(&bm25, &corpus, &sets)?;

    // Dense: retrieval over the cached passage embeddings (built on first use), and the
    // encoding speed timed on the first `encode_sample` passages, fresh, right here.
    let device = Device::flex();
    let open = OpenOptions {
        progress: true,
        ..OpenOptions::new(&home)
    };
    let dense = open_dense(&corpus_file, corpus.len(), &open, &device)?;
    let sample = options.encode_sample.min(corpus.len());
    let texts = (0..sample)
        .map(|row| corpus.get(row).map(|p| p.contents))
        .collect::<icor_qa::Result<Vec<String>>>()?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let encoder = dense.encoder();
    let model_dir = encoder.dir().to_path_buf();
    // Alternate burn and sentence-transformers `rounds` times on the same passages and keep each
    // side's best round: other jobs on the machine come and go, alternation exposes both sides
    // to the same conditions.
    let st_bench = || -> Result<Value> {
        let started = Instant::now();
        let output = Command::new(&options.st_python)
            .arg(root.join("scripts/retrieval_st_bench.py"))
            .args(["--model", &model_dir.to_string_lossy()])
            .args(["--corpus", &corpus_file.to_string_lossy()])
            .args(["--limit", &sample.to_string()])
            .args(["--batch", &open.encode_batch.to_string()])
            .args(["--max-tokens", &PASSAGE_MAX_TOKENS.to_string()])
            .output()
            .with_context(|| {
                format!(
                    "running {} (see scripts/retrieval_parity_fixture.py for the venv)",
                    options.st_python.display()
                )
            })?;
        if !output.status.success() {
            bail!(
                "sentence-transformers bench failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let line = String::from_utf8_lossy(&output.stdout);
        let value: Value = serde_json::from_str(line.lines().last().unwrap_or(""))
            .with_context(|| format!("bench output {line:?}"))?;
        eprintln!(
            "sentence-transformers: {value} ({:.0} s wall)",
            started.elapsed().as_secs_f64()
        );
        Ok(value)
    };
    let mut burn_rounds = Vec::new();
    let mut st_rounds: Vec<Value> = Vec::new();
    for round in 0..options.rounds.max(1) {
        let progress =
            icor_qa::retrieve::progress::bar("dense encode", sample as u64, "passages", true);
        let started = Instant::now();
        encoder.encode(&refs, PASSAGE_MAX_TOKENS, open.encode_batch, |n| {
            progress.set_position(n as u64)
        })?;
        let seconds = started.elapsed().as_secs_f64();
        progress.finish_and_clear();
        eprintln!(
            "round {round}: burn encoder, {sample} passages in {seconds:.1} s ({:.1}/s)",
            sample as f64 / seconds
        );
        burn_rounds.push(seconds);
        if !options.skip_st {
            st_rounds.push(st_bench()?);
        }
    }
    let encode_seconds = burn_rounds.iter().copied().fold(f64::INFINITY, f64::min);
    let rust_pps = sample as f64 / encode_seconds;
    let st = st_rounds
        .iter()
        .max_by(|a, b| {
            let rate = |v: &Value| v["passages_per_second"].as_f64().unwrap_or(0.0);
            rate(a).total_cmp(&rate(b))
        })
        .cloned()
        .unwrap_or(Value::Null);
    let dense_results = evaluate(&dense, &corpus, &sets)?;

    Ok(json!({
        "cpu": crate::machine::cpu_name(),
        "load_before": load_before,
        "load_after": crate::machine::load_average(),
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "corpus": {"name": data::CORPUS_NAME, "passages": corpus.len()},
        "limit": options.limit,
        "ks": KS,
        "bm25": {"k1": Bm25Params::default().k1, "b": Bm25Params::default().b, "build_seconds": bm25_build, "results": bm25_results},
        "dense": {
            "model": "all-MiniLM-L6-v2 (burn, flex CPU backend)",
            "max_tokens": PASSAGE_MAX_TOKENS,
            "batch": open.encode_batch,
            "encode_passages": sample,
            "encode_rounds_seconds": burn_rounds,
            "encode_seconds": encode_seconds,
            "encode_passages_per_second": rust_pps,
            "results": dense_results,
        },
        "sentence_transformers": st,
        "sentence_transformers_rounds": st_rounds,
        "rounds": options.rounds,
    }))
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "–".into(), |x| format!("{:.1}", 100.0 * x))
}

fn num(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "–".into(), |x| format!("{x:.digits$}"))
}

/// The markdown report of `m`.
fn render(m: &Value) -> String {
    let mut out = String::new();
    out.push_str("# Retrieval on the shipped corpus\n\n");
    out.push_str("Generated by `cargo xtask retrieval-report` from `reports/retrieval.json` (numbers measured in one run).\n");
    out.push_str(&format!(
        "Corpus: {} Wikipedia lead sections (`{}`, FlashRAG jsonl). Questions: the first {} of each test set. \
         Recall@k (%) = share of questions with a golden answer in a top-k passage: FlashRAG's rule \
         (normalised answer is a substring of the normalised passage) and, in brackets, DPR's \
         `has_answer` (whole tokens; stricter).\n\n",
        m["corpus"]["passages"], m["corpus"]["name"].as_str().unwrap_or(""), m["limit"]
    ));
    out.push_str("| retriever | data set | recall@1 | recall@5 | recall@20 | queries/s |\n|---|---|---|---|---|---|\n");
    for (name, key) in [
        ("BM25 (k1 0.9, b 0.4)", "bm25"),
        ("dense MiniLM-L6-v2", "dense"),
    ] {
        for r in m[key]["results"].as_array().into_iter().flatten() {
            let cell =
                |i: usize| format!("{} ({})", pct(&r["recall"][i]), pct(&r["recall_dpr"][i]));
            out.push_str(&format!(
                "| {name} | {} | {} | {} | {} | {} |\n",
                r["dataset"].as_str().unwrap_or(""),
                cell(0),
                cell(1),
                cell(2),
                num(&r["queries_per_second"], 1)
            ));
        }
    }
    out.push_str("\n## Speed\n\n");
    out.push_str(&format!(
        "Machine: {} ({} threads); load average {} before and {} after the run (other jobs share \
         these cores: compare the burn / sentence-transformers ratio, measured back to back, rather \
         than absolute speeds).\n\n",
        m["cpu"].as_str().unwrap_or(""),
        m["threads"],
        m["load_before"].as_str().unwrap_or("?"),
        m["load_after"].as_str().unwrap_or("?")
    ));
    out.push_str("| what | value |\n|---|---|\n");
    out.push_str(&format!(
        "| BM25 index build (tantivy, 1 indexing thread) | {} s |\n",
        num(&m["bm25"]["build_seconds"], 2)
    ));
    out.push_str(&format!(
        "| dense passage encoding, burn (flex CPU, one batch per core, batch {}, ≤ {} tokens; best of {} rounds) | {} passages/s ({} passages in {} s) |\n",
        m["dense"]["batch"], m["dense"]["max_tokens"], m["rounds"], num(&m["dense"]["encode_passages_per_second"], 1),
        m["dense"]["encode_passages"], num(&m["dense"]["encode_seconds"], 1)
    ));
    let st = &m["sentence_transformers"];
    if st.is_null() {
        out.push_str("| sentence-transformers | not measured (`--skip-st`) |\n");
    } else {
        out.push_str(&format!(
            "| dense passage encoding, {} ({} threads, same passages, batch and budget; best of the rounds alternated with burn's) | {} passages/s ({} passages in {} s) |\n",
            st["reference"].as_str().unwrap_or(""), st["threads"], num(&st["passages_per_second"], 1), st["passages"], num(&st["seconds"], 1)
        ));
        let ratio = m["dense"]["encode_passages_per_second"]
            .as_f64()
            .unwrap_or(0.0)
            / st["passages_per_second"].as_f64().unwrap_or(f64::INFINITY);
        out.push_str(&format!(
            "| burn / sentence-transformers encoding speed | {ratio:.2}× |\n"
        ));
    }
    out.push_str(
        "\nQueries/s counts query analysis or encoding plus exhaustive search over all passages, one \
         thread of control. The burn side runs the `flex` backend as the workspace builds burn \
         (`default-features = false`: no `rayon`, no `simd`): each matrix product runs on one core \
         with scalar element-wise kernels, so the encoder runs one batch per core instead, while \
         PyTorch splits each product over both cores with vectorised kernels. A profile of one \
         block (batch 32 × 128 tokens) puts ~75 % of the time in the six matrix products; burn's \
         `rayon` and `simd` features are the obvious next step.\n",
    );
    out
}

/// Measures, writes `reports/retrieval.json` and `reports/retrieval.md`.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let reports = root.join("reports");
    if args.iter().any(|a| a == "--render-only") {
        let text = std::fs::read_to_string(reports.join("retrieval.json"))?;
        std::fs::write(
            reports.join("retrieval.md"),
            render(&serde_json::from_str(&text)?),
        )?;
        eprintln!("re-rendered reports/retrieval.md from reports/retrieval.json");
        return Ok(());
    }
    let options = parse(args)?;
    let measured = measure(root, &options)?;
    let reports = root.join("reports");
    std::fs::write(
        reports.join("retrieval.json"),
        serde_json::to_string_pretty(&measured)? + "\n",
    )?;
    std::fs::write(reports.join("retrieval.md"), render(&measured))?;
    eprintln!("wrote reports/retrieval.md");
    Ok(())
}
