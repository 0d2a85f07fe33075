//! One LoRA training step's forward and backward on the frozen backbone: rank 16, alpha 32 on
//! Q/K/V of every layer (`W_0^ret`'s layout), a 400-token sequence (the text of `llm_bench`,
//! repeated), mean next-token cross-entropy over every position, `loss.backward()`. Seconds per
//! step: the median of `--steps` timed steps after one warm-up step. Prints one JSON line per
//! model. The peer is `scripts/lora_step_torch.py` (plain torch modules, the same LoRA, autograd);
//! used by `cargo xtask bench perf`.
//!
//! `--tracked packed|burn` picks how the frozen products run inside the autodiff graph: through
//! the packed weights with their own backward (the default) or through burn's `matmul`, so the
//! two can be timed against each other in one binary. `--elementwise fused|burn` likewise
//! picks RMSNorm and `silu(gate) ⊙ up` as one pass each with their own backward (the default)
//! or burn's chains of operations. `--isa avx2|avx512|portable` caps the instruction set of
//! icor's product tiles (default: the CPU's best).
//!
//! `cargo build --workspace --example lora_step && target/debug/examples/lora_step [--steps N] [--tokens T] [--tracked packed|burn] [--elementwise fused|burn] [--isa I] MODEL...`

mod common;

use std::time::Instant;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use icor_llm::{Adaptation, LoraAdapter, load_model};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    icor_kernels::process::keep_freed_memory(); // as the `icor` binary does
    let mut args = std::env::args().skip(1);
    let (mut steps, mut tokens, mut models) = (5usize, 400usize, Vec::new());
    let (mut tracked, mut elementwise) = ("packed", "fused");
    while let Some(a) = args.next() {
        let mut count = |least: usize| -> Result<usize, String> {
            let v = args.next().ok_or(format!("{a} needs a value"))?;
            match v.parse::<usize>() {
                Ok(n) if n >= least => Ok(n),
                _ => Err(format!("{a} takes a whole number ≥ {least}, not `{v}`")),
            }
        };
        match a.as_str() {
            "--steps" => steps = count(1)?,
            "--tokens" => tokens = count(2)?,
            "--isa" => {
                let v = args.next().unwrap_or_default();
                let isa = icor_kernels::tile::Isa::parse(&v)
                    .ok_or(format!("--isa takes avx2, avx512 or portable, not `{v}`"))?;
                icor_kernels::tile::cap_isa(isa);
            }
            "--tracked" => match args.next().as_deref() {
                Some("packed") => tracked = "packed",
                Some("burn") => tracked = "burn",
                other => {
                    let got = other.map_or("nothing".to_string(), |v| format!("`{v}`"));
                    return Err(format!("--tracked takes packed or burn, not {got}").into());
                }
            },
            "--elementwise" => match args.next().as_deref() {
                Some("fused") => elementwise = "fused",
                Some("burn") => elementwise = "burn",
                other => {
                    let got = other.map_or("nothing".to_string(), |v| format!("`{v}`"));
                    return Err(format!("--elementwise takes fused or burn, not {got}").into());
                }
            },
            m => models.push(m.to_string()),
        }
    }
    icor_kernels::burn_ops::set_packed_tracked(tracked == "packed");
    icor_kernels::burn_ops::set_fused_elementwise(elementwise == "fused");
    let device = Device::flex();
    for name in models {
        let loaded = load_model(&name, &device)?;
        let m = &loaded.model;
        let ids = common::repeated_text_ids(&loaded.tokenizer, tokens)?;
        let lora = LoraAdapter::new(&m.config, 16, 32.0, 0, &device.clone().autodiff());
        let targets: Vec<i64> = ids[1..].iter().map(|&i| i64::from(i)).collect();
        let targets = Tensor::<2, Int>::from_data(
            TensorData::new(targets, [tokens - 1, 1]),
            &device.clone().autodiff(),
        );
        let step = || -> Result<f64, Box<dyn std::error::Error>> {
            let t = Instant::now();
            let h = m.hidden_states(&ids[..tokens - 1], &Adaptation::lora(&lora))?;
            let h = m.final_norm(h).reshape([tokens - 1, m.config.d_model]);
            let logp = log_softmax(m.project(h), 1);
            let loss = logp.gather(1, targets.clone()).mean().neg();
            let grads = loss.backward();
            std::hint::black_box(&grads);
            Ok(t.elapsed().as_secs_f64())
        };
        step()?; // warm-up
        let mut times: Vec<f64> = (0..steps).map(|_| step()).collect::<Result<_, _>>()?;
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "{}",
            serde_json::json!({
                "model": name,
                "tokens": tokens,
                "rank": 16,
                "tracked": tracked,
                "elementwise": elementwise,
                "steps": steps,
                "step_s": median,
                "steps_per_second": 1.0 / median,
                "step_s_all": times,
                "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            })
        );
    }
    Ok(())
}
