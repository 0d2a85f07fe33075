//! A deterministic stand-in for the cargo-fuzz target (`fuzz/`), run in CI: thousands of
//! mutations of a valid GGUF header (byte flips, truncations, inflated lengths and counts)
//! must each parse or give an error, never panic.

mod tiny;

use std::path::Path;

use icor_llm::gguf::parse_header;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tiny::gguf_writer::{Meta, RawTensor, f32_bytes, write_gguf};

fn seed_file() -> Vec<u8> {
    write_gguf(
        &[
            ("general.architecture", Meta::Str("llama".into())),
            ("llama.block_count", Meta::U32(1)),
            (
                "tokenizer.ggml.tokens",
                Meta::Strs(vec!["a".into(), "b".into(), "ab".into()]),
            ),
            ("tokenizer.ggml.token_type", Meta::I32s(vec![1, 1, 1])),
            ("general.alignment", Meta::U32(32)),
        ],
        &[RawTensor {
            name: "token_embd.weight".into(),
            dims: vec![4, 3],
            type_id: 0,
            bytes: f32_bytes(&[0.5; 12]),
        }],
    )
}

#[test]
fn mutated_headers_parse_or_error_without_panicking() {
    let seed = seed_file();
    let path = Path::new("mutant.gguf");
    assert!(parse_header(&seed, path).is_ok());
    let mut rng = ChaCha8Rng::seed_from_u64(2605_26356);
    let mut errors = 0;
    for _ in 0..5000 {
        let mut b = seed.clone();
        match rng.random_range(0..4) {
            0 => {
                // Flip a few random bytes.
                for _ in 0..rng.random_range(1..4) {
                    let i = rng.random_range(0..b.len());
                    b[i] ^= rng.random_range(1..=255u8);
                }
            }
            1 => b.truncate(rng.random_range(0..b.len())),
            2 => {
                // Overwrite an 8-byte field with a huge length or count.
                let i = rng.random_range(0..b.len().saturating_sub(8));
                let v = [u64::MAX, u64::MAX / 2, 1 << 40, 1 << 20][rng.random_range(0..4)];
                b[i..i + 8].copy_from_slice(&v.to_le_bytes());
            }
            _ => {
                // Overwrite a 4-byte type tag.
                let i = rng.random_range(0..b.len().saturating_sub(4));
                b[i..i + 4].copy_from_slice(&rng.random_range(0..40u32).to_le_bytes());
            }
        }
        if parse_header(&b, path).is_err() {
            errors += 1;
        }
    }
    assert!(
        errors > 1000,
        "mutations should mostly be rejected ({errors})"
    );
}

#[test]
fn the_fuzz_seed_corpus_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/gguf_header");
    for entry in std::fs::read_dir(dir).expect("seed corpus") {
        let p = entry.expect("entry").path();
        let bytes = std::fs::read(&p).expect("read");
        let h = parse_header(&bytes, &p).expect("seed parses");
        assert!(!h.tensors.is_empty());
    }
}
