//! Would keeping the frozen backbone's weights quantised in burn narrow the decode gap to
//! llama.cpp? One decode-sized product — a [1, d_model] activation times a real [d_model,
//! d_ff] projection (`blk.0.ffn_up` of the model, dequantised from its GGUF) — timed with the
//! weight as f32 and as burn quantised tensors (8-bit symmetric, per block of 32, and per
//! tensor), with the relative error of the quantised product against f32. Prints one JSON line
//! per model. Used by `cargo xtask bench perf`.
//!
//! burn-flex 0.22.1 has quantize/dequantize but no quantised matmul kernel: a product with a
//! quantised operand goes through burn-backend's default `q_matmul`, which dequantises it to
//! f32 first, so a quantised weight costs a dequantisation on every use.
//!
//! `cargo build --workspace --example quant_matmul && target/debug/examples/quant_matmul [--reps N] MODEL...`
//! (`--workspace`: the feature set of the test build, so burn is not compiled again).

use std::time::Instant;

use burn::tensor::quantization::{QuantScheme, QuantStore, QuantValue, ScaleDtype};
use burn::tensor::{Device, Tensor, TensorData};
use icor_llm::load_model;
use icor_llm::tensor_util::to_vec_f32;

fn time(reps: usize, mut f: impl FnMut() -> Vec<f32>) -> (f64, Vec<f32>) {
    let mut out = f(); // warm-up
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..reps {
            out = f();
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    (best, out)
}

fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den).sqrt()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut reps = 50usize;
    let mut models = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--reps" => reps = args.next().ok_or("--reps needs a value")?.parse()?,
            m => models.push(m.to_string()),
        }
    }
    let device = Device::flex();
    for name in models {
        let loaded = load_model(&name, &device)?;
        // the up projection: the second half of the joined gate | up weight
        let mlp = &loaded.model.blocks()[0].mlp;
        let (d, f) = (mlp.gate_up.in_dim(), mlp.d_ff());
        let w: Tensor<2> = mlp.gate_up.w_t.clone().slice([0..d, f..2 * f]);
        let w = Tensor::<2>::from_data(w.into_data(), &device); // contiguous, as it was stored
        let x_values: Vec<f32> = (0..d)
            .map(|i| ((i * 7919) % 997) as f32 / 997.0 - 0.5)
            .collect();
        let x = Tensor::<2>::from_data(TensorData::new(x_values, [1, d]), &device);
        let (t_f32, y_f32) = time(reps, || to_vec_f32(x.clone().matmul(w.clone())));
        let block = QuantScheme::default()
            .with_value(QuantValue::Q8S)
            .per_block([32u8], ScaleDtype::F32)
            .with_store(QuantStore::Native);
        let tensor = QuantScheme::default()
            .with_value(QuantValue::Q8S)
            .per_tensor(ScaleDtype::F32)
            .with_store(QuantStore::Native);
        let mut rows = Vec::new();
        for (label, scheme) in [("q8 per block of 32", block), ("q8 per tensor", tensor)] {
            let wq = w.clone().quantize_dynamic(&scheme);
            let (t_q, y_q) = time(reps, || to_vec_f32(x.clone().matmul(wq.clone())));
            rows.push(serde_json::json!({
                "scheme": label,
                "seconds": t_q,
                "slowdown_vs_f32": t_q / t_f32,
                "relative_error": rel_err(&y_q, &y_f32),
            }));
        }
        println!(
            "{}",
            serde_json::json!({
                "model": name,
                "shape": [d, f],
                "f32_seconds": t_f32,
                "f32_weight_gb_s": 4.0 * (d * f) as f64 / t_f32 / 1e9,
                "quantised": rows,
            })
        );
    }
    Ok(())
}
