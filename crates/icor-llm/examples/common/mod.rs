//! What the benchmark examples share.

use icor_llm::LlmTokenizer;

/// A deterministic prompt of exactly `n` tokens: one sentence of real text, repeated.
pub fn repeated_text_ids(
    tokenizer: &LlmTokenizer,
    n: usize,
) -> Result<Vec<u32>, Box<dyn std::error::Error>> {
    let text = "Wilhelm Conrad Röntgen was a German physicist who produced and detected \
                electromagnetic radiation in a wavelength range known as X-rays. ";
    let mut ids = Vec::new();
    while ids.len() < n {
        ids.extend(tokenizer.encode(text)?);
    }
    ids.truncate(n);
    Ok(ids)
}
