//! One training step of the boundary study (`icor_probe::train::Trainer::step`, the step
//! `train` loops over: draw a batch, forward, half-MSE, backward, global-norm clip, Adam) on
//! every compiled backend: the CPU (`flex`) always, wgpu with `--features wgpu` (skipped with
//! a note when no adapter is found).
//!
//! Task: the authors' protocol with 5 documents. Batches: 128 (the quick profile, lr 1e-2, no
//! clip) and 2048 (the authors' profile, lr 5e-4, clip 0.001). Models: LSA depth 1, and
//! MLP(32) + LSA for comparison. Ids read `train_step/<backend>_<model>/batch=<B>`; throughput
//! is in tasks. On wgpu every step ends with a device sync, so queued work is timed.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use icor_probe::backend::Backend;
use icor_probe::model::{Arch, Model};
use icor_probe::sweep::Profile;
use icor_probe::task::{Authors, Task, rng};
use icor_probe::train::{TrainConfig, Trainer};
use std::hint::black_box;

/// The models benched, with the name used in bench ids.
const ARCHS: [(&str, Arch); 2] = [
    ("lsa_depth1", Arch::Lsa { depth: 1 }),
    ("mlp32_lsa", Arch::Mlp { width: 32 }),
];

/// The two training profiles of the study: quick (batch 128) and the authors' (batch 2048).
fn profiles() -> [TrainConfig; 2] {
    [Profile::quick().train, Profile::full().train]
}

fn name(backend: Backend) -> &'static str {
    match backend {
        Backend::Cpu => "cpu",
        Backend::Wgpu => "wgpu",
    }
}

/// The backend's device if it can run a tensor op here, else why not.
fn usable_device(backend: Backend) -> Result<burn::tensor::Device, String> {
    backend
        .device()
        .map_err(|e| e.to_string())
        .and_then(icor_benches::check_device)
}

fn bench(c: &mut Criterion) {
    let task = Task::Authors(Authors::new(5, &mut rng(0, 0)));
    let d = task.sample(&mut rng(0, 2), 1, task.train_alpha()).d;
    let mut group = c.benchmark_group("train_step");
    for backend in Backend::compiled() {
        let device = match usable_device(backend) {
            Ok(device) => device,
            Err(why) => {
                eprintln!("train_step: skipping backend {}: {why}", name(backend));
                continue;
            }
        };
        for (arch_name, arch) in ARCHS {
            for cfg in profiles() {
                let mut trainer = Trainer::new(&task, &cfg, 0);
                let mut model = Model::init(arch, d, 0, &device);
                model.set_readout(task.readout());
                let mut model = Some(model);
                group.throughput(Throughput::Elements(cfg.batch as u64));
                let id = BenchmarkId::new(
                    format!("{}_{arch_name}", name(backend)),
                    format!("batch={}", cfg.batch),
                );
                group.bench_function(id, |b| {
                    b.iter(|| {
                        let (next, loss) =
                            trainer.step(model.take().expect("model returned"), &device);
                        if backend != Backend::Cpu {
                            device.sync().expect("device sync");
                        }
                        model = Some(next);
                        black_box(loss)
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
