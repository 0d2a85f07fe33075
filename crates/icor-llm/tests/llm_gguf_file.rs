//! A tiny llama written as GGUF (F32, Q/K rows permuted as llama.cpp does) loads into the same
//! model as its Hugging Face-layout weights; broken files give one clear error naming the
//! file and tensor.

mod tiny;

use std::path::PathBuf;

use burn::tensor::Device;
use icor_llm::gguf::GgufFile;
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::weights::AttnWeight;
use icor_llm::{Adaptation, Llm, LlmConfig, LlmTokenizer, WeightKey, WeightSource};
use tiny::gguf_writer::{Meta, RawTensor, f32_bytes, write_gguf};
use tiny::{PermutedForGguf, RandomSource, max_abs_diff, tiny_config};

fn all_keys(c: &LlmConfig) -> Vec<WeightKey> {
    let mut keys = vec![WeightKey::Embed, WeightKey::FinalNorm, WeightKey::Output];
    for l in 0..c.n_layers {
        keys.push(WeightKey::AttnNorm(l));
        for w in [AttnWeight::Q, AttnWeight::K, AttnWeight::V, AttnWeight::O] {
            keys.push(WeightKey::Attn(l, w));
        }
        keys.extend([
            WeightKey::FfnNorm(l),
            WeightKey::Gate(l),
            WeightKey::Up(l),
            WeightKey::Down(l),
        ]);
    }
    keys
}

fn tiny_vocab(n: usize) -> (Vec<String>, Vec<String>, Vec<i32>) {
    // Byte-level symbols for the 64 printable ASCII characters from '0', no merges.
    let tokens: Vec<String> = (0..n)
        .map(|i| ((b'0' + i as u8) as char).to_string())
        .collect();
    (tokens, vec![], vec![1; n])
}

/// The tiny model as GGUF bytes, with `edit` applied to its tensor list.
fn tiny_gguf(
    edit: impl FnOnce(&mut Vec<RawTensor>, &mut Vec<(&'static str, Meta)>),
) -> (Vec<u8>, RandomSource) {
    let src = RandomSource::new(tiny_config(4, 2), 21);
    let c = src.config.clone();
    let gg = PermutedForGguf::new(&src);
    let mut tensors = Vec::new();
    for key in all_keys(&c) {
        let t = gg.read(key).unwrap();
        tensors.push(RawTensor {
            name: key.gguf_name(),
            dims: t.shape.iter().rev().map(|&d| d as u64).collect(),
            type_id: 0,
            bytes: f32_bytes(&t.data),
        });
    }
    let (tokens, merges, types) = tiny_vocab(c.vocab_size);
    let mut meta = vec![
        ("general.architecture", Meta::Str("llama".into())),
        ("llama.block_count", Meta::U32(c.n_layers as u32)),
        ("llama.context_length", Meta::U32(c.max_positions as u32)),
        ("llama.embedding_length", Meta::U32(c.d_model as u32)),
        ("llama.feed_forward_length", Meta::U32(c.d_ff as u32)),
        ("llama.attention.head_count", Meta::U32(c.n_heads as u32)),
        (
            "llama.attention.head_count_kv",
            Meta::U32(c.n_kv_heads as u32),
        ),
        ("llama.rope.freq_base", Meta::F32(c.rope_theta)),
        (
            "llama.attention.layer_norm_rms_epsilon",
            Meta::F32(c.rms_eps),
        ),
        ("tokenizer.ggml.model", Meta::Str("gpt2".into())),
        ("tokenizer.ggml.pre", Meta::Str("smollm".into())),
        ("tokenizer.ggml.tokens", Meta::Strs(tokens)),
        ("tokenizer.ggml.merges", Meta::Strs(merges)),
        ("tokenizer.ggml.token_type", Meta::I32s(types)),
        ("tokenizer.ggml.add_bos_token", Meta::Bool(false)),
    ];
    edit(&mut tensors, &mut meta);
    (write_gguf(&meta, &tensors), src)
}

fn write_tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("icor-{}-{name}.gguf", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

fn load(path: &PathBuf) -> icor_llm::Result<Llm> {
    let f = GgufFile::open(path)?;
    let c = LlmConfig::from_gguf(&f)?;
    Llm::load(&f, c, &Device::flex())
}

#[test]
fn tiny_gguf_loads_into_the_same_model_as_its_hf_weights() {
    let (bytes, src) = tiny_gguf(|_, _| {});
    let path = write_tmp("ok", &bytes);
    let f = GgufFile::open(&path).unwrap();
    let c = LlmConfig::from_gguf(&f).unwrap();
    assert_eq!(c.rope_layout, icor_llm::RopeLayout::Interleaved);
    assert!(!c.tied_embeddings);
    let gguf_model = Llm::load(&f, c, &Device::flex()).unwrap();
    let hf_model = Llm::load(&src, src.config.clone(), &Device::flex()).unwrap();
    let ids = [1u32, 5, 9, 33, 2];
    let a = to_vec_f32(
        gguf_model
            .forward_logits(&ids, &Adaptation::none())
            .unwrap(),
    );
    let b = to_vec_f32(hf_model.forward_logits(&ids, &Adaptation::none()).unwrap());
    let d = max_abs_diff(&a, &b);
    assert!(
        d < 1e-4,
        "GGUF (interleaved, permuted) vs HF layout differ by {d}"
    );
    // The tokenizer builds from the metadata and round-trips.
    let tok = LlmTokenizer::from_gguf(&f).unwrap();
    let ids = tok.encode("0123AB").unwrap();
    assert_eq!(ids, vec![0, 1, 2, 3, 17, 18]);
    assert_eq!(tok.decode(&ids, false).unwrap(), "0123AB");
    let _ = std::fs::remove_file(&path);
}

fn err_of(name: &str, bytes: &[u8]) -> String {
    let path = write_tmp(name, bytes);
    let e = load(&path)
        .expect_err("broken file must not load")
        .to_string();
    let _ = std::fs::remove_file(&path);
    assert!(
        e.contains(&format!("icor-{}-{name}.gguf", std::process::id())),
        "error names the file: {e}"
    );
    e
}

#[test]
fn truncated_file_names_the_tensor_cut_off() {
    let (bytes, _) = tiny_gguf(|_, _| {});
    let e = err_of("truncated", &bytes[..bytes.len() - 100]);
    assert!(e.contains("output.weight") || e.contains("blk.1"), "{e}");
    assert!(e.contains("truncated"), "{e}");
    // Cut inside the header: an offset and a reason, no panic.
    for cut in [3, 10, 30, 200, 1000] {
        let e = err_of("header-cut", &bytes[..cut]);
        assert!(e.contains("malformed GGUF"), "{e}");
    }
}

#[test]
fn bad_magic_and_version_are_rejected() {
    let (mut bytes, _) = tiny_gguf(|_, _| {});
    bytes[0] = b'X';
    assert!(err_of("magic", &bytes).contains("bad magic"));
    let (mut bytes, _) = tiny_gguf(|_, _| {});
    bytes[4] = 9;
    assert!(err_of("version", &bytes).contains("version 9"));
}

#[test]
fn unknown_quant_type_names_the_tensor() {
    let (bytes, _) = tiny_gguf(|t, _| {
        let blk = t
            .iter_mut()
            .find(|t| t.name == "blk.0.ffn_up.weight")
            .unwrap();
        blk.type_id = 11; // Q3_K: exists in ggml, not dequantised here
    });
    let e = err_of("quant", &bytes);
    assert!(
        e.contains("blk.0.ffn_up.weight") && e.contains("Q3_K"),
        "{e}"
    );
    let (bytes, _) = tiny_gguf(|t, _| {
        t[3].type_id = 999;
    });
    assert!(err_of("quant999", &bytes).contains("999"));
}

#[test]
fn shape_mismatch_names_tensor_and_shapes() {
    let (bytes, _) = tiny_gguf(|t, _| {
        let n = t
            .iter_mut()
            .find(|t| t.name == "blk.1.attn_k.weight")
            .unwrap();
        n.dims = vec![16, 4]; // config says [16, 8] (ggml order)
        n.bytes.truncate(16 * 4 * 4);
    });
    let e = err_of("shape", &bytes);
    assert!(
        e.contains("blk.1.attn_k.weight") && e.contains("[4, 16]") && e.contains("[8, 16]"),
        "{e}"
    );
}

#[test]
fn missing_tensor_and_unknown_architecture_are_named() {
    let (bytes, _) = tiny_gguf(|t, _| t.retain(|t| t.name != "blk.1.ffn_norm.weight"));
    assert!(err_of("missing", &bytes).contains("blk.1.ffn_norm.weight"));
    let (bytes, _) = tiny_gguf(|_, m| m[0] = ("general.architecture", Meta::Str("mamba".into())));
    let e = err_of("arch", &bytes);
    assert!(e.contains("unknown architecture `mamba`"), "{e}");
    let (bytes, _) = tiny_gguf(|_, m| m.retain(|(k, _)| *k != "llama.attention.head_count"));
    assert!(err_of("meta", &bytes).contains("llama.attention.head_count"));
}

#[test]
fn tokenizer_json_written_from_gguf_metadata_reads_back_identically() {
    let (bytes, _) = tiny_gguf(|_, _| {});
    let path = write_tmp("tokjson", &bytes);
    let tok = LlmTokenizer::from_gguf(&GgufFile::open(&path).unwrap()).unwrap();
    let dir = std::env::temp_dir().join(format!("icor-tokjson-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("tokenizer.json");
    tok.inner().save(&json, false).unwrap();
    std::fs::write(
        dir.join("tokenizer_config.json"),
        r#"{"eos_token": "9", "add_bos_token": false}"#,
    )
    .unwrap();
    let back = LlmTokenizer::from_json(&json).unwrap();
    for text in ["0123AB", "a1b2", "9:;<=>?@"] {
        assert_eq!(
            back.encode(text).unwrap(),
            tok.encode(text).unwrap(),
            "{text}"
        );
    }
    assert_eq!(back.eos_id, Some(9));
    assert!(back.stop_ids.contains(&9));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&path);
}
