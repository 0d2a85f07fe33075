//! Times one decoding step's attention alone (`icor_kernels::attend`, one new token per row)
//! over a model's layers, each layer with a cache of its own so the keys and values come from
//! memory as they do in a real step: the part of a batched decoding step that grows with the
//! rows and their context.
//!
//! `cargo run -p icor-kernels --example attend_decode -- [--rows 16] [--context 250]
//! [--layers 30] [--heads 9] [--kv-heads 3] [--head-dim 64] [--steps 40] [--repeat 5]
//! [--kv f32|f16]`
//!
//! Prints the fastest of `--repeat` timings of `--steps` steps: time per step and the rate at
//! which the visible keys and values were read.

use std::time::Instant;

use half::f16;
use icor_kernels::value::Value;
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
    /// Keys and values stored as f16 (`--kv f16`) rather than f32.
    f16: bool,
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
            f16: false,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let value = it.next().ok_or(format!("{flag} needs a value"))?;
            if flag == "--kv" {
                a.f16 = match value.as_str() {
                    "f32" => false,
                    "f16" => true,
                    v => return Err(format!("--kv takes f32 or f16, not `{v}`")),
                };
                continue;
            }
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
    let best = if a.f16 {
        let half = |x: &[f32]| -> Vec<f16> { x.iter().map(|&x| f16::from_f32(x)).collect() };
        let kv: Vec<_> = kv.iter().map(|(k, v)| (half(k), half(v))).collect();
        time(&a, &q, &kv, shape)
    } else {
        time(&a, &q, &kv, shape)
    };
    let width = if a.f16 { 2.0 } else { 4.0 };
    let bytes = 2.0 * width * (a.layers * a.rows * a.kv_heads * a.context * a.head_dim) as f64;
    println!(
        "{} rows × {} layers, context {}, keys and values in {}: {:.3} ms per step, read at {:.1} GB/s (kernel {})",
        a.rows,
        a.layers,
        a.context,
        if a.f16 { "f16" } else { "f32" },
        1e3 * best,
        bytes / best / 1e9,
        icor_kernels::tile::kernel_name(),
    );
    Ok(())
}

/// The fastest of `--repeat` timings of `--steps` steps, in seconds per step.
fn time<T: Value>(a: &Args, q: &[f32], kv: &[(Vec<T>, Vec<T>)], shape: AttnShape) -> f64 {
    let visible = Visible::Causal {
        start: a.context - 1,
        from: None,
    };
    let scale = (a.head_dim as f32).powf(-0.5);
    let mut best = f64::INFINITY;
    for _ in 0..a.repeat {
        let t = Instant::now();
        for _ in 0..a.steps {
            for (k, v) in kv {
                std::hint::black_box(attend(q, k, v, shape, visible, scale));
            }
        }
        best = best.min(t.elapsed().as_secs_f64() / a.steps as f64);
    }
    best
}
