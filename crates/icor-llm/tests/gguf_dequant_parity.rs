//! Dequantisation against the `gguf` Python package (llama.cpp's numpy reference), fixtures
//! from `scripts/llm_dequant_fixtures.py`: synthetic blocks of F16, BF16, Q4_0, Q4_1, Q5_0,
//! Q8_0, and the first 512 values of one tensor per quant type in the shipped files.
//!
//! Tolerance: the reference computes the same products in numpy float32, sometimes in another
//! order (`d * (sc * q)` vs `(d * sc) * q`), so values agree to a couple of f32 ulps.

use std::path::Path;

use icor_llm::gguf::{GgmlType, GgufFile, dequantize};
use serde_json::Value;

const REL: f32 = 1e-6;

fn fixture() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/llm/dequant.json");
    serde_json::from_str(&std::fs::read_to_string(p).expect("fixture")).expect("JSON")
}

fn close(got: &[f32], want: &Value, what: &str) {
    let want: Vec<f32> = want
        .as_array()
        .expect("values")
        .iter()
        .map(|v| v.as_f64().expect("f") as f32)
        .collect();
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= REL * w.abs().max(1e-3),
            "{what}[{i}]: {g} vs reference {w}"
        );
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn synthetic_blocks_match_the_gguf_package() {
    let fx = fixture();
    for case in fx["synthetic"].as_array().expect("synthetic") {
        let id = case["type_id"].as_u64().expect("id") as u32;
        let ty = GgmlType::from_id(id).expect("supported");
        assert_eq!(ty.name(), case["type"].as_str().expect("type"));
        let n = case["n"].as_u64().expect("n") as usize;
        let got = dequantize(ty, &hex(case["bytes_hex"].as_str().expect("hex")), n);
        close(&got, &case["values"], ty.name());
    }
}

fn check_real(model: &str) {
    let fx = fixture();
    let home = icor_assets::home(None).expect("asset home");
    let path = icor_assets::ensure(&home, model).expect("asset fetched (icor fetch)");
    let file = GgufFile::open(&path).expect("opens");
    for case in fx["real"].as_array().expect("real") {
        if case["model"] != model {
            continue;
        }
        let name = case["tensor"].as_str().expect("tensor");
        let (ty, bytes, _) = file.tensor_bytes(name).expect("tensor present");
        assert_eq!(ty.name(), case["type"].as_str().expect("type"), "{name}");
        let n = case["values"].as_array().expect("values").len();
        let blocks = n.div_ceil(ty.block_elems());
        let mut got = dequantize(
            ty,
            &bytes[..blocks * ty.block_bytes()],
            blocks * ty.block_elems(),
        );
        got.truncate(n);
        close(
            &got,
            &case["values"],
            &format!("{model}/{name} ({})", ty.name()),
        );
    }
}

#[test]
fn smollm2_tensors_match_the_gguf_package() {
    check_real("smollm2-135m");
}

#[test]
#[ignore = "needs the Qwen2.5-Coder-0.5B asset (Q5_0, Q4_K, Q6_K); run with --ignored"]
fn qwen25_tensors_match_the_gguf_package() {
    check_real("qwen2.5-0.5b");
}
