//! How the attention kernel keeps keys and values on the CPU backend ([`crate::Llm::with_kv_cache`]):
//! f32 by default; f16 halves the bytes a decoding step reads per row and token of context —
//! the part of a batched step that grows with its rows (`icor-kernels/examples/attend_decode.rs`)
//! — and rounds every key and value to f16's 11 significant bits, as llama.cpp's default cache
//! does. The drift this puts on the logits and answers is measured and held to a tolerance by
//! `tests/llm_parity.rs` and icor-rag's `tests/batched_decoding.rs`.

use icor_kernels::Precision;

/// `f32` or `f16`: how the KV cache is kept.
pub fn parse(name: &str) -> crate::Result<Precision> {
    match name {
        "f32" => Ok(Precision::F32),
        "f16" => Ok(Precision::F16),
        other => Err(crate::Error::Llm(format!(
            "unknown KV cache precision `{other}` (f32 or f16)"
        ))),
    }
}
