//! The same backbone tests on every compiled backend (burn's `testgen` pattern, as
//! `icor-probe/tests/backends.rs`): SmolLM2-135M's logits against the transformers reference,
//! and the LoRA gradient against a central difference along a random direction of every
//! adapter parameter at once. `cargo test --test backends` runs the CPU (`flex`) module;
//! `--features wgpu` adds the wgpu module (a GPU, or Mesa's software Vulkan driver in CI).
//!
//! Per-backend tolerances live in [`Tol::of`], each with the measurement that sets it.

mod tiny;

use std::path::PathBuf;

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use icor_llm::lora::LoraPair;
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{Adaptation, Llm, LoadedModel, LoraAdapter, device_by_name, load_model};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use tiny::{RandomSource, tiny_config};

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

on_every_backend!(
    smollm2_logits_match_transformers,
    lora_directional_derivative_matches_central_difference,
);

/// Tolerances of one backend.
struct Tol {
    /// `|Δ| ≤ logit_rtol · max(1, |ref|)` on SmolLM2's top-20 last-position logits against the
    /// transformers (CPU float32) reference.
    logit_rtol: f32,
    /// Relative gap between the autodiff directional derivative and the central difference.
    grad_rel: f32,
}

impl Tol {
    fn of(backend: &str) -> Tol {
        match backend {
            // Measured on flex: logits 1.7e-6 relative here (2.1e-6 over every prompt in
            // `llm_parity`), f32 summation order; directional derivative 2.1e-5 (f32 rounding
            // of a loss of order 10). Margins about 50×.
            "flex" => Tol {
                logit_rtol: 1e-4,
                grad_rel: 1e-3,
            },
            // wgpu computes in f32 with its own reduction order and fused kernels. Measured on
            // Mesa's lavapipe (llvmpipe, 256-bit): logits 2.7e-6, directional derivative
            // 1.1e-5. Same bounds as flex: a wrong RoPE pair, norm or bias (> 1e-2) fails.
            _ => Tol {
                logit_rtol: 1e-4,
                grad_rel: 1e-3,
            },
        }
    }
}

fn device(backend: &str) -> Device {
    device_by_name(backend).unwrap_or_else(|e| panic!("backend `{backend}`: {e}"))
}

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/llm")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("integer") as u32)
        .collect()
}

/// The first prompt of the SmolLM2 fixture (5 tokens: small shapes, few distinct kernels, so
/// a software Vulkan driver compiles them in reasonable time): argmax at every position and
/// the top-20 last-position logits agree with transformers.
fn smollm2_logits_match_transformers(backend: &str) {
    let tol = Tol::of(backend);
    let fx = fixture("smollm2-135m");
    let case = &fx["cases"][0];
    let LoadedModel { model, .. } = load_model("smollm2-135m", &device(backend))
        .unwrap_or_else(|e| panic!("{e} (run `icor fetch smollm2-135m` first)"));
    let ids = u32s(&case["token_ids"]);
    let logits = model
        .forward_logits(&ids, &Adaptation::none())
        .expect("forward");
    let [_, t, v] = logits.dims();
    let all = to_vec_f32(logits);
    let argmax: Vec<u32> = all
        .chunks_exact(v)
        .map(|row| {
            row.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i as u32)
                .expect("non-empty vocabulary")
        })
        .collect();
    assert_eq!(
        argmax,
        u32s(&case["argmax_per_position"]),
        "{backend}: argmax per position"
    );
    let last = &all[(t - 1) * v..];
    let mut worst = 0f32;
    for (id, want) in u32s(&case["top_ids"]).into_iter().zip(
        case["top_logits"]
            .as_array()
            .expect("top_logits")
            .iter()
            .map(|x| x.as_f64().expect("float") as f32),
    ) {
        let got = last[id as usize];
        let rel = (got - want).abs() / want.abs().max(1.0);
        worst = worst.max(rel);
        assert!(
            rel <= tol.logit_rtol,
            "{backend}: logit of token {id} is {got}, transformers {want} (rel {rel:.2e})"
        );
    }
    println!("{backend}: SmolLM2 top-20 logits within {worst:.2e} of transformers");
}

/// The adapter's parameters in a fixed order (layer, then Q/K/V, then A and B).
fn params(lora: &LoraAdapter) -> Vec<Tensor<2>> {
    lora.layers
        .iter()
        .flat_map(|l| [&l.q, &l.k, &l.v])
        .flat_map(|p| [p.a.val(), p.b.val()])
        .collect()
}

/// `lora` with its parameters replaced by `values` (same order as [`params`]) on `device`.
fn with_params(lora: &LoraAdapter, values: &[Vec<f32>], device: &Device) -> LoraAdapter {
    let mut out = lora.clone();
    let mut it = values.iter();
    let mut next = |old: &Tensor<2>| {
        let data = it.next().expect("one value per parameter").clone();
        Param::from_tensor(Tensor::from_data(TensorData::new(data, old.dims()), device))
    };
    for l in &mut out.layers {
        for p in [&mut l.q, &mut l.k, &mut l.v] {
            let LoraPair { a, b } = p;
            *a = next(&a.val());
            *b = next(&b.val());
        }
    }
    out
}

/// Loss = Σ logits ⊙ R (R fixed, seeded): smooth in every adapter entry. The gradient's
/// projection on a random direction u over all parameters, ⟨∇L, u⟩, equals the derivative of
/// ε ↦ L(θ + εu) at 0, taken by extrapolated central differences: one check covers every LoRA
/// parameter of every layer and projection, on the backend's own forward and backward.
fn lora_directional_derivative_matches_central_difference(backend: &str) {
    let tol = Tol::of(backend);
    let dev = device(backend);
    let src = RandomSource::new(tiny_config(4, 2), 21);
    let m = Llm::load(&src, src.config.clone(), &dev).expect("tiny model loads");
    let ids = [3u32, 17, 42, 5, 61, 0, 29];
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    let mut draw =
        |n: usize, s: f32| -> Vec<f32> { (0..n).map(|_| rng.random_range(-s..s)).collect() };
    let shape = LoraAdapter::new(&m.config, 3, 6.0, 23, &dev);
    let theta: Vec<Vec<f32>> = params(&shape)
        .iter()
        .map(|p| draw(p.dims().iter().product(), 0.5))
        .collect();
    let u: Vec<Vec<f32>> = theta.iter().map(|p| draw(p.len(), 1.0)).collect();
    let v = m.config.vocab_size;
    let r = Tensor::<3>::from_data(
        TensorData::new(draw(ids.len() * v, 1.0), [1, ids.len(), v]),
        &dev,
    );
    let loss = |lora: &LoraAdapter| -> Tensor<1> {
        m.forward_logits(&ids, &Adaptation::lora(lora))
            .expect("forward")
            .mul(r.clone())
            .sum()
    };

    // Autodiff on the backend's autodiff device.
    let ad = dev.clone().autodiff();
    let lora_ad = with_params(&shape, &theta, &ad);
    let grads = loss(&lora_ad).backward();
    let along: f64 = params(&lora_ad)
        .iter()
        .zip(&u)
        .map(|(p, u)| {
            let g = to_vec_f32(
                p.grad(&grads)
                    .expect("every adapter parameter has a gradient"),
            );
            g.iter().zip(u).map(|(g, u)| f64::from(g * u)).sum::<f64>()
        })
        .sum();

    // Central differences on the plain device, Richardson-extrapolated: D(ε) has an O(ε²)
    // error, (4·D(ε/2) − D(ε)) / 3 an O(ε⁴) one, so what is left is f32 rounding.
    let central = |eps: f32| -> f64 {
        let at = |step: f32| -> f64 {
            let values: Vec<Vec<f32>> = theta
                .iter()
                .zip(&u)
                .map(|(t, u)| t.iter().zip(u).map(|(t, u)| t + step * u).collect())
                .collect();
            f64::from(to_vec_f32(loss(&with_params(&shape, &values, &dev)))[0])
        };
        (at(eps) - at(-eps)) / (2.0 * f64::from(eps))
    };
    let fd = (4.0 * central(5e-3) - central(1e-2)) / 3.0;
    let rel = (along - fd).abs() / along.abs().max(fd.abs()).max(1e-2);
    println!("{backend}: ⟨∇L, u⟩ = {along:.6e}, central difference {fd:.6e}, rel {rel:.2e}");
    assert!(
        rel < f64::from(tol.grad_rel),
        "{backend}: ⟨∇L, u⟩ = {along} but the central difference is {fd} (rel {rel:.2e})"
    );
}
