//! Times one decoding step's attention alone (`icor_kernels::attend`, one new token per row)
//! over a model's layers, each layer with a cache of its own so the keys and values come from
//! memory as they do in a real step: the part of a batched decoding step that grows with the
//! rows and their context.
//!
//! `cargo run -p icor-kernels --example attend_decode -- [--rows 16] [--context 250]
//! [--layers 30] [--heads 9] [--kv-heads 3] [--head-dim 64] [--steps 40] [--repeat 5]`
//!
//! Prints the fastest of `--repeat` timings of `--steps` steps: time per step and the rate at
//! which the visible keys and values were read.

use std::time::Instant;

use icor_kernels::{AttnShape, Visible, attend};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The flags, with SmolLM2-135M's attention and the bench's batch as defaults.
struct Args {
    rows: usize,
    context: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    steps: usize,
    repeat: usize,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut a = Args {
            rows: 16,
            context: 250,
            layers: 30,
            heads: 9,
            kv_heads: 3,
            head_dim: 64,
            steps: 40,
            repeat: 5,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let value = it.next().ok_or(format!("{flag} needs a value"))?;
            let n: usize = value.parse().map_err(|e| format!("{flag} {value}: {e}"))?;
            match flag.as_str() {
                "--rows" => a.rows = n,
                "--context" => a.context = n,
                "--layers" => a.layers = n,
                "--heads" => a.heads = n,
                "--kv-heads" => a.kv_heads = n,
                "--head-dim" => a.head_dim = n,
                "--steps" => a.steps = n,
                "--repeat" => a.repeat = n,
                other => return Err(format!("unknown flag {other}")),
            }
        }
        if a.kv_heads == 0 || a.heads % a.kv_heads != 0 {
            return Err(format!(
                "{} heads over {} key/value heads",
                a.heads, a.kv_heads
            ));
        }
        Ok(a)
    }
}

fn main() -> Result<(), String> {
    let a = Args::parse()?;
    let cap = a.context + 64; // a cache's reserve, as icor-llm allocates it
    let shape = AttnShape {
        batch: a.rows,
        heads: a.heads,
        kv_heads: a.kv_heads,
        queries: 1,
        keys: a.context,
        capacity: cap,
        head_dim: a.head_dim,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut draw =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect() };
    let per_layer = a.rows * a.kv_heads * cap * a.head_dim;
    let kv: Vec<(Vec<f32>, Vec<f32>)> = (0..a.layers)
        .map(|_| (draw(per_layer), draw(per_layer)))
        .collect();
    let q = draw(a.rows * a.heads * a.head_dim);
    let visible = Visible::Causal {
        start: a.context - 1,
        from: None,
    };
    let scale = (a.head_dim as f32).powf(-0.5);
    let mut best = f64::INFINITY;
    let mut check = 0.0f32;
    for _ in 0..a.repeat {
        let t = Instant::now();
        for _ in 0..a.steps {
            for (k, v) in &kv {
                check += attend(&q, k, v, shape, visible, scale)[0];
            }
        }
        best = best.min(t.elapsed().as_secs_f64() / a.steps as f64);
    }
    let bytes = 2.0 * 4.0 * (a.layers * a.rows * a.kv_heads * a.context * a.head_dim) as f64;
    println!(
        "{} rows × {} layers, context {}: {:.3} ms per step, keys and values read at {:.1} GB/s (kernel {}; check {check:.3})",
        a.rows,
        a.layers,
        a.context,
        1e3 * best,
        bytes / best / 1e9,
        icor_kernels::tile::kernel_name(),
    );
    Ok(())
}
