//! Batched greedy decoding across questions on the real models gives every question the
//! answer it gets alone: NQ test questions in the RAG prompt of the evaluation (two corpus
//! passages of ≤ 24 tokens each, 16 new tokens at most, stopping at the tokenizer's stop ids
//! and at line breaks), decoded one at a time and as left-padded batches of 16 prompts
//! (`Llm::generate_greedy_batch`), and as rows of a batched frozen prefix
//! (`Llm::generate_greedy_rows_of`), must agree token by token. SmolLM2 on 16 questions (one
//! batch) runs in the test suite; both models on 100 questions with `--ignored`.

use std::path::PathBuf;

use burn::tensor::Device;
use icor_llm::{Adaptation, GenerateOptions, Llm, LoadedModel, load_model};
use icor_qa::data::{
    Passage, QaExample, ReadOptions, corpus_path, dataset_path, ensure_prepared, find_dataset,
    read_all,
};
use icor_rag::experiment::prompt::{Item, Prompter};

/// Prompts per batch: the size the decoding benchmark reports.
const BATCH: usize = 16;

fn home() -> PathBuf {
    icor_assets::home::resolve(None).expect("asset cache (set ICOR_HOME)")
}

/// The first `n` NQ test questions, each with two corpus passages chosen by its index (any
/// passages: what is tested is the decoding, not the retrieval).
fn items(n: usize) -> Vec<Item> {
    let home = home();
    ensure_prepared(&home, |_| {})
        .expect("QA sets prepared (run `icor fetch qa-topics wiki-summaries`)");
    let spec = find_dataset("nq", Some("test")).expect("nq/test is in the catalogue");
    let (questions, _) = read_all::<QaExample>(&dataset_path(&home, spec), ReadOptions::default())
        .expect("nq/test reads");
    let (corpus, _) =
        read_all::<Passage>(&corpus_path(&home), ReadOptions::default()).expect("corpus reads");
    questions
        .into_iter()
        .take(n)
        .enumerate()
        .map(|(i, q)| Item {
            id: q.id,
            question: q.question,
            answers: q.golden_answers,
            docs: vec![
                corpus[(7 * i) % corpus.len()].clone(),
                corpus[(7 * i + 3) % corpus.len()].clone(),
            ],
        })
        .collect()
}

/// 16 new tokens at most, stopping at the tokenizer's stop ids and at line breaks (a base
/// model seldom emits end-of-text within 16 tokens, and the test needs rows that leave the
/// batch at different steps).
fn options(tokenizer: &icor_llm::LlmTokenizer) -> GenerateOptions {
    let mut stop_ids = tokenizer.stop_ids.clone();
    for text in ["\n", "\n\n"] {
        let enc = tokenizer
            .inner()
            .encode(text, false)
            .expect("line break encodes");
        stop_ids.extend_from_slice(enc.get_ids());
    }
    GenerateOptions {
        max_new_tokens: 16,
        stop_ids,
    }
}

fn check(model: &str, n: usize) {
    let LoadedModel {
        model: m,
        tokenizer,
        ..
    } = load_model(model, &Device::flex()).expect("model loads (run `icor fetch`)");
    let prompter = Prompter {
        tokenizer: &tokenizer,
        doc_tokens: 24,
    };
    let prompts: Vec<Vec<u32>> = items(n)
        .iter()
        .map(|it| prompter.rag_ids(it).expect("prompt encodes"))
        .collect();
    let lens: Vec<usize> = prompts.iter().map(Vec::len).collect();
    assert_ne!(
        lens.iter().min(),
        lens.iter().max(),
        "prompts of one length test no padding"
    );
    let opts = options(&tokenizer);
    let none = Adaptation::none();
    let alone: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| m.generate_greedy(p, &opts, &none).expect("decodes"))
        .collect();
    let split = m.config.n_layers - 2;
    for (c, chunk) in prompts.chunks(BATCH).enumerate() {
        let want = &alone[c * BATCH..c * BATCH + chunk.len()];
        let batched = m
            .generate_greedy_batch(chunk, &opts, &none)
            .expect("batch decodes");
        for (i, (got, want)) in batched.iter().zip(want).enumerate() {
            assert_eq!(
                got,
                want,
                "{model}: question {} in a batch of {}",
                c * BATCH + i,
                chunk.len()
            );
        }
        let prefix = m.frozen_prefix_batch(chunk, split).expect("prefix");
        let each: Vec<usize> = (0..chunk.len()).collect();
        let rows = m
            .generate_greedy_rows_of(&prefix, &each, &opts, &none)
            .expect("rows decode");
        assert_eq!(
            rows, want,
            "{model}: rows of a prefix split at layer {split}, batch {c}"
        );
    }
    // Answers of different lengths were decoded (rows left the batch at different steps).
    let answer_lens: Vec<usize> = alone.iter().map(Vec::len).collect();
    assert_ne!(
        answer_lens.iter().min(),
        answer_lens.iter().max(),
        "{model}: every answer ran to the same length, so no row left a batch early"
    );
}

/// A backbone that reads fewer bytes per decoded token, set up from the f32 one.
#[derive(Debug, Clone, Copy)]
enum Half {
    /// Frozen projections packed in f16 (`--decode-weights f16`).
    Weights,
    /// The KV cache kept in f16 (`--kv-cache f16`).
    Cache,
}

impl Half {
    fn apply(self, m: Llm) -> Llm {
        match self {
            Half::Weights => m.with_decode_weights(
                icor_llm::decode_weights::parse_precision("f16").expect("f16"),
            ),
            Half::Cache => m.with_kv_cache(icor_llm::kv_precision::parse("f16").expect("f16")),
        }
    }
}

/// The answers of the backbone with `half` against the f32 ones, one at a time, on the first
/// `n` questions: how many are token-identical, and how many agree after answer normalisation
/// (what EM reads). Returns (identical, same normalised, n).
fn f16_agreement(model: &str, half: Half, n: usize) -> (usize, usize, usize) {
    let LoadedModel {
        model: m,
        tokenizer,
        ..
    } = load_model(model, &Device::flex()).expect("model loads (run `icor fetch`)");
    let reduced = half.apply(m.clone());
    let prompter = Prompter {
        tokenizer: &tokenizer,
        doc_tokens: 24,
    };
    let opts = options(&tokenizer);
    let none = Adaptation::none();
    let (mut same, mut same_norm) = (0, 0);
    for it in items(n) {
        let p = prompter.rag_ids(&it).expect("prompt encodes");
        let a = m.generate_greedy(&p, &opts, &none).expect("decodes");
        let b = reduced.generate_greedy(&p, &opts, &none).expect("decodes");
        same += usize::from(a == b);
        let text = |ids: &[u32]| {
            icor_qa::metrics::normalize_answer(&tokenizer.decode(ids, true).expect("decodes"))
        };
        same_norm += usize::from(text(&a) == text(&b));
    }
    eprintln!(
        "{model}, f16 {half:?}: answers token-identical to f32 on {same}/{n}, same normalised on {same_norm}/{n}"
    );
    (same, same_norm, n)
}

/// Least share of the f16 variants' answers that must equal the f32 answer after
/// normalisation (what EM compares); the measured shares are in the tests' notes below.
const F16_AGREEMENT: f64 = 0.85;

fn assert_f16_agreement(model: &str, half: Half, n: usize) {
    let (_, same_norm, n) = f16_agreement(model, half, n);
    assert!(
        same_norm as f64 >= F16_AGREEMENT * n as f64,
        "{model}, f16 {half:?}: answers equal f32 answers on {same_norm}/{n}"
    );
}

/// Measured 15/16 (2026-12-06).
#[test]
fn f16_answers_agree_with_f32_answers_smollm2_16_questions() {
    assert_f16_agreement("smollm2-135m", Half::Weights, 16);
}

#[test]
/// Measured 98/100, token-identical on the same 98 (2026-12-06, 240 s).
#[ignore = "100 questions decoded twice (about 4 min on 2 cores); run with --ignored"]
fn f16_answers_agree_with_f32_answers_smollm2_100_questions() {
    assert_f16_agreement("smollm2-135m", Half::Weights, 100);
}

/// Measured 100/100, token-identical on all (2026-12-06, 455 s).
#[test]
#[ignore = "loads Qwen2.5-0.5B, 100 questions decoded twice (about 8 min on 2 cores); run with --ignored"]
fn f16_answers_agree_with_f32_answers_qwen_100_questions() {
    assert_f16_agreement("qwen2.5-0.5b", Half::Weights, 100);
}

/// The KV cache in f16. Measured 16/16, token-identical on all (2026-12-08).
#[test]
fn f16_cache_answers_agree_with_f32_answers_smollm2_16_questions() {
    assert_f16_agreement("smollm2-135m", Half::Cache, 16);
}

/// Measured 99/100, token-identical on the same 99 (2026-12-08; the three KV-cache tests
/// together 258 s).
#[test]
#[ignore = "100 questions decoded twice (about 2 min on 2 cores); run with --ignored"]
fn f16_cache_answers_agree_with_f32_answers_smollm2_100_questions() {
    assert_f16_agreement("smollm2-135m", Half::Cache, 100);
}

/// Measured 100/100, token-identical on all (2026-12-08).
#[test]
#[ignore = "loads Qwen2.5-0.5B, 100 questions decoded twice (about 4 min on 2 cores); run with --ignored"]
fn f16_cache_answers_agree_with_f32_answers_qwen_100_questions() {
    assert_f16_agreement("qwen2.5-0.5b", Half::Cache, 100);
}

#[test]
fn batched_answers_equal_single_answers_smollm2_16_questions() {
    check("smollm2-135m", 16);
}

#[test]
#[ignore = "100 questions one at a time and batched (78 s on 2 cores, 2026-12-07); run with --ignored"]
fn batched_answers_equal_single_answers_smollm2_100_questions() {
    check("smollm2-135m", 100);
}

#[test]
#[ignore = "loads Qwen2.5-0.5B (500 MB), 100 questions (188 s on 2 cores, 2026-12-07); run with --ignored"]
fn batched_answers_equal_single_answers_qwen_100_questions() {
    check("qwen2.5-0.5b", 100);
}
