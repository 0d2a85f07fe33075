//! The method's own computation on every compiled backend (as `icor-llm/tests/backends.rs`,
//! which covers the backbone's forward and the LoRA gradient): the update predictor `g_φ`,
//! whose forward every RAG-GD query runs and whose backward meta-training runs.
//! `cargo test --test backends` runs the CPU (`flex`) module; `--features wgpu` adds wgpu.

use burn::tensor::{Device, Tensor, TensorData};
use icor_llm::device_by_name;
use icor_llm::tensor_util::to_vec_f32;
use icor_rag::method::predictor::{Predictor, PredictorShape};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod flex {
            $( #[test] fn $name() { super::$name("flex"); } )*
        }
        #[cfg(feature = "wgpu")]
        mod wgpu {
            $( #[test] fn $name() { super::$name("wgpu"); } )*
        }
    };
}

on_every_backend!(predictor_forward_and_gradient,);

/// Tolerances of one backend: (forward against flex, relative to the output's largest entry;
/// directional derivative against the extrapolated central difference, relative).
fn tol(backend: &str) -> (f32, f64) {
    match backend {
        // Measured on flex: directional derivative 1.8e-6 (f32 rounding of the loss).
        "flex" => (0.0, 1e-3),
        // wgpu reduces in its own order. Measured on Mesa's lavapipe (llvmpipe, 256-bit):
        // forward 1.7e-7 of max |C|, directional derivative 1.3e-5.
        _ => (1e-5, 1e-3),
    }
}

fn device(backend: &str) -> Device {
    device_by_name(backend).unwrap_or_else(|e| panic!("backend `{backend}`: {e}"))
}

/// `g_φ` with 3 blocks of rank 4 on a 16-d input, random weights and biases (the fresh init
/// has zero biases, which would leave their gradient untested), a non-trivial
/// standardisation and per-block scale.
fn predictor() -> Predictor {
    let shape = PredictorShape {
        d: 16,
        hidden: 32,
        code: 8,
        blocks: 3,
        r: 4,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    let mean = (0..shape.d).map(|_| rng.random_range(-0.5..0.5)).collect();
    let std = (0..shape.d).map(|_| rng.random_range(0.5..2.0)).collect();
    let scale = (0..shape.blocks)
        .map(|_| rng.random_range(0.5..2.0))
        .collect();
    let mut p = Predictor::init(shape, mean, std, scale, 32);
    for w in &mut p.params {
        *w += rng.random_range(-0.1..0.1);
    }
    p
}

/// Forward `C = g_φ(h̄)` for a batch of 5 pooled states agrees with the CPU path (on backends
/// other than flex), and for L = Σ C ⊙ R the autodiff gradient's projection on a random
/// direction u of every weight, ⟨∇L, u⟩, equals the derivative of ε ↦ L(φ + εu) at 0 by
/// Richardson-extrapolated central differences on the same backend.
fn predictor_forward_and_gradient(backend: &str) {
    let (fwd_tol, grad_tol) = tol(backend);
    let dev = device(backend);
    let p = predictor();
    let s = p.shape;
    let mut rng = ChaCha8Rng::seed_from_u64(33);
    let mut draw = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let (b, out) = (5, s.blocks * s.r * s.r);
    let hbar_data = draw(b * s.d);
    let r_data = draw(b * out);
    let u = draw(s.params());
    let hbar = |d: &Device| Tensor::<2>::from_data(TensorData::new(hbar_data.clone(), [b, s.d]), d);
    let r = |d: &Device| {
        Tensor::<4>::from_data(TensorData::new(r_data.clone(), [b, s.blocks, s.r, s.r]), d)
    };

    let c = to_vec_f32(p.tensors(&dev, false).forward(hbar(&dev)));
    if backend != "flex" {
        let cpu = Device::flex();
        let want = to_vec_f32(p.tensors(&cpu, false).forward(hbar(&cpu)));
        let top = want.iter().fold(0f32, |m, x| m.max(x.abs()));
        let worst = c
            .iter()
            .zip(&want)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
            / top;
        println!("{backend}: g_φ forward within {worst:.2e} of flex (relative to max |C|)");
        assert!(
            worst <= fwd_tol,
            "{backend}: g_φ forward differs from flex by {worst:.2e} of max |C|"
        );
    }

    let ad = dev.clone().autodiff();
    let t = p.tensors(&ad, true);
    let grads = (t.forward(hbar(&ad)) * r(&ad)).sum().backward();
    let g = t.gradient(&grads);
    let along: f64 = g.iter().zip(&u).map(|(g, u)| f64::from(g * u)).sum();

    let loss_at = |step: f32| -> f64 {
        let mut q = p.clone();
        for (w, u) in q.params.iter_mut().zip(&u) {
            *w += step * u;
        }
        let l = (q.tensors(&dev, false).forward(hbar(&dev)) * r(&dev)).sum();
        f64::from(to_vec_f32(l)[0])
    };
    let central = |eps: f32| (loss_at(eps) - loss_at(-eps)) / (2.0 * f64::from(eps));
    let fd = (4.0 * central(5e-3) - central(1e-2)) / 3.0;
    let rel = (along - fd).abs() / along.abs().max(fd.abs()).max(1e-2);
    println!("{backend}: g_φ ⟨∇L, u⟩ = {along:.6e}, central difference {fd:.6e}, rel {rel:.2e}");
    assert!(
        rel < grad_tol,
        "{backend}: g_φ ⟨∇L, u⟩ = {along} but the central difference is {fd} (rel {rel:.2e})"
    );
}
