//! The method's workloads on SmolLM2-135M, on every compiled backend (the CPU `flex` always,
//! wgpu with `--features wgpu`, skipped with a note when no adapter is found):
//!
//! - `prefill`: one forward pass over a 128-token prompt (logits of the last position);
//! - `decode`: 8 greedy tokens with the KV cache after a 32-token prompt (prefill included);
//! - `lora_fwd_bwd`: the answer loss of N = 3 demonstrations (64 + 4 tokens each) forward and
//!   backward into a rank-16 LoRA on Q/K/V, on the top 2 layers (the quick profile's
//!   interface, lower layers cached as in the run) and on every layer — one TT-SGD / Eq. 8 step
//!   without the optimiser's O(params) update;
//! - `predictor`: `g_φ` forward for one context (the quick profile's shape: 576-d input,
//!   MLP 256 → 64, 6 blocks of R = 32).
//!
//! Random token ids (timing only). Needs the model: `cargo run -p icor -- fetch smollm2-135m`.
//! Ids read `rag_step/<backend>_<workload>`; on wgpu every iteration ends with a device sync.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use icor_benches::usable_device;
use icor_llm::{Adaptation, GenerateOptions, load_model};
use icor_rag::experiment::prompt::Instance;
use icor_rag::method::frozen::FrozenStates;
use icor_rag::method::loss::{AnswerBatch, answer_loss};
use icor_rag::method::params::LoraLayout;
use icor_rag::method::predictor::{Predictor, PredictorShape};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

const MODEL: &str = "smollm2-135m";

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("rag_step");
    for &backend in icor_benches::BACKENDS {
        let device = match usable_device(backend) {
            Ok(device) => device,
            Err(why) => {
                eprintln!("rag_step: skipping backend {backend}: {why}");
                continue;
            }
        };
        let sync = || {
            if backend != "flex" {
                device.sync().expect("device sync");
            }
        };
        let lm = match load_model(MODEL, &device) {
            Ok(lm) => lm,
            Err(e) => {
                eprintln!("rag_step: skipping {backend}: {e} (run `icor fetch {MODEL}`)");
                continue;
            }
        };
        let m = &lm.model;
        let n = m.config.n_layers;
        let vocab = m.config.vocab_size as u32;
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut ids =
            |len: usize| -> Vec<u32> { (0..len).map(|_| rng.random_range(100..vocab)).collect() };
        let id = |w: &str| BenchmarkId::new(format!("{backend}_{w}"), MODEL);

        let prompt = ids(128);
        group.bench_function(id("prefill_128"), |b| {
            b.iter(|| {
                let h = m
                    .hidden_states(&prompt, &Adaptation::none())
                    .expect("forward");
                sync();
                black_box(h)
            })
        });

        let short = ids(32);
        let opts = GenerateOptions {
            max_new_tokens: 8,
            stop_ids: vec![],
        };
        group.bench_function(id("decode_8_after_32"), |b| {
            b.iter(|| {
                let out = m
                    .generate_greedy(&short, &opts, &Adaptation::none())
                    .expect("generate");
                black_box(out)
            })
        });

        let demos: Vec<Instance> = (0..3)
            .map(|_| Instance {
                prompt: ids(64),
                answer: ids(4),
            })
            .collect();
        let ctx: Vec<&Instance> = demos.iter().collect();
        let ad = device.clone().autodiff();
        for (name, top) in [("lora_fwd_bwd_top2", 2.min(n)), ("lora_fwd_bwd_all", n)] {
            let split = n - top;
            let layout = LoraLayout::new(&m.config, split, 16, 32.0);
            let mut prng = ChaCha8Rng::seed_from_u64(1);
            let p: Vec<f32> = (0..layout.len)
                .map(|_| prng.random_range(-0.01..0.01))
                .collect();
            let mut frozen = FrozenStates::new(split);
            group.bench_function(id(name), |b| {
                b.iter(|| {
                    let adapter = layout.adapter(&p, &ad);
                    let batch = AnswerBatch::new(m, &mut frozen, &ctx).expect("batch");
                    let loss =
                        answer_loss(m, split, &batch, &Adaptation::lora(&adapter)).expect("loss");
                    let g = layout.gradient(&adapter, &loss.backward());
                    black_box(g)
                })
            });
        }

        let shape = PredictorShape {
            d: m.config.d_model,
            hidden: 256,
            code: 64,
            blocks: 6,
            r: 32,
        };
        let predictor = Predictor::init(
            shape,
            vec![0.0; shape.d],
            vec![1.0; shape.d],
            vec![1.0; shape.blocks],
            2,
        );
        let tensors = predictor.tensors(&device, false);
        let hbar = burn::tensor::Tensor::<2>::random(
            [1, shape.d],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        group.bench_function(id("predictor"), |b| {
            b.iter(|| {
                let c = tensors.forward(hbar.clone());
                sync();
                black_box(c)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
