//! LSA forward (Lemma 1 construction) against the explicit GD step it equals, for
//! N ∈ {10, 100, 1000} context tokens and input width d ∈ {10, 64} (d₁ = d₂ = d/2, d_y = 1).
//!
//! Both produce the prediction shift of one query; the LSA path also pays for building its
//! D×D weights, so the ratio shows what the attention form costs over direct GD.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use icor_linear::construction::lemma1_layer;
use icor_linear::gd::gd_step;
use icor_linear::sample::Sampler;
use icor_linear::{LinearRag, Tokens};
use ndarray::s;
use std::hint::black_box;

fn problem(n: usize, d: usize) -> (LinearRag, Tokens, Tokens) {
    let mut smp = Sampler::new(42);
    let (d1, d2) = (d / 2, d - d / 2);
    let x1 = smp.uniform(n + 1, d1, 1.0);
    let x2 = smp.uniform(n + 1, d2, 1.0);
    let y = smp.normal(n, 1, 1.0);
    let ctx = Tokens::from_parts(x1.slice(s![..n, ..]), x2.slice(s![..n, ..]), y.view())
        .expect("shapes agree");
    let q = Tokens::queries(x1.slice(s![n.., ..]), x2.slice(s![n.., ..]), 1).expect("shapes agree");
    let model =
        LinearRag::new(smp.normal(1, d1, 1.0), smp.normal(1, d2, 1.0)).expect("shapes agree");
    (model, ctx, q)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("one_step_prediction_shift");
    for d in [10usize, 64] {
        for n in [10usize, 100, 1000] {
            let (model, ctx, q) = problem(n, d);
            group.throughput(Throughput::Elements(n as u64));
            let id = format!("N={n}/d={d}");
            group.bench_with_input(BenchmarkId::new("lsa_forward", &id), &n, |b, _| {
                b.iter(|| {
                    let layer = lemma1_layer(&model, 0.1, n).expect("valid");
                    black_box(layer.forward(&ctx, &q).expect("valid").1)
                })
            });
            group.bench_with_input(BenchmarkId::new("lsa_query_update", &id), &n, |b, _| {
                let layer = lemma1_layer(&model, 0.1, n).expect("valid");
                b.iter(|| black_box(layer.update(&ctx, &q).expect("valid")))
            });
            group.bench_with_input(BenchmarkId::new("gd_step", &id), &n, |b, _| {
                b.iter(|| {
                    black_box(
                        gd_step(&model, &ctx, 0.1)
                            .expect("valid")
                            .prediction_shift(&q)
                            .expect("valid"),
                    )
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
