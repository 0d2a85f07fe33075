//! What each compute choice of the CPU profiles buys, measured on the real backbone in one
//! run: one SGD step of Eq. 8 / TT-SGD on N = 3 demonstrations with the interface on the top
//! L layers (lower layers cached or not) against every layer, and decoding several interfaces
//! as rows of one batch against one call each. Prints a Markdown report (best of `--repeats`).
//!
//! `cargo run -p icor-rag --example compute_choices -- [--model smollm2-135m] [--tokens 200]
//!  [--rows 13] [--new 16] [--repeats 2] > reports/rag-compute.md`

use std::time::Instant;

use burn::tensor::Device;
use icor_llm::{Adaptation, GenerateOptions, RowDeltas, load_model};
use icor_rag::experiment::prompt::Instance;
use icor_rag::method::frozen::FrozenStates;
use icor_rag::method::loss::{AnswerBatch, answer_loss};
use icor_rag::method::params::LoraLayout;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn best<T>(repeats: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut model, mut tokens, mut rows, mut new, mut repeats) = (
        "smollm2-135m".to_string(),
        200usize,
        13usize,
        16usize,
        2usize,
    );
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--model" => model = val()?,
            "--tokens" => tokens = val()?.parse()?,
            "--rows" => rows = val()?.parse()?,
            "--new" => new = val()?.parse()?,
            "--repeats" => repeats = val()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let device = Device::flex();
    let lm = load_model(&model, &device)?;
    let m = &lm.model;
    let n = m.config.n_layers;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let vocab = m.config.vocab_size as u32;
    let ids = |rng: &mut ChaCha8Rng, len: usize| -> Vec<u32> {
        (0..len).map(|_| rng.random_range(100..vocab)).collect()
    };
    let demos: Vec<Instance> = (0..3)
        .map(|_| Instance {
            prompt: ids(&mut rng, tokens),
            answer: ids(&mut rng, 4),
        })
        .collect();
    let ctx: Vec<&Instance> = demos.iter().collect();
    let ad = device.clone().autodiff();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("# RAG-GD compute choices, measured (generated)\n");
    println!(
        "`cargo run -p icor-rag --example compute_choices -- --model {model} --tokens {tokens} --rows {rows} --new {new} --repeats {repeats}`; backend flex, {threads} threads; best of {repeats}. Random token ids of the stated lengths (timing only).\n"
    );
    println!("## One SGD step on N = 3 demonstrations of {tokens} + 4 tokens (Eq. 8, TT-SGD)\n");
    println!("| interface | lower layers | seconds | vs every layer |\n|---|---|---|---|");
    let mut rows_out = Vec::new();
    for top in [n, 8.min(n), 2.min(n)] {
        let split = n - top;
        let layout = LoraLayout::new(&m.config, split, 16, 32.0);
        let mut p: Vec<f32> = vec![0.0; layout.len];
        p.iter_mut()
            .for_each(|x| *x = rng.random_range(-0.01..0.01));
        let step = |frozen: &mut FrozenStates| {
            let adapter = layout.adapter(&p, &ad);
            let batch = AnswerBatch::new(m, frozen, &ctx).expect("batch");
            let loss = answer_loss(m, split, &batch, &Adaptation::lora(&adapter)).expect("loss");
            layout.gradient(&adapter, &loss.backward())
        };
        let cold = best(repeats, || step(&mut FrozenStates::new(split)));
        let mut warm_cache = FrozenStates::new(split);
        step(&mut warm_cache);
        let warm = best(repeats, || step(&mut warm_cache));
        rows_out.push((top, cold, warm));
    }
    let full = rows_out[0].1;
    for (top, cold, warm) in &rows_out {
        let name = if *top == n {
            format!("every layer ({n})")
        } else {
            format!("top {top}")
        };
        println!("| {name} | computed | {cold:.2} | {:.2}× |", full / cold);
        if *top != n {
            println!("| {name} | cached | {warm:.2} | {:.2}× |", full / warm);
        }
    }
    println!(
        "\n## Greedy decoding of {new} tokens after a {tokens}-token prompt under {rows} interfaces\n"
    );
    let layout = LoraLayout::new(&m.config, n - 2.min(n), 16, 32.0);
    let adapters: Vec<_> = (0..rows)
        .map(|_| {
            let p: Vec<f32> = (0..layout.len)
                .map(|_| rng.random_range(-0.02..0.02))
                .collect();
            layout.adapter(&p, &device)
        })
        .collect();
    let prompt = ids(&mut rng, tokens);
    let opts = GenerateOptions {
        max_new_tokens: new,
        stop_ids: vec![],
    };
    let separate = best(repeats, || {
        for a in &adapters {
            m.generate_greedy(&prompt, &opts, &Adaptation::lora(a))
                .expect("generate");
        }
    });
    let adapts: Vec<Adaptation<'_>> = adapters.iter().map(Adaptation::lora).collect();
    let stack = RowDeltas::stack(&m.config, &adapts, &device)?;
    let batched = best(repeats, || {
        let prefix = m.frozen_prefix(&prompt, n - 2.min(n)).expect("prefix");
        m.generate_greedy_rows(&prefix, rows, &opts, &Adaptation::per_row(&stack))
            .expect("rows")
    });
    println!("| how | seconds | per interface | speed-up |\n|---|---|---|---|");
    println!(
        "| one call per interface | {separate:.2} | {:.2} | 1.00× |",
        separate / rows as f64
    );
    println!(
        "| one batch, frozen layers shared (interface on the top 2) | {batched:.2} | {:.2} | {:.2}× |",
        batched / rows as f64,
        separate / batched
    );
    Ok(())
}
