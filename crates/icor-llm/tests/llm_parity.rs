//! Parity of the Rust backbone with Hugging Face transformers (CPU torch, float32) on the same
//! GGUF files; fixtures written by `scripts/llm_parity_fixtures.py`.
//!
//! SmolLM2-135M runs in CI (the asset is fetched by `.ci/run`); Qwen2.5-Coder-0.5B is heavier
//! and opt-in: `cargo test -p icor-rag --test llm_parity -- --ignored`.
//!
//! Tolerance: both sides dequantise the same blocks to the same f32 weights, so the only
//! differences are float32 rounding from different summation orders (gemm blocking vs.
//! oneDNN/MKL), compounded over the layers. Logits are compared as
//! `|Δ| ≤ LOGIT_RTOL · max(1, |ref|)`.

use std::path::PathBuf;

use burn::tensor::Device;
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{Adaptation, GenerateOptions, LoadedModel, load_model, load_model_packed};
use serde_json::Value;

/// Relative logit tolerance (see the module docs). Measured worst cases over the top-20
/// logits of every prompt: 2.1e-6 (SmolLM2-135M) and 1.8e-6 (Qwen2.5-Coder-0.5B), i.e. a few
/// f32 ulps at logits of ~15; 1e-4 leaves a 50× margin for other CPUs' summation orders while
/// still catching any real error (a wrong RoPE pair, bias or norm moves logits by > 1e-2).
const LOGIT_RTOL: f32 = 1e-4;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/llm")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).expect("fixture present");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("float") as f32)
        .collect()
}

/// Checks every case of the fixture; returns the worst relative logit difference.
/// How a model is checked: with its frozen projections packed for inference in `weights`
/// (`f32`, the default, must match transformers to f32 rounding and token for token; `f16`
/// rounds every weight, so only its top-20 logits and top-1 are held to `rtol`).
struct Check {
    weights: &'static str,
    /// How the KV cache is kept (`f32`, the default, or `f16`).
    kv: &'static str,
    rtol: f32,
    exact_tokens: bool,
}

/// The default build: f32 weights, held to [`LOGIT_RTOL`] and every token.
const F32: Check = Check {
    weights: "f32",
    kv: "f32",
    rtol: LOGIT_RTOL,
    exact_tokens: true,
};

fn check_model(name: &str) -> f32 {
    check_model_as(name, &F32)
}

fn check_model_as(name: &str, check: &Check) -> f32 {
    let fx = fixture(name);
    let device = Device::flex();
    let precision = icor_llm::decode_weights::parse_precision(check.weights).expect("precision");
    let LoadedModel {
        model, tokenizer, ..
    } = load_model_packed(name, &device, precision).expect("model loads (run `icor fetch` first)");
    let model = model.with_kv_cache(icor_llm::kv_precision::parse(check.kv).expect("kv"));
    let mut worst = 0f32;
    for case in fx["cases"].as_array().expect("cases") {
        let case_name = case["name"].as_str().expect("name");
        let text = case["text"].as_str().expect("text");
        // The chat template renders exactly the reference's text.
        if let Some(chat) = case.get("chat") {
            let rendered = tokenizer.chat_prompt(
                chat["system"].as_str(),
                chat["user"].as_str().expect("user"),
            );
            assert_eq!(rendered, text, "{name}/{case_name}: chat template differs");
        }
        // Token ids.
        let want_ids = ids(&case["token_ids"]);
        let got_ids = tokenizer.encode(text).expect("encode");
        assert_eq!(got_ids, want_ids, "{name}/{case_name}: token ids differ");
        assert_eq!(tokenizer.decode(&got_ids, false).expect("decode"), text);

        // Forward pass: argmax at every position and last-position top-k logits.
        let logits = model
            .forward_logits(&got_ids, &Adaptation::none())
            .expect("forward");
        let [_, t, v] = logits.dims();
        let argmax: Vec<u32> = icor_llm::tensor_util::to_vec_f32(logits.clone().reshape([t, v]))
            .chunks_exact(v)
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold((0usize, f32::NEG_INFINITY), |b, (i, &x)| {
                        if x > b.1 { (i, x) } else { b }
                    })
                    .0 as u32
            })
            .collect();
        if check.exact_tokens {
            assert_eq!(
                argmax,
                ids(&case["argmax_per_position"]),
                "{name}/{case_name}: argmax per position differs"
            );
        }
        let last = to_vec_f32(logits.narrow(1, t - 1, 1).reshape([v]));
        let top_ids = ids(&case["top_ids"]);
        let top_logits = floats(&case["top_logits"]);
        for (&id, &want) in top_ids.iter().zip(&top_logits) {
            let got = last[id as usize];
            let rel = (got - want).abs() / want.abs().max(1.0);
            worst = worst.max(rel);
            assert!(
                rel <= check.rtol,
                "{name}/{case_name}: logit of token {id} is {got}, reference {want} (rel {rel:.2e})"
            );
        }
        // Same top-k set in the same order.
        let mut order: Vec<usize> = (0..v).collect();
        order.select_nth_unstable_by(top_ids.len(), |&a, &b| last[b].total_cmp(&last[a]));
        let mut got_top: Vec<usize> = order[..top_ids.len()].to_vec();
        got_top.sort_by(|&a, &b| last[b].total_cmp(&last[a]));
        assert_eq!(
            got_top[0] as u32, top_ids[0],
            "{name}/{case_name}: top-1 differs"
        );

        if !check.exact_tokens {
            eprintln!(
                "{name}/{case_name} ({} weights, {} cache): worst rel logit diff so far {worst:.2e}",
                check.weights, check.kv
            );
            continue;
        }
        // Greedy continuation (no stop tokens), through the KV cache.
        let n = fx["new_tokens"].as_u64().expect("new_tokens") as usize;
        let greedy = model
            .generate_greedy(
                &got_ids,
                &GenerateOptions {
                    max_new_tokens: n,
                    stop_ids: vec![],
                },
                &Adaptation::none(),
            )
            .expect("generate");
        assert_eq!(
            greedy,
            ids(&case["greedy_ids"]),
            "{name}/{case_name}: greedy continuation differs: {:?}",
            tokenizer.decode(&greedy, false)
        );
        eprintln!("{name}/{case_name}: ok ({t} tokens, worst rel logit diff so far {worst:.2e})");
    }
    worst
}

#[test]
fn smollm2_matches_transformers_ids_argmax_logits_greedy() {
    let worst = check_model("smollm2-135m");
    eprintln!("smollm2-135m: worst relative logit difference {worst:.3e}");
}

/// f16 weights (`--decode-weights f16`): the drift of the top-20 logits from transformers'
/// f32 logits stays within [`F16_RTOL`].
const F16: Check = Check {
    weights: "f16",
    kv: "f32",
    rtol: F16_RTOL,
    exact_tokens: false,
};

/// Relative tolerance on the top-20 logits with f16 weights. Measured worst cases over the
/// top-20 logits of every prompt (2026-12-06): 8.1e-4 (SmolLM2-135M) and 5.3e-4
/// (Qwen2.5-0.5B), against 2e-6 with f32 weights; 5e-3 leaves a 6× margin and still fails on a
/// wrongly packed panel (logits off by > 1e-1).
const F16_RTOL: f32 = 5e-3;

#[test]
fn smollm2_f16_weights_stay_near_transformers_logits() {
    let worst = check_model_as("smollm2-135m", &F16);
    eprintln!("smollm2-135m, f16 weights: worst relative logit difference {worst:.3e}");
}

#[test]
#[ignore = "loads Qwen2.5-Coder-0.5B; run with --ignored"]
fn qwen25_f16_weights_stay_near_transformers_logits() {
    let worst = check_model_as("qwen2.5-0.5b", &F16);
    eprintln!("qwen2.5-0.5b, f16 weights: worst relative logit difference {worst:.3e}");
}

/// A KV cache kept in f16 (`--kv-cache f16`), f32 weights: the drift of the top-20 logits
/// from transformers' f32 logits stays within [`KV16_RTOL`].
const KV16: Check = Check {
    weights: "f32",
    kv: "f16",
    rtol: KV16_RTOL,
    exact_tokens: false,
};

/// Relative tolerance on the top-20 logits with the KV cache in f16. Measured worst cases over
/// the top-20 logits of every prompt (2026-12-08): 4.5e-4 (SmolLM2-135M) and 8.5e-4
/// (Qwen2.5-0.5B), the size of f16 weights' drift; the same 5e-3 leaves a 6× margin.
const KV16_RTOL: f32 = 5e-3;

#[test]
fn smollm2_f16_kv_cache_stays_near_transformers_logits() {
    let worst = check_model_as("smollm2-135m", &KV16);
    eprintln!("smollm2-135m, f16 KV cache: worst relative logit difference {worst:.3e}");
}

#[test]
#[ignore = "loads Qwen2.5-Coder-0.5B; run with --ignored"]
fn qwen25_f16_kv_cache_stays_near_transformers_logits() {
    let worst = check_model_as("qwen2.5-0.5b", &KV16);
    eprintln!("qwen2.5-0.5b, f16 KV cache: worst relative logit difference {worst:.3e}");
}

#[test]
#[ignore = "Qwen2.5-Coder-0.5B parity is slow in the dev profile; run with --ignored"]
fn qwen25_matches_transformers_ids_argmax_logits_greedy() {
    let worst = check_model("qwen2.5-0.5b");
    eprintln!("qwen2.5-0.5b: worst relative logit difference {worst:.3e}");
}

/// The acceptance example of issue 4: FlashRAG's standard-RAG prompt with one document about
/// the first Nobel Prize in Physics; Qwen2.5-Coder-0.5B answers with the laureate's name.
#[test]
#[ignore = "loads Qwen2.5-Coder-0.5B; run with --ignored"]
fn qwen25_answers_the_rontgen_question() {
    let fx = fixture("qwen2.5-0.5b");
    let case = fx["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == "chat_rag_nobel")
        .expect("RAG case");
    let LoadedModel {
        model, tokenizer, ..
    } = load_model("qwen2.5-0.5b", &Device::flex()).expect("model loads");
    let chat = &case["chat"];
    let prompt = tokenizer.chat_prompt(
        chat["system"].as_str(),
        chat["user"].as_str().expect("user"),
    );
    let ids = tokenizer.encode(&prompt).expect("encode");
    let out = model
        .generate_greedy(
            &ids,
            &GenerateOptions {
                max_new_tokens: 32,
                stop_ids: tokenizer.stop_ids.clone(),
            },
            &Adaptation::none(),
        )
        .expect("generate");
    assert_eq!(
        tokenizer.decode(&out, true).expect("decode"),
        "Wilhelm Conrad Röntgen"
    );
}
