//! Tiny randomly initialised backbones: shapes, KV cache, batched prefill, GQA, both RoPE
//! layouts, LoRA zero-init = base, LoRA/external-delta equivalences, a LoRA gradient check
//! against finite differences, adapter save/load.

mod tiny;

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{Adaptation, GenerateOptions, Llm, LoraAdapter, LowRankDelta, Proj, RopeLayout};
use tiny::{PermutedForGguf, RandomSource, RepeatedKv, max_abs_diff, tiny_config};

/// Float32 forward passes of the same tiny model computed along different paths agree to
/// rounding: ~1e-6 relative on logits of order 1; the margin covers gemm blocking.
const TOL: f32 = 1e-4;

const IDS: [u32; 7] = [3, 17, 42, 5, 61, 0, 29];

fn model(source: &RandomSource) -> Llm {
    Llm::load(source, source.config.clone(), &Device::flex()).expect("tiny model loads")
}

/// The logits of every position of `seq` through a KV cache: the first `prefill` tokens in one
/// pass, then one token per step; and the cache.
fn cached_logits(m: &Llm, seq: &[u32], prefill: usize) -> (Vec<f32>, icor_llm::KvCache) {
    let ids_t = |ids: &[u32]| {
        Tensor::<2, burn::tensor::Int>::from_data(
            TensorData::new(
                ids.iter().map(|&i| i as i64).collect::<Vec<_>>(),
                [1, ids.len()],
            ),
            m.device(),
        )
    };
    let mut cache = icor_llm::KvCache::new(m.config.n_layers);
    let mut got = Vec::new();
    for part in std::iter::once(&seq[..prefill]).chain(seq[prefill..].chunks(1)) {
        let h = m
            .forward_hidden(ids_t(part), Some(&mut cache), &Adaptation::none())
            .unwrap();
        got.extend(to_vec_f32(m.logits(h)));
    }
    (got, cache)
}

#[test]
fn logits_and_hidden_have_the_configured_shapes() {
    let src = RandomSource::new(tiny_config(4, 2), 1);
    let m = model(&src);
    let logits = m.forward_logits(&IDS, &Adaptation::none()).unwrap();
    assert_eq!(logits.dims(), [1, IDS.len(), src.config.vocab_size]);
    let h = m.hidden_states(&IDS, &Adaptation::none()).unwrap();
    assert_eq!(h.dims(), [1, IDS.len(), src.config.d_model]);
    assert!(to_vec_f32(logits).iter().all(|x| x.is_finite()));
}

#[test]
fn kv_cache_decoding_equals_full_forward() {
    let src = RandomSource::new(tiny_config(4, 2), 2);
    let m = model(&src);
    let full = to_vec_f32(m.forward_logits(&IDS, &Adaptation::none()).unwrap());
    let v = src.config.vocab_size;
    // Prefill 3 tokens, then one at a time.
    let (got, cache) = cached_logits(&m, &IDS, 3);
    assert_eq!(cache.len(), IDS.len());
    assert_eq!(got.len(), IDS.len() * v);
    let d = max_abs_diff(&full, &got);
    assert!(d < TOL, "cached vs full logits differ by {d}");
}

#[test]
fn batched_prefill_with_right_padding_equals_single_sequences() {
    let src = RandomSource::new(tiny_config(4, 2), 3);
    let m = model(&src);
    let seqs = vec![IDS.to_vec(), IDS[..3].to_vec(), vec![9, 8]];
    let batch = to_vec_f32(m.hidden_at_batch(&seqs, None, &Adaptation::none()).unwrap());
    let d = src.config.d_model;
    for (i, s) in seqs.iter().enumerate() {
        let h = m.hidden_states(s, &Adaptation::none()).unwrap();
        let last = to_vec_f32(h.narrow(1, s.len() - 1, 1).reshape([d]));
        let diff = max_abs_diff(&last, &batch[i * d..(i + 1) * d]);
        assert!(
            diff < TOL,
            "sequence {i}: batched EOS state differs by {diff}"
        );
    }
}

#[test]
fn gqa_equals_multi_head_attention_with_repeated_kv_heads() {
    // 4 query heads sharing 2 KV heads == 4 heads whose K/V weights repeat each KV head twice.
    let src = RandomSource::new(tiny_config(4, 2), 4);
    let gqa = model(&src);
    let mha_src = RepeatedKv::new(&src);
    let mha = Llm::load(&mha_src, mha_src.config.clone(), &Device::flex()).unwrap();
    assert_eq!(mha.config.n_kv_heads, 4);
    let a = to_vec_f32(gqa.forward_logits(&IDS, &Adaptation::none()).unwrap());
    let b = to_vec_f32(mha.forward_logits(&IDS, &Adaptation::none()).unwrap());
    let d = max_abs_diff(&a, &b);
    assert!(d < TOL, "GQA vs repeated-KV MHA differ by {d}");
}

#[test]
fn interleaved_rope_on_permuted_qk_equals_rotate_half() {
    // llama.cpp permutes Q/K rows so adjacent-pair RoPE reproduces HF's rotate-half model.
    for (heads, kv) in [(4, 2), (2, 2)] {
        let mut cfg = tiny_config(heads, kv);
        cfg.qkv_bias = true; // biases are permuted with their rows
        let src = RandomSource::new(cfg, 5);
        let hf = model(&src);
        assert_eq!(hf.config.rope_layout, RopeLayout::RotateHalf);
        let gg_src = PermutedForGguf::new(&src);
        let gg = Llm::load(&gg_src, gg_src.config.clone(), &Device::flex()).unwrap();
        assert_eq!(gg.config.rope_layout, RopeLayout::Interleaved);
        let a = to_vec_f32(hf.forward_logits(&IDS, &Adaptation::none()).unwrap());
        let b = to_vec_f32(gg.forward_logits(&IDS, &Adaptation::none()).unwrap());
        let d = max_abs_diff(&a, &b);
        assert!(
            d < TOL,
            "rotate-half vs interleaved ({heads}/{kv} heads) differ by {d}"
        );
        // The layouts are not interchangeable without the permutation.
        let wrong_src = RandomSource {
            config: gg_src.config.clone(),
            ..src.clone()
        };
        let wrong = Llm::load(&wrong_src, wrong_src.config.clone(), &Device::flex()).unwrap();
        let c = to_vec_f32(wrong.forward_logits(&IDS, &Adaptation::none()).unwrap());
        assert!(
            max_abs_diff(&a, &c) > 1e-3,
            "layout should matter without the permutation"
        );
    }
}

#[test]
fn lora_zero_init_is_the_base_model() {
    let src = RandomSource::new(tiny_config(4, 2), 6);
    let m = model(&src);
    let lora = LoraAdapter::new(&src.config, 4, 8.0, 7, m.device());
    let a = to_vec_f32(m.forward_logits(&IDS, &Adaptation::none()).unwrap());
    let b = to_vec_f32(m.forward_logits(&IDS, &Adaptation::lora(&lora)).unwrap());
    assert_eq!(
        max_abs_diff(&a, &b),
        0.0,
        "B = 0 must leave every logit unchanged"
    );
}

/// A LoRA adapter with random nonzero `B`, drawn on the host so that the same seed gives the
/// same adapter on any device.
fn random_lora_on(m: &Llm, seed: u64, dev: &Device) -> LoraAdapter {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut lora = LoraAdapter::new(&m.config, 3, 6.0, seed, dev);
    for layer in &mut lora.layers {
        for pair in [&mut layer.q, &mut layer.k, &mut layer.v] {
            let dims = pair.b.val().dims();
            let data: Vec<f32> = (0..dims[0] * dims[1])
                .map(|_| rng.random_range(-0.5..0.5))
                .collect();
            pair.b = burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(data, dims),
                dev,
            ));
        }
    }
    lora
}

fn random_lora(m: &Llm, seed: u64) -> LoraAdapter {
    random_lora_on(m, seed, m.device())
}

#[test]
fn lora_equals_the_external_delta_of_its_factors() {
    let src = RandomSource::new(tiny_config(4, 2), 8);
    let m = model(&src);
    let lora = random_lora(&m, 9);
    let mut delta = LowRankDelta::new();
    for l in 0..m.config.n_layers {
        for p in Proj::ALL {
            let (u, v) = lora.delta_factors(l, p).expect("every layer is adapted");
            delta.set(l, p, u, v).unwrap();
        }
    }
    let base = to_vec_f32(m.forward_logits(&IDS, &Adaptation::none()).unwrap());
    let a = to_vec_f32(m.forward_logits(&IDS, &Adaptation::lora(&lora)).unwrap());
    let b = to_vec_f32(
        m.forward_logits(&IDS, &Adaptation::none().with_delta(&delta))
            .unwrap(),
    );
    assert!(
        max_abs_diff(&base, &a) > 1e-3,
        "the adapter should change the logits"
    );
    let d = max_abs_diff(&a, &b);
    assert!(d < TOL, "LoRA vs U Vᵀ delta differ by {d}");
    // LoRA and delta together add up: W + ΔW_lora + ΔW_delta.
    let both = to_vec_f32(
        m.forward_logits(&IDS, &Adaptation::lora(&lora).with_delta(&delta))
            .unwrap(),
    );
    assert!(max_abs_diff(&both, &a) > 1e-3);
}

#[test]
fn external_delta_equals_editing_the_base_weights() {
    let src = RandomSource::new(tiny_config(4, 2), 10);
    let m = model(&src);
    let dev = m.device().clone();
    let (layer, r) = (1, 2);
    let out = m.config.proj_out(Proj::K);
    let d = m.config.d_model;
    dev.seed(11);
    let u = Tensor::<2>::random([out, r], Distribution::Normal(0.0, 0.5), &dev);
    let v = Tensor::<2>::random([d, r], Distribution::Normal(0.0, 0.5), &dev);
    let dw = to_vec_f32(u.clone().matmul(v.clone().transpose())); // [out, d]
    let mut delta = LowRankDelta::new();
    delta.set(layer, Proj::K, u, v).unwrap();
    let edited = src.with_added(
        icor_llm::WeightKey::Attn(layer, icor_llm::weights::AttnWeight::K),
        &dw,
    );
    let m2 = Llm::load(&edited, edited.config.clone(), &dev).unwrap();
    let a = to_vec_f32(
        m.forward_logits(&IDS, &Adaptation::none().with_delta(&delta))
            .unwrap(),
    );
    let b = to_vec_f32(m2.forward_logits(&IDS, &Adaptation::none()).unwrap());
    let diff = max_abs_diff(&a, &b);
    assert!(diff < TOL, "x V Uᵀ vs (W + U Vᵀ) differ by {diff}");
}

#[test]
fn delta_with_wrong_shape_is_an_error_naming_layer_and_projection() {
    let src = RandomSource::new(tiny_config(4, 2), 12);
    let m = model(&src);
    let dev = m.device().clone();
    let mut delta = LowRankDelta::new();
    delta
        .set(
            0,
            Proj::V,
            Tensor::zeros([7, 2], &dev),
            Tensor::zeros([16, 2], &dev),
        )
        .unwrap();
    let err = m
        .forward_logits(&IDS, &Adaptation::none().with_delta(&delta))
        .unwrap_err()
        .to_string();
    assert!(err.contains("layer 0 v") && err.contains("[7, 2]"), "{err}");
    assert!(
        delta
            .set(
                0,
                Proj::Q,
                Tensor::zeros([16, 2], &dev),
                Tensor::zeros([16, 3], &dev)
            )
            .is_err()
    );
}

/// Loss = Σ logits ⊙ R for a fixed random R: smooth in every LoRA entry.
fn probe_loss(m: &Llm, lora: &LoraAdapter, r: &Tensor<3>) -> Tensor<1> {
    m.forward_logits(&IDS, &Adaptation::lora(lora))
        .unwrap()
        .mul(r.clone())
        .sum()
}

#[test]
fn lora_gradient_matches_central_finite_differences() {
    let src = RandomSource::new(tiny_config(4, 2), 13);
    let m = model(&src); // frozen base on the plain CPU device
    let ad = Device::flex().autodiff();
    let base_lora = random_lora(&m, 14);
    let v = m.config.vocab_size;
    Device::flex().seed(15);
    let r = Tensor::<3>::random(
        [1, IDS.len(), v],
        Distribution::Normal(0.0, 1.0),
        &Device::flex(),
    );

    // Autodiff gradient w.r.t. every LoRA parameter (base weights get none).
    let lora_ad = random_lora_on(&m, 14, &ad);
    let loss = probe_loss(&m, &lora_ad, &r);
    let grads = loss.backward();
    let checks: [(usize, Proj, bool, usize); 4] = [
        (0, Proj::Q, true, 5),
        (1, Proj::K, false, 3),
        (1, Proj::V, true, 11),
        (0, Proj::V, false, 7),
    ];
    for (layer, proj, is_a, flat) in checks {
        let pair = lora_ad.layers[layer].pair(proj);
        let param = if is_a { pair.a.val() } else { pair.b.val() };
        let g = to_vec_f32(param.grad(&grads).expect("LoRA parameter has a gradient"))[flat];

        // Central difference in f32 on the plain device.
        let eps = 1e-2f32;
        let eval = |delta: f32| -> f32 {
            let mut l = base_lora.clone();
            let p = l.layers[layer].pair(proj);
            let t = if is_a { p.a.val() } else { p.b.val() };
            let dims = t.dims();
            let mut data = to_vec_f32(t.clone());
            data[flat] += delta;
            let new = Tensor::<2>::from_data(TensorData::new(data, dims), &Device::flex());
            let lp = match proj {
                Proj::Q => &mut l.layers[layer].q,
                Proj::K => &mut l.layers[layer].k,
                Proj::V => &mut l.layers[layer].v,
            };
            if is_a {
                lp.a = burn::module::Param::from_tensor(new);
            } else {
                lp.b = burn::module::Param::from_tensor(new);
            }
            to_vec_f32(probe_loss(&m, &l, &r))[0]
        };
        let fd = (eval(eps) - eval(-eps)) / (2.0 * eps);
        let rel = (g - fd).abs() / g.abs().max(fd.abs()).max(1e-2);
        assert!(
            rel < 2e-2,
            "layer {layer} {} {}[{flat}]: autodiff {g} vs finite difference {fd} (rel {rel:.2e})",
            proj.name(),
            if is_a { "A" } else { "B" }
        );
    }
}

#[test]
fn adapter_save_load_roundtrips_exactly() {
    let src = RandomSource::new(tiny_config(4, 2), 16);
    let m = model(&src);
    let lora = random_lora(&m, 17);
    let path = std::env::temp_dir().join(format!("icor-lora-{}.safetensors", std::process::id()));
    lora.save(&path).unwrap();
    let back = LoraAdapter::load(&path, &m.config, m.device()).unwrap();
    assert_eq!(back.rank, lora.rank);
    assert_eq!(back.alpha, lora.alpha);
    let a = to_vec_f32(m.forward_logits(&IDS, &Adaptation::lora(&lora)).unwrap());
    let b = to_vec_f32(m.forward_logits(&IDS, &Adaptation::lora(&back)).unwrap());
    assert_eq!(max_abs_diff(&a, &b), 0.0);
    // A model with another layer count rejects it, naming the tensor.
    let mut other = m.config.clone();
    other.n_layers += 1;
    let err = LoraAdapter::load(&path, &other, m.device())
        .unwrap_err()
        .to_string();
    assert!(err.contains("layers.2.self_attn.q_proj.lora_A"), "{err}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn greedy_generation_stops_at_stop_tokens_and_limit() {
    let src = RandomSource::new(tiny_config(4, 2), 18);
    let m = model(&src);
    let opts = GenerateOptions {
        max_new_tokens: 5,
        stop_ids: vec![],
    };
    let out = m.generate_greedy(&IDS, &opts, &Adaptation::none()).unwrap();
    assert_eq!(out.len(), 5);
    // Greedy = argmax of the full forward at each step.
    let mut seq = IDS.to_vec();
    for &tok in &out {
        let l = m.forward_logits(&seq, &Adaptation::none()).unwrap();
        let t = seq.len();
        let last = to_vec_f32(l.narrow(1, t - 1, 1).reshape([m.config.vocab_size]));
        let am = last
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b })
            .0 as u32;
        assert_eq!(am, tok);
        seq.push(tok);
    }
    let stop = GenerateOptions {
        max_new_tokens: 5,
        stop_ids: vec![out[2]],
    };
    let cut = m.generate_greedy(&IDS, &stop, &Adaptation::none()).unwrap();
    assert_eq!(
        cut,
        out[..out.iter().position(|&t| t == out[2]).unwrap()].to_vec()
    );
    assert!(m.generate_greedy(&[], &opts, &Adaptation::none()).is_err());
    assert!(
        m.generate_greedy(&[10_000], &opts, &Adaptation::none())
            .is_err()
    );
}

#[test]
fn adamw_steps_on_the_lora_parameters_lower_an_answer_loss() {
    use burn::optim::{AdamWConfig, GradientsParams};
    // RAG-GD's W_0^ret training in miniature: cross-entropy of a target next token, AdamW on
    // the LoRA parameters only (the backbone is plain tensors and has no gradient).
    let src = RandomSource::new(tiny_config(4, 2), 30);
    let m = model(&src);
    let ad = Device::flex().autodiff();
    let mut lora = LoraAdapter::new(&m.config, 4, 8.0, 31, &ad);
    let target = 7usize;
    let loss_of = |lora: &LoraAdapter| -> Tensor<1> {
        let logits = m.forward_logits(&IDS, &Adaptation::lora(lora)).unwrap();
        let [_, t, v] = logits.dims();
        let last = logits.narrow(1, t - 1, 1).reshape([1, v]);
        burn::tensor::activation::log_softmax(last, 1)
            .narrow(1, target, 1)
            .neg()
            .sum()
    };
    let first = to_vec_f32(loss_of(&lora))[0];
    let mut optim = AdamWConfig::new().with_weight_decay(0.01).init();
    for _ in 0..10 {
        let loss = loss_of(&lora);
        let grads = GradientsParams::from_grads(loss.backward(), &lora);
        lora = optim.step(1e-2, lora, grads);
    }
    let last = to_vec_f32(loss_of(&lora))[0];
    assert!(last < first - 0.1, "loss {first} → {last} should fall");
}

#[test]
fn top_layer_adapter_from_frozen_states_equals_the_full_forward() {
    // An adapter on layers 2.. and the residual stream entering layer 2 computed once without
    // it: the upper layers then give the same logits as one full adapted forward pass.
    let src = RandomSource::new(four_layers(), 40);
    let m = model(&src);
    let mut lora = random_lora(&m, 41);
    lora.layers.drain(..2);
    lora.first_layer = 2;
    let adapt = Adaptation::lora(&lora);
    let full = to_vec_f32(m.forward_logits(&IDS, &adapt).unwrap());
    let x = m.embed(&IDS, 1).unwrap();
    let x = m
        .forward_layers(x, 0..2, None, &Adaptation::none())
        .unwrap();
    let h = m.final_norm(m.forward_layers(x, 2..4, None, &adapt).unwrap());
    let split = to_vec_f32(m.logits(h));
    let d = max_abs_diff(&full, &split);
    assert!(d < TOL, "split forward differs by {d}");
    // And the lower layers are really untouched: a LoRA on layers 2.. changes nothing below.
    let none = to_vec_f32(m.forward_logits(&IDS, &Adaptation::none()).unwrap());
    assert!(max_abs_diff(&none, &full) > 1e-3);
}

#[test]
fn batched_rows_with_their_own_adaptations_equal_one_generation_each() {
    // Vanilla, LoRA, and LoRA + delta decoded as three rows of one batch from one shared
    // frozen prefix give the tokens each gives alone.
    let src = RandomSource::new(four_layers(), 50);
    let m = model(&src);
    let lora = random_lora(&m, 51);
    let other = random_lora(&m, 52);
    let mut delta = LowRankDelta::new();
    for l in 0..m.config.n_layers {
        for p in Proj::ALL {
            let (u, v) = other.delta_factors(l, p).unwrap();
            delta.set(l, p, u, v).unwrap();
        }
    }
    let rows = [
        Adaptation::none(),
        Adaptation::lora(&lora),
        Adaptation::lora(&lora).with_delta(&delta),
    ];
    let opts = GenerateOptions {
        max_new_tokens: 6,
        stop_ids: vec![],
    };
    for split in [0, 1] {
        let stack = icor_llm::RowDeltas::stack(&m.config, &rows, m.device()).unwrap();
        let prefix = m.frozen_prefix(&IDS, split).unwrap();
        // With split > 0 the rows' adaptations must not touch layers below it: use
        // adapters restricted to the top layers for the comparison.
        let got = m
            .generate_greedy_rows(&prefix, rows.len(), &opts, &Adaptation::per_row(&stack))
            .unwrap();
        for (r, a) in rows.iter().enumerate() {
            if split > 0 && r > 0 {
                continue; // adapters on every layer: only the bare row is comparable
            }
            let want = m.generate_greedy(&IDS, &opts, a).unwrap();
            assert_eq!(got[r], want, "split {split}, row {r}");
        }
    }
    // Top-layer adapters and a shared prefix of the frozen layers.
    let mut top = random_lora(&m, 53);
    top.layers.drain(..2);
    top.first_layer = 2;
    let rows = [Adaptation::none(), Adaptation::lora(&top)];
    let stack = icor_llm::RowDeltas::stack(&m.config, &rows, m.device()).unwrap();
    let prefix = m.frozen_prefix(&IDS, 2).unwrap();
    let got = m
        .generate_greedy_rows(&prefix, 2, &opts, &Adaptation::per_row(&stack))
        .unwrap();
    for (r, a) in rows.iter().enumerate() {
        assert_eq!(
            got[r],
            m.generate_greedy(&IDS, &opts, a).unwrap(),
            "top row {r}"
        );
    }
    // Rows that stop at different steps leave the batch; the others go on unchanged.
    let stop = got[1][2];
    let opts_stop = GenerateOptions {
        max_new_tokens: 6,
        stop_ids: vec![stop],
    };
    let got = m
        .generate_greedy_rows(&prefix, 2, &opts_stop, &Adaptation::per_row(&stack))
        .unwrap();
    for (r, a) in rows.iter().enumerate() {
        assert_eq!(
            got[r],
            m.generate_greedy(&IDS, &opts_stop, a).unwrap(),
            "stop row {r}"
        );
    }
    assert_eq!(got[1].len(), 2, "row 1 stops at its third token");
    // A batch whose row count disagrees with the stack is an error, not a panic.
    let err = m.generate_greedy_rows(&prefix, 3, &opts, &Adaptation::per_row(&stack));
    assert!(err.is_err());
}

/// The tiny configuration with four layers (two frozen below a two-layer interface).
fn four_layers() -> icor_llm::LlmConfig {
    icor_llm::LlmConfig {
        n_layers: 4,
        ..tiny_config(4, 2)
    }
}

/// Prompts of different lengths, left-padded into one batch: the last-position logits of each
/// row equal the prompt's own forward pass (positions and keys are each row's, padding is
/// never read), and greedy decoding gives every row the tokens it gets alone, rows stopping
/// at different steps, with and without a LoRA on every row.
#[test]
fn left_padded_prompts_decode_as_each_prompt_alone() {
    let src = RandomSource::new(tiny_config(4, 2), 23);
    let m = model(&src);
    let prompts: Vec<Vec<u32>> = vec![
        IDS.to_vec(),
        vec![9],
        vec![44, 2, 8],
        vec![7, 7, 30, 1, 12, 50, 3, 3, 19, 4],
    ];
    let b = prompts.len();
    let t = prompts.iter().map(Vec::len).max().unwrap();
    let pads: Vec<usize> = prompts.iter().map(|p| t - p.len()).collect();
    let ids: Vec<i64> = prompts
        .iter()
        .zip(&pads)
        .flat_map(|(p, &pad)| std::iter::repeat_n(0i64, pad).chain(p.iter().map(|&i| i as i64)))
        .collect();
    let dev = m.device().clone();
    let mut cache = icor_llm::KvCache::left_padded(src.config.n_layers, pads.clone());
    let ids_t = Tensor::<2, burn::tensor::Int>::from_data(TensorData::new(ids, [b, t]), &dev);
    let h = m
        .forward_hidden(ids_t, Some(&mut cache), &Adaptation::none())
        .unwrap();
    let v = src.config.vocab_size;
    let last = to_vec_f32(m.logits(h.narrow(1, t - 1, 1)));
    for (r, p) in prompts.iter().enumerate() {
        let alone = m.forward_logits(p, &Adaptation::none()).unwrap();
        let alone = to_vec_f32(alone.narrow(1, p.len() - 1, 1).reshape([v]));
        let d = max_abs_diff(&alone, &last[r * v..(r + 1) * v]);
        assert!(d < TOL, "row {r} (pad {}): logits differ by {d}", pads[r]);
    }

    let lora = random_lora(&m, 5);
    for adapt in [Adaptation::none(), Adaptation::lora(&lora)] {
        let free = GenerateOptions {
            max_new_tokens: 6,
            stop_ids: vec![],
        };
        let alone: Vec<Vec<u32>> = prompts
            .iter()
            .map(|p| m.generate_greedy(p, &free, &adapt).unwrap())
            .collect();
        assert_eq!(
            m.generate_greedy_batch(&prompts, &free, &adapt).unwrap(),
            alone
        );
        // stop at a token some rows emit early: rows leave the batch at different steps
        let stop = GenerateOptions {
            max_new_tokens: 6,
            stop_ids: vec![alone[0][1], alone[2][0]],
        };
        let alone: Vec<Vec<u32>> = prompts
            .iter()
            .map(|p| m.generate_greedy(p, &stop, &adapt).unwrap())
            .collect();
        let lens: Vec<usize> = alone.iter().map(Vec::len).collect();
        assert_ne!(
            lens.iter().min(),
            lens.iter().max(),
            "rows stop together: {lens:?}"
        );
        assert_eq!(
            m.generate_greedy_batch(&prompts, &stop, &adapt).unwrap(),
            alone
        );
    }
    let err = m
        .generate_greedy_batch(
            &[vec![1], vec![]],
            &GenerateOptions {
                max_new_tokens: 2,
                stop_ids: vec![],
            },
            &Adaptation::none(),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("prompt 1"), "{err}");
}

/// Three prompts of different lengths, each under several interfaces (top-layer LoRAs, a
/// frozen prefix of the two layers below them shared per prompt), decoded as one batch of
/// five rows: every row gives the tokens its prompt gives alone under its interface.
#[test]
fn rows_of_several_prompts_decode_as_each_alone() {
    let src = RandomSource::new(four_layers(), 60);
    let m = model(&src);
    let top = |seed: u64| {
        let mut l = random_lora(&m, seed);
        l.layers.drain(..2);
        l.first_layer = 2;
        l
    };
    let (a, b) = (top(61), top(62));
    let prompts: Vec<Vec<u32>> = vec![vec![5, 9, 13], IDS.to_vec(), vec![40]];
    let row_prompts = [0, 1, 1, 2, 0];
    let row_adapts = [
        Adaptation::lora(&a),
        Adaptation::none(),
        Adaptation::lora(&b),
        Adaptation::lora(&a),
        Adaptation::lora(&b),
    ];
    let stack = icor_llm::RowDeltas::stack(&m.config, &row_adapts, m.device()).unwrap();
    let opts = GenerateOptions {
        max_new_tokens: 5,
        stop_ids: vec![],
    };
    let prefix = m.frozen_prefix_batch(&prompts, 2).unwrap();
    let got = m
        .generate_greedy_rows_of(&prefix, &row_prompts, &opts, &Adaptation::per_row(&stack))
        .unwrap();
    for (j, (&p, adapt)) in row_prompts.iter().zip(&row_adapts).enumerate() {
        let want = m.generate_greedy(&prompts[p], &opts, adapt).unwrap();
        assert_eq!(got[j], want, "row {j} (prompt {p})");
    }
    let err = m
        .generate_greedy_rows_of(&prefix, &[0, 3], &opts, &Adaptation::none())
        .unwrap_err()
        .to_string();
    assert!(err.contains("prompt 3"), "{err}");
}

/// Rows over a prefix split above layer 0 share the frozen layers while their tokens agree:
/// three left-padded prompts, each under the bare backbone, two copies of one top-layer adapter
/// (a group that never splits) and other top-layer adapters (groups that split at some step).
/// Every row's tokens equal its prompt decoded alone under its adaptation, and the same with
/// the sharing turned off; among the rows are pairs that agree on their first token and
/// diverge later (a group split mid-answer).
#[test]
fn rows_sharing_the_frozen_layers_decode_as_each_alone() {
    let src = RandomSource::new(four_layers(), 60);
    let m = model(&src);
    let top = |seed: u64| {
        let mut l = random_lora(&m, seed);
        l.layers.drain(..2);
        l.first_layer = 2;
        l
    };
    let adapters: Vec<LoraAdapter> = (61..66).map(top).collect();
    let mut adapts = vec![Adaptation::none()];
    adapts.push(Adaptation::lora(&adapters[0]));
    adapts.extend(adapters.iter().map(Adaptation::lora));
    let prompts: Vec<Vec<u32>> = vec![IDS.to_vec(), IDS[..4].to_vec(), vec![9, 8, 7, 6, 5, 4]];
    let opts = GenerateOptions {
        max_new_tokens: 8,
        stop_ids: vec![],
    };
    let mut row_prompts = Vec::new();
    let mut rows = Vec::new();
    for p in 0..prompts.len() {
        for a in &adapts {
            row_prompts.push(p);
            rows.push(*a);
        }
    }
    let stack = icor_llm::RowDeltas::stack(&m.config, &rows, m.device()).unwrap();
    let prefix = m.frozen_prefix_batch(&prompts, 2).unwrap();
    let decode = || {
        m.generate_greedy_rows_of(&prefix, &row_prompts, &opts, &Adaptation::per_row(&stack))
            .unwrap()
    };
    let shared = decode();
    icor_llm::generate::set_shared_lower(false);
    let unshared = decode();
    icor_llm::generate::set_shared_lower(true);
    assert_eq!(shared, unshared);
    let mut split_mid_answer = false;
    for (j, (&p, a)) in row_prompts.iter().zip(&rows).enumerate() {
        let alone = m.generate_greedy(&prompts[p], &opts, a).unwrap();
        assert_eq!(shared[j], alone, "row {j} (prompt {p})");
        for k in 0..j {
            let (x, y) = (&shared[j], &shared[k]);
            split_mid_answer |= row_prompts[k] == p && x[0] == y[0] && x != y;
        }
    }
    assert!(
        split_mid_answer,
        "no group split after the first token: {shared:?}"
    );
}

/// A tiny model with heads 32 wide, the width the CPU attention kernel has a fixed-width body
/// for (the tiny model's are 4), and room for more positions than a cache's reserve.
fn wide_heads(seed: u64) -> RandomSource {
    let config = icor_llm::LlmConfig {
        head_dim: 32,
        max_positions: 160,
        ..tiny_config(4, 2)
    };
    RandomSource::new(config, seed)
}

/// Three prompts of different lengths decoded for more tokens than a cache buffer is created
/// with room for (so every layer's buffers grow): the batch gives each prompt's tokens alone.
/// Returns the answers.
fn batch_past_the_reserve_equals_each_alone(m: &Llm, adapt: &Adaptation<'_>) -> Vec<Vec<u32>> {
    let steps = icor_llm::kv_cache::RESERVE + 10;
    let prompts: Vec<Vec<u32>> = vec![IDS.to_vec(), vec![9, 1], vec![44, 2, 8, 8, 13]];
    let opts = GenerateOptions {
        max_new_tokens: steps,
        stop_ids: vec![],
    };
    let alone: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| m.generate_greedy(p, &opts, adapt).unwrap())
        .collect();
    assert!(alone.iter().all(|a| a.len() == steps));
    assert_eq!(
        m.generate_greedy_batch(&prompts, &opts, adapt).unwrap(),
        alone
    );
    alone
}

/// Heads 32 wide: prompts decoded as a batch past the cache's reserve give each prompt's
/// tokens alone, and a cached decoding's logits at every step equal the full forward pass
/// over the whole sequence.
#[test]
fn wide_heads_decode_past_the_cache_reserve_as_each_prompt_alone() {
    let src = wide_heads(71);
    let m = model(&src);
    let alone = batch_past_the_reserve_equals_each_alone(&m, &Adaptation::none());

    // The first prompt and its answer, fed one token at a time after the prompt.
    let seq: Vec<u32> = IDS.iter().chain(&alone[0]).copied().collect();
    let full = to_vec_f32(m.forward_logits(&seq, &Adaptation::none()).unwrap());
    let v = src.config.vocab_size;
    let (got, _) = cached_logits(&m, &seq, IDS.len());
    assert_eq!(got.len(), seq.len() * v);
    let d = max_abs_diff(&full, &got);
    assert!(d < TOL, "cached vs full logits differ by {d}");
}

/// A KV cache kept in f16 (`Llm::with_kv_cache`): prompts of different lengths decoded as one
/// batch, bare and under a LoRA, give the tokens each gives alone, past the cache's reserve
/// (its buffers grown in f16); cached logits equal the whole sequence's forward pass (which
/// reads the same rounded keys); and the logits move from the f32 cache's, by a few f16
/// roundings and no more.
#[test]
fn an_f16_kv_cache_decodes_as_each_prompt_alone_near_the_f32_cache() {
    let src = wide_heads(72);
    let m32 = model(&src);
    let m = model(&src).with_kv_cache(icor_kernels::Precision::F16);
    assert_eq!(m.kv_cache(), icor_kernels::Precision::F16);
    let lora = random_lora(&m, 9);
    for adapt in [Adaptation::none(), Adaptation::lora(&lora)] {
        batch_past_the_reserve_equals_each_alone(&m, &adapt);
    }

    let seq: Vec<u32> = IDS.iter().chain(&[44, 2, 8, 8, 13]).copied().collect();
    let full = to_vec_f32(m.forward_logits(&seq, &Adaptation::none()).unwrap());
    let (got, _) = cached_logits(&m, &seq, IDS.len());
    let d = max_abs_diff(&full, &got);
    assert!(d < TOL, "cached vs full logits (f16 cache) differ by {d}");
    let (f32_cache, _) = cached_logits(&m32, &seq, IDS.len());
    let drift = max_abs_diff(&f32_cache, &got);
    assert!(
        drift > 0.0 && drift < 1e-2,
        "f16 against f32 cache: logits differ by {drift}"
    );
}
