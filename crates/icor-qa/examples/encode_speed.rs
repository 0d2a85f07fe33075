//! Dense passage-encoding speed: the shipped all-MiniLM-L6-v2 in burn (`flex`) encodes the
//! first N passages of the prepared FlashRAG corpus the way the dense retriever builds its
//! index (256-token budget, batches of 32, mean pooling, normalised), best of `--rounds`
//! rounds after a warm-up batch. Prints one JSON line. Used by `cargo xtask bench perf`, whose
//! peer is `scripts/retrieval_st_bench.py` on the same passages.
//!
//! `cargo build --workspace --example encode_speed && target/debug/examples/encode_speed [--passages N] [--rounds R] [--elementwise fused|burn] [--isa avx2|avx512|portable]`
//! (`--workspace`: the feature set of the test build, so burn is not compiled again).

use std::time::Instant;

use burn::tensor::Device;
use icor_qa::data::{corpus_path, ensure_prepared};
use icor_qa::retrieve::Corpus;
use icor_qa::retrieve::dense::PASSAGE_MAX_TOKENS;
use icor_qa::retrieve::setup::{OpenOptions, load_encoder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    icor_kernels::process::keep_freed_memory(); // as the `icor` binary does
    let mut args = std::env::args().skip(1);
    let (mut passages, mut rounds) = (256usize, 3usize);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--passages" => passages = value()?.parse()?,
            "--rounds" => rounds = value()?.parse()?,
            "--elementwise" => match value()?.as_str() {
                "fused" => icor_kernels::burn_ops::set_fused_elementwise(true),
                "burn" => icor_kernels::burn_ops::set_fused_elementwise(false),
                other => {
                    return Err(format!(
                        "--elementwise takes fused (LayerNorm and GELU in one pass, the \
                         default) or burn (burn's chain of operations), not `{other}`"
                    )
                    .into());
                }
            },
            "--isa" => {
                let v = value()?;
                let isa = icor_kernels::tile::Isa::parse(&v)
                    .ok_or(format!("--isa takes avx2, avx512 or portable, not `{v}`"))?;
                icor_kernels::tile::cap_isa(isa);
            }
            other => {
                return Err(format!(
                    "unknown argument {other} (--passages N, --rounds R, --elementwise fused|burn)"
                )
                .into());
            }
        }
    }
    let home = icor_assets::home(None)?;
    ensure_prepared(&home, |_| {})?;
    let corpus_file = corpus_path(&home);
    let corpus = Corpus::open(&corpus_file, false, |_| {})?;
    let texts = (0..passages.min(corpus.len()))
        .map(|row| corpus.get(row).map(|p| p.contents))
        .collect::<icor_qa::Result<Vec<String>>>()?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let options = OpenOptions::new(&home);
    let encoder = load_encoder(&options, &Device::flex())?;
    encoder.encode(
        &refs[..options.encode_batch.min(refs.len())],
        PASSAGE_MAX_TOKENS,
        options.encode_batch,
        |_| {},
    )?;
    let mut best = f64::INFINITY;
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        std::hint::black_box(encoder.encode(
            &refs,
            PASSAGE_MAX_TOKENS,
            options.encode_batch,
            |_| {},
        )?);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{}",
        serde_json::json!({
            "passages": refs.len(),
            "seconds": best,
            "passages_per_second": refs.len() as f64 / best,
            "batch": options.encode_batch,
            "max_tokens": PASSAGE_MAX_TOKENS,
            "threads": rayon_threads(),
        })
    );
    Ok(())
}

/// The thread count burn's rayon pool uses (RAYON_NUM_THREADS, else every core).
fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
