//! The same small tests on every compiled backend (burn's `testgen` pattern): the constructed
//! LSA equals the GD predictor, autodiff sensitivities equal the analytic ones, training moves
//! the LSA towards GD, runs are deterministic.

mod common;

use icor_probe::backend::Backend;
use icor_probe::metrics::{GdRef, compare};
use icor_probe::model::{Arch, Input, Lsa, Model};
use icor_probe::reference::{fit_eta, gd_forward, gd_predictions};
use icor_probe::task::{Authors, Projection, Readout, Task, rng};
use icor_probe::tensor::{tensor1, values};
use icor_probe::train::{TrainConfig, train};

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod cpu {
            $( #[test] fn $name() { super::$name(icor_probe::backend::Backend::Cpu); } )*
        }
        #[cfg(feature = "wgpu")]
        mod wgpu {
            $( #[test] fn $name() { super::$name(icor_probe::backend::Backend::Wgpu); } )*
        }
    };
}

on_every_backend!(
    constructed_lsa_equals_gd_forward_authors,
    constructed_stack_equals_k_gd_steps_projection,
    burn_gd_equals_f64_gd,
    autodiff_sensitivity_of_gd_is_analytic,
    training_reduces_loss_and_aligns_with_gd,
    mlp_trains_on_retrieved_table_contexts,
);

/// MLP(16) + LSA on retrieved contexts of a synthetic table (the nonlinear study's pipeline):
/// the loss falls below the untrained model's, and the same seed gives the same numbers.
fn mlp_trains_on_retrieved_table_contexts(backend: Backend) {
    let device = backend.device().unwrap();
    let (retrieved, gd) = common::gaussian_contexts();
    let task = Task::Retrieved(retrieved.clone());
    let eval = retrieved.test_batch(100);
    let cfg = TrainConfig {
        steps: 150,
        batch: 64,
        lr: 1e-2,
        clip: 0.0,
        eval_every: 50,
        curve_tasks: 100,
    };
    let arch = Arch::Mlp { width: 16 };
    let (model, curve) = train(&task, arch, &cfg, 3, &gd, &eval, &device, |_| {}).unwrap();
    let trained = compare(&model, &gd, &eval, None, &device, 64);
    let control = compare(
        &Model::init(arch, eval.d, 3, &device),
        &gd,
        &eval,
        None,
        &device,
        64,
    );
    assert!(
        trained.loss_model < 0.8 * control.loss_model,
        "{trained:?} vs control {control:?}"
    );
    let (_, again) = train(&task, arch, &cfg, 3, &gd, &eval, &device, |_| {}).unwrap();
    assert_eq!(
        curve.loss_model, again.loss_model,
        "same seed, same numbers"
    );
}

/// LSA with the constructed weights (depth 1) = one GD step from w0 = [0; doc_weight],
/// the authors' read-out, in f32.
fn constructed_lsa_equals_gd_forward_authors(backend: Backend) {
    let device = backend.device().unwrap();
    let task = Task::Authors(Authors::new(5, &mut rng(3, 0)));
    let batch = task.sample(&mut rng(3, 2), 64, 0.5);
    let w0 = &batch.w0[..batch.dx()];
    let lsa = Lsa::gd_construction(batch.d, 1, 0.7, batch.n(), w0, &device);
    let (input, _) = Input::new(&batch, None, &device, false);
    let a = values(&Model::from_lsa(lsa).predict(&input));
    let b = values(&gd_forward(
        &input,
        tensor1(vec![0.7], &device),
        None,
        1,
        Readout::ShiftOnly,
    ));
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
    }
}

/// Depth-3 recurrent constructed LSA = 3 GD steps from 0 (projection interface).
fn constructed_stack_equals_k_gd_steps_projection(backend: Backend) {
    let device = backend.device().unwrap();
    let task = Task::Projection(Projection::new(2));
    let batch = task.sample(&mut rng(4, 2), 32, 1.0);
    let lsa = Lsa::gd_construction(batch.d, 3, 0.3, batch.n(), &vec![0.0; batch.dx()], &device);
    let (input, _) = Input::new(&batch, None, &device, false);
    let a = values(&Model::from_lsa(lsa).predict(&input));
    let b = gd_predictions(&batch, 0.3, 3, Readout::ShiftOnly);
    for (x, y) in a.iter().zip(&b) {
        assert!(
            (*x as f64 - y).abs() <= 1e-4 * (1.0 + y.abs()),
            "{x} vs {y}"
        );
    }
}

/// The burn and f64 implementations of the reference agree.
fn burn_gd_equals_f64_gd(backend: Backend) {
    let device = backend.device().unwrap();
    let task = Task::Authors(Authors::new(2, &mut rng(5, 0)));
    let batch = task.sample(&mut rng(5, 2), 16, 0.5);
    let (input, _) = Input::new(&batch, None, &device, false);
    for readout in [Readout::ShiftOnly, Readout::WithBase] {
        let a = values(&gd_forward(
            &input,
            tensor1(vec![1.3], &device),
            None,
            2,
            readout,
        ));
        let b = gd_predictions(&batch, 1.3, 2, readout);
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (*x as f64 - y).abs() <= 1e-4 * (1.0 + y.abs()),
                "{readout:?}: {x} vs {y}"
            );
        }
    }
}

/// ∂ŷ_GD/∂x_q = (η/N) Σᵢ (yᵢ − w0·xᵢ) xᵢ for one step with the shift-only read-out.
fn autodiff_sensitivity_of_gd_is_analytic(backend: Backend) {
    let device = backend.device().unwrap();
    let task = Task::Authors(Authors::new(2, &mut rng(6, 0)));
    let batch = task.sample(&mut rng(6, 2), 4, 0.5);
    let (input, leaf) = Input::new(&batch, None, &device, true);
    let eta = 0.9f32;
    let preds = gd_forward(
        &input,
        tensor1(vec![eta], &device),
        None,
        1,
        Readout::ShiftOnly,
    );
    let grads = preds.sum().backward();
    let g = values(&leaf.unwrap().grad(&grads).unwrap());
    let (n, d, dx) = (batch.n(), batch.d, batch.dx());
    for task_i in 0..batch.b {
        let tok = &batch.tokens[task_i * batch.t * d..];
        let w0 = &batch.w0[task_i * dx..(task_i + 1) * dx];
        for k in 0..dx {
            let want: f32 = (0..n)
                .map(|i| {
                    let row = &tok[i * d..(i + 1) * d];
                    let r = row[dx] - row[..dx].iter().zip(w0).map(|(a, b)| a * b).sum::<f32>();
                    eta / n as f32 * r * row[k]
                })
                .sum();
            let got = g[task_i * d + k];
            assert!(
                (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "task {task_i} dim {k}: {got} vs {want}"
            );
        }
    }
}

/// A short run on the authors' protocol: the trained LSA's loss falls well below its start, and
/// its sensitivity cosine to GD rises above the untrained model's. Same seed, same numbers.
fn training_reduces_loss_and_aligns_with_gd(backend: Backend) {
    let device = backend.device().unwrap();
    let task = Task::Authors(Authors::new(5, &mut rng(7, 0)));
    let eval = task.sample(&mut rng(7, 3), 512, 0.5);
    let step = fit_eta(&eval, 1, Readout::ShiftOnly, true);
    let grid = step.grid_eta.unwrap();
    assert!(
        (step.eta - grid).abs() <= 0.05 + 1e-9,
        "closed form {} vs grid {grid}",
        step.eta
    );
    let gd = GdRef {
        eta: step.eta,
        steps: 1,
        readout: Readout::ShiftOnly,
    };
    let cfg = TrainConfig {
        steps: 1500,
        batch: 128,
        lr: 5e-3,
        clip: 0.0,
        eval_every: 500,
        curve_tasks: 512,
    };
    let (model, curve) = train(
        &task,
        Arch::Lsa { depth: 1 },
        &cfg,
        7,
        &gd,
        &eval,
        &device,
        |_| {},
    )
    .unwrap();
    let first = curve.loss_model[0];
    let last = *curve.loss_model.last().unwrap();
    let gd_loss = curve.loss_gd[0];
    eprintln!(
        "loss {first} → {last}, GD {gd_loss}, cos {:?}",
        curve.sens_cos
    );
    assert!(
        last < first && last < 1.1 * gd_loss,
        "loss {first} → {last}, GD {gd_loss}"
    );
    let trained = compare(&model, &gd, &eval, task.kv_mix().as_ref(), &device, 256);
    let control = compare(
        &Model::init(Arch::Lsa { depth: 1 }, eval.d, 7, &device),
        &gd,
        &eval,
        task.kv_mix().as_ref(),
        &device,
        256,
    );
    assert!(
        trained.sens_cos > control.sens_cos + 0.2,
        "trained {} vs control {}",
        trained.sens_cos,
        control.sens_cos
    );
    let (_, again) = train(
        &task,
        Arch::Lsa { depth: 1 },
        &cfg,
        7,
        &gd,
        &eval,
        &device,
        |_| {},
    )
    .unwrap();
    assert_eq!(
        curve.loss_model, again.loss_model,
        "same seed, same numbers"
    );
}
