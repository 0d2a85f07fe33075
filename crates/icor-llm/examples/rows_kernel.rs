//! One decoding product, `[m, in] × [in, out]`, timed through burn-flex's matmul (gemm) and
//! through `icor_kernels::rows_matmul` with the weight packed once in f32 and in f16: the
//! shapes of SmolLM2's and Qwen2.5-0.5B's fused Q/K/V, gate/up and down projections and the
//! output head, at 1 and 16 rows (or `--rows`). Prints GFLOP/s and weight GB/s per path, and the largest
//! difference from burn's result.
//!
//! `cargo run --workspace --example rows_kernel [-- --reps N] [--rows 1,16,512]`

use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use icor_kernels::tile::{self, Isa};
use icor_kernels::{PackedWeight, Precision, rows_matmul};
use icor_llm::tensor_util::to_vec_f32;

/// Median seconds of `reps` runs of `f` (after one warm-up run).
fn median(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    let reps: usize = std::env::args()
        .skip_while(|a| a != "--reps")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let rows_list: Vec<usize> = std::env::args()
        .skip_while(|a| a != "--rows")
        .nth(1)
        .map(|v| v.split(',').filter_map(|r| r.parse().ok()).collect())
        .unwrap_or(vec![1, 16]);
    let isas: Vec<Isa> = match std::env::args().skip_while(|a| a != "--isa").nth(1) {
        Some(v) => v
            .split(',')
            .map(|s| {
                Isa::parse(s).unwrap_or_else(|| {
                    eprintln!("--isa takes avx2, avx512 or portable (comma-separated), not `{s}`");
                    std::process::exit(2)
                })
            })
            .collect(),
        None => [Isa::Avx2, Isa::Avx512]
            .into_iter()
            .filter(|i| *i <= Isa::detected())
            .collect(),
    };
    let device = Device::flex();
    println!("best kernel on this CPU: {}", Isa::detected().name());
    println!(
        "| shape (in × out) | rows | tiles | burn µs | f32 µs | f16 µs | burn GFLOP/s | f32 GFLOP/s | f16 GFLOP/s | f32 ÷ burn | f16 ÷ burn | max |Δ| f32 | max |Δ| f16 |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let shapes = [
        ("smollm2 qkv", 576, 960),
        ("smollm2 gate/up", 576, 3072),
        ("smollm2 down", 1536, 576),
        ("smollm2 head", 576, 49152),
        ("qwen qkv", 896, 1152),
        ("qwen gate/up", 896, 9728),
        ("qwen down", 4864, 896),
    ];
    for (name, k, n) in shapes {
        let w_t: Vec<f32> = (0..k * n)
            .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 1e-4)
            .collect();
        let wb: Tensor<2> = Tensor::from_data(TensorData::new(w_t.clone(), [k, n]), &device);
        let p32 = PackedWeight::from_transposed(&w_t, k, n, Precision::F32);
        let p16 = PackedWeight::from_transposed(&w_t, k, n, Precision::F16);
        for m in rows_list.iter().copied() {
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 31 % 97) as f32 - 48.0) * 1e-2)
                .collect();
            let xb: Tensor<2> = Tensor::from_data(TensorData::new(x.clone(), [m, k]), &device);
            let want = to_vec_f32(xb.clone().matmul(wb.clone()));
            let t_burn = median(reps, || {
                let y = xb.clone().matmul(wb.clone());
                std::hint::black_box(to_vec_f32(y));
            });
            for &isa in &isas {
                tile::cap_isa(isa);
                let t32 = median(reps, || {
                    std::hint::black_box(rows_matmul(&x, m, &p32, None));
                });
                let t16 = median(reps, || {
                    std::hint::black_box(rows_matmul(&x, m, &p16, None));
                });
                let diff = |got: Vec<f32>| {
                    got.iter()
                        .zip(&want)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0f32, f32::max)
                };
                let d32 = diff(rows_matmul(&x, m, &p32, None));
                let d16 = diff(rows_matmul(&x, m, &p16, None));
                let gf = |t: f64| 2.0 * (m * k * n) as f64 / t / 1e9;
                println!(
                    "| {name} ({k} × {n}) | {m} | {} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2}× | {:.2}× | {d32:.1e} | {d16:.1e} |",
                    tile::kernel_name(),
                    t_burn * 1e6,
                    t32 * 1e6,
                    t16 * 1e6,
                    gf(t_burn),
                    gf(t32),
                    gf(t16),
                    t_burn / t32,
                    t_burn / t16,
                );
            }
        }
    }
}
