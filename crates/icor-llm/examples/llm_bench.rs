//! Backbone speed: prefill tokens/s at 512 tokens and greedy decode tokens/s (KV cache, after
//! that 512-token context); batched greedy decoding of `--batch` prompts of different lengths
//! (left-padded, 100 to 250 tokens) against one prompt of the longest length, both decoding
//! the same steps; plus the machine's measured memory bandwidth, as one JSON line per model
//! and device. Used by `cargo xtask bench perf` for `reports/perf.md`.
//!
//! `cargo build --workspace --example llm_bench && target/debug/examples/llm_bench [--device flex|wgpu] [--decode N] [--batch B] [--repeat R] [--batch-pairs P] [--decode-weights none|f32|f16] [--kv-cache f32|f16] [--elementwise fused|burn] [--isa avx2|avx512|portable] MODEL...`
//! (`--repeat`: each timing is taken R times, default 3, and the fastest kept — on a shared
//! machine the fastest run is the one least disturbed by other tenants; the peers' scripts do
//! the same.)
//! (`--batch-pairs`: the batch and its one-prompt reference are timed back to back at least P
//! times, default 5; the JSON lists every pair's ratio beside the fastest-of-each ratio.)
//! (`--isa`: the highest instruction set icor's product tiles may use, default the CPU's best.)
//! (`--workspace`: the feature set of the test build, so burn is not compiled again).

mod common;

use std::time::Instant;

use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{Adaptation, GenerateOptions, KvCache, Llm, device_by_name, load_model_packed};

const PREFILL: usize = 512;

/// Memory bandwidth in bytes/s: best of 5 copies (`memcpy`) of a 512 MiB buffer, counting
/// the bytes read plus the bytes written (STREAM "copy" convention).
fn copy_bandwidth() -> f64 {
    let n = 512usize << 20;
    let src = vec![1u8; n];
    let mut dst = vec![0u8; n];
    let mut best = 0f64;
    for _ in 0..5 {
        let t = Instant::now();
        dst.copy_from_slice(&src);
        let dt = t.elapsed().as_secs_f64();
        std::hint::black_box(&dst);
        best = best.max(2.0 * n as f64 / dt);
    }
    best
}

/// Seconds to decode `steps` greedy tokens (no stop token) for every prompt of `prompts` as
/// one batch, after their prefill (not timed).
fn decode_seconds(
    m: &Llm,
    prompts: &[Vec<u32>],
    steps: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let prefix = m.frozen_prefix_batch(prompts, m.config.n_layers)?;
    let each: Vec<usize> = (0..prompts.len()).collect();
    let opts = GenerateOptions {
        max_new_tokens: steps,
        stop_ids: vec![],
    };
    let t = Instant::now();
    let out = m.generate_greedy_rows_of(&prefix, &each, &opts, &Adaptation::none())?;
    let dt = t.elapsed().as_secs_f64();
    if out.iter().any(|o| o.len() != steps) {
        return Err("a row decoded fewer tokens than asked".into());
    }
    Ok(dt)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    icor_kernels::process::keep_freed_memory(); // as the `icor` binary does
    let mut args = std::env::args().skip(1);
    let mut device_name = "flex".to_string();
    let mut decode = 32usize;
    let mut batch = 16usize;
    let mut repeat = 3usize;
    let mut pairs = 5usize;
    let mut packed = String::from("default");
    let mut kv = icor_kernels::Precision::F32;
    let mut models = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--device" => device_name = args.next().ok_or("--device needs a value")?,
            "--decode" => decode = args.next().ok_or("--decode needs a value")?.parse()?,
            "--batch" => batch = args.next().ok_or("--batch needs a value")?.parse()?,
            "--repeat" => {
                let v = args.next().ok_or("--repeat needs a value")?;
                repeat = v
                    .parse()
                    .ok()
                    .filter(|&r: &usize| r >= 1)
                    .ok_or(format!("--repeat takes a whole number ≥ 1, not `{v}`"))?;
            }
            "--batch-pairs" => {
                let v = args.next().ok_or("--batch-pairs needs a value")?;
                pairs = v
                    .parse()
                    .map_err(|_| format!("--batch-pairs takes a whole number, not `{v}`"))?;
            }
            "--decode-weights" => {
                packed = args.next().ok_or("--decode-weights needs none|f32|f16")?
            }
            "--kv-cache" => {
                kv = icor_llm::kv_precision::parse(&args.next().ok_or("--kv-cache needs f32|f16")?)?
            }
            "--elementwise" => match args.next().as_deref() {
                Some("fused") => icor_kernels::burn_ops::set_fused_elementwise(true),
                Some("burn") => icor_kernels::burn_ops::set_fused_elementwise(false),
                other => {
                    return Err(format!(
                        "--elementwise takes fused (one pass per block step, the default) or \
                         burn (burn's chain of operations), not `{}`",
                        other.unwrap_or("nothing")
                    )
                    .into());
                }
            },
            "--isa" => {
                let v = args.next().unwrap_or_default();
                let isa = icor_kernels::tile::Isa::parse(&v)
                    .ok_or(format!("--isa takes avx2, avx512 or portable, not `{v}`"))?;
                icor_kernels::tile::cap_isa(isa);
            }
            m => models.push(m.to_string()),
        }
    }
    let device = device_by_name(&device_name)?;
    let bw = copy_bandwidth();
    for name in models {
        let t_load = Instant::now();
        let precision = match packed.as_str() {
            "default" => icor_llm::decode_weights::default_for(&device),
            other => icor_llm::decode_weights::parse_precision(other)?,
        };
        let mut loaded = load_model_packed(&name, &device, precision)?;
        loaded.model = loaded.model.with_kv_cache(kv);
        let load_s = t_load.elapsed().as_secs_f64();
        let m = &loaded.model;
        let c = &m.config;
        let ids = common::repeated_text_ids(&loaded.tokenizer, PREFILL)?;
        let none = Adaptation::none();
        // Warm-up (allocator, thread pool), then timed prefill into a fresh cache.
        let _ = to_vec_f32(m.logits(m.hidden_states(&ids[..64], &none)?));
        let ids_t = |s: &[u32]| {
            burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(
                burn::tensor::TensorData::new(
                    s.iter().map(|&i| i as i64).collect::<Vec<_>>(),
                    [1, s.len()],
                ),
                m.device(),
            )
        };
        // Each repeat: a timed prefill into a fresh cache, then `decode` timed greedy steps.
        let (mut prefill_s, mut decode_s) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..repeat {
            let mut cache = KvCache::new(c.n_layers);
            let t0 = Instant::now();
            let h = m.forward_hidden(ids_t(&ids), Some(&mut cache), &none)?;
            let last = m.logits(h.narrow(1, PREFILL - 1, 1));
            let mut next = to_vec_f32(last.argmax(2).float())[0] as u32;
            prefill_s = prefill_s.min(t0.elapsed().as_secs_f64());
            let t1 = Instant::now();
            for _ in 0..decode {
                let h = m.forward_hidden(ids_t(&[next]), Some(&mut cache), &none)?;
                next = to_vec_f32(m.logits(h).argmax(2).float())[0] as u32;
            }
            decode_s = decode_s.min(t1.elapsed().as_secs_f64());
        }
        // Bytes a decode step must stream: every projection and the output head (f32).
        let (d, q, kv) = (c.d_model, c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim);
        let per_layer = d * q + 2 * d * kv + q * d + 3 * d * c.d_ff;
        let weight_bytes = 4.0 * (c.n_layers * per_layer + d * c.vocab_size) as f64;
        // Weights a prefilled token is multiplied with: the blocks' (the output head reads
        // the last position only).
        let prefill_weights = (c.n_layers * per_layer) as f64;
        let decode_tps = decode as f64 / decode_s;
        // Batched decoding: prompts of 100…250 tokens (prefixes of the same text), left-padded.
        let lens: Vec<usize> = (0..batch)
            .map(|i| 100 + 150 * i / (batch - 1).max(1))
            .collect();
        let prompts: Vec<Vec<u32>> = lens.iter().map(|&n| ids[..n].to_vec()).collect();
        let longest = vec![ids[..*lens.iter().max().unwrap_or(&100)].to_vec()];
        // One prompt, then the batch, back to back: each side's fastest, and the ratio of
        // every pair (a pair shares the machine's state, so its ratio shows the spread that
        // the fastest-of-each ratio hides).
        let (mut one_s, mut batch_s) = (f64::INFINITY, f64::INFINITY);
        let mut pair_ratios = Vec::new();
        for _ in 0..repeat.max(pairs) {
            let one = decode_seconds(m, &longest, decode)?;
            let all = decode_seconds(m, &prompts, decode)?;
            (one_s, batch_s) = (one_s.min(one), batch_s.min(all));
            pair_ratios.push(batch as f64 * one / all);
        }
        pair_ratios.sort_by(f64::total_cmp);
        let one_tps = decode as f64 / one_s;
        let batch_tps = (batch * decode) as f64 / batch_s;
        println!(
            "{}",
            serde_json::json!({
                "model": name,
                "device": device_name,
                "decode_weights": m.decode_weights().map_or("none", |p| p.name()),
                "kv_cache": m.kv_cache().name(),
                "tiles": icor_kernels::tile::kernel_name(),
                "load_s": load_s,
                "prefill_tokens": PREFILL,
                "prefill_s": prefill_s,
                "prefill_tok_s": PREFILL as f64 / prefill_s,
                "prefill_weights": prefill_weights,
                "decode_tokens": decode,
                "decode_s": decode_s,
                "decode_tok_s": decode_tps,
                "decode_weight_bytes": weight_bytes,
                "decode_gb_s": weight_bytes * decode_tps / 1e9,
                "machine_copy_gb_s": bw / 1e9,
                "batch_prompts": batch,
                "batch_prompt_tokens": [lens.iter().min(), lens.iter().max()],
                "batch_one_decode_tok_s": one_tps,
                "batch_decode_tok_s": batch_tps,
                "batch_speedup": batch_tps / one_tps,
                "batch_pair_speedups": pair_ratios,
                "batch_repeat": repeat.max(pairs),
                "repeat": repeat,
                "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            })
        );
    }
    Ok(())
}
