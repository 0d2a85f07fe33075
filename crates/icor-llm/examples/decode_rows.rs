//! Times greedy decoding under several interfaces at once (the batched rows of RAG-GD's
//! evaluation): prefill of the frozen layers, then `new` tokens for `rows` rows, for each row
//! count given. Random token ids (timing only); no stop tokens, so every row runs every step.
//!
//! `cargo run -p icor-llm --example decode_rows -- [--model smollm2-135m] [--tokens 250]
//! [--new 16] [--rows 1,4,16] [--split 28] [--shared on|off] [--kv-cache f32|f16]`
//!
//! `--shared off` runs every layer per row (no sharing of the frozen layers between rows whose
//! tokens agree), for timing the two in one binary. Every row here reads the bare backbone, so
//! with sharing the rows never diverge: the best case.

use std::time::Instant;

use burn::tensor::Device;
use icor_llm::{Adaptation, GenerateOptions, load_model};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    icor_kernels::process::keep_freed_memory(); // as the `icor` binary does
    let mut args = std::env::args().skip(1);
    let mut kv = icor_kernels::Precision::F32;
    let (mut model, mut tokens, mut new, mut rows, mut split) = (
        "smollm2-135m".to_string(),
        250usize,
        16usize,
        vec![1usize, 4, 16],
        28usize,
    );
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--model" => model = val()?,
            "--tokens" => tokens = val()?.parse()?,
            "--new" => new = val()?.parse()?,
            "--rows" => {
                rows = val()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--split" => split = val()?.parse()?,
            "--kv-cache" => kv = icor_llm::kv_precision::parse(&val()?)?,
            "--shared" => match val()?.as_str() {
                "on" => icor_llm::generate::set_shared_lower(true),
                "off" => icor_llm::generate::set_shared_lower(false),
                v => return Err(format!("--shared takes on or off, not `{v}`").into()),
            },
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let device = Device::flex();
    let lm = load_model(&model, &device)?;
    let m = &lm.model.clone().with_kv_cache(kv);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let vocab = m.config.vocab_size as u32;
    let prompt: Vec<u32> = (0..tokens).map(|_| rng.random_range(100..vocab)).collect();
    let opts = GenerateOptions {
        max_new_tokens: new,
        stop_ids: vec![],
    };
    println!(
        "| rows | prefill (frozen layers) s | upper prefill + {new} steps s | per step per row ms |"
    );
    println!("|---|---|---|---|");
    for &r in &rows {
        let t = Instant::now();
        let prefix = m.frozen_prefix(&prompt, split)?;
        let pre = t.elapsed().as_secs_f64();
        let t = Instant::now();
        m.generate_greedy_rows(&prefix, r, &opts, &Adaptation::none())?;
        let decode = t.elapsed().as_secs_f64();
        println!(
            "| {r} | {pre:.2} | {decode:.2} | {:.1} |",
            1000.0 * decode / (new * r) as f64
        );
    }
    Ok(())
}
