//! The model's own tokenizer, rebuilt from GGUF metadata with the `tokenizers` crate, or read
//! from a `tokenizer.json`.
//!
//! GGUF files carry the byte-level BPE vocabulary (`tokenizer.ggml.tokens`), merges
//! (`tokenizer.ggml.merges`, "a b" pairs) and token types (`tokenizer.ggml.token_type`:
//! 1 normal, 3 control, 4 user-defined, 5 unused). The pre-tokenizer is named by
//! `tokenizer.ggml.pre`; its regex is fixed per name (as in llama.cpp's `llama-vocab.cpp`).
//! No BOS token is prepended to raw text for the two shipped models
//! (`tokenizer.ggml.add_bos_token = false`).

use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

use super::chat::ChatTemplate;
use crate::gguf::GgufFile;
use crate::{Error, Result};

/// Qwen2's pre-tokenizer regex (digits one by one).
pub const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3's pre-tokenizer regex (digits in groups of up to three).
pub const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A tokenizer plus the ids and template generation needs.
pub struct LlmTokenizer {
    inner: Tokenizer,
    /// Ids that end generation (eos, `<|im_end|>`, `<|endoftext|>` when present).
    pub stop_ids: Vec<u32>,
    pub eos_id: Option<u32>,
    pub bos_id: Option<u32>,
    pub add_bos: bool,
    pub chat: ChatTemplate,
    source_name: String,
}

impl std::fmt::Debug for LlmTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmTokenizer")
            .field("source", &self.source_name)
            .field("vocab", &self.inner.get_vocab_size(true))
            .field("stop_ids", &self.stop_ids)
            .finish()
    }
}

fn tok_err(source: &str, reason: impl std::fmt::Display) -> Error {
    Error::Tokenizer {
        source_name: source.to_string(),
        reason: reason.to_string(),
    }
}

/// The pre-tokenizer for llama.cpp's `tokenizer.ggml.pre` name.
fn pre_tokenizer(pre: &str, source: &str) -> Result<PreTokenizerWrapper> {
    let byte_level =
        |regex: bool| -> PreTokenizerWrapper { ByteLevel::new(false, true, regex).into() };
    let split = |re: &str| -> Result<PreTokenizerWrapper> {
        Ok(Split::new(
            SplitPattern::Regex(re.into()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| tok_err(source, e))?
        .into())
    };
    Ok(match pre {
        "smollm" | "starcoder" | "refact" => {
            Sequence::new(vec![Digits::new(true).into(), byte_level(true)]).into()
        }
        "qwen2" | "deepseek-r1-qwen" => {
            Sequence::new(vec![split(QWEN2_REGEX)?, byte_level(false)]).into()
        }
        "llama-bpe" | "llama3" | "smaug-bpe" => {
            Sequence::new(vec![split(LLAMA3_REGEX)?, byte_level(false)]).into()
        }
        "gpt2" | "default" | "" => byte_level(true),
        other => {
            return Err(tok_err(
                source,
                format!(
                    "unknown pre-tokenizer `{other}` (smollm, qwen2, llama-bpe, gpt2 are known)"
                ),
            ));
        }
    })
}

impl LlmTokenizer {
    /// Builds the byte-level BPE tokenizer described by a GGUF file's metadata.
    pub fn from_gguf(file: &GgufFile) -> Result<Self> {
        let source = file.path().display().to_string();
        let model = file.meta_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(tok_err(
                &source,
                format!("tokenizer.ggml.model `{model}` (only byte-level BPE `gpt2` is built)"),
            ));
        }
        let tokens = file.meta_strings("tokenizer.ggml.tokens")?;
        let merges = file.meta_strings("tokenizer.ggml.merges")?;
        let types: Vec<i64> = match file.meta_opt("tokenizer.ggml.token_type") {
            Some(_) => file
                .meta_array("tokenizer.ggml.token_type")?
                .iter()
                .map(|v| v.as_i64().unwrap_or(1))
                .collect(),
            None => vec![1; tokens.len()],
        };
        let mut vocab = Vocab::default();
        for (i, t) in tokens.iter().enumerate() {
            vocab.entry((*t).to_string()).or_insert(i as u32);
        }
        let merges: Vec<(String, String)> = merges
            .iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| tok_err(&source, format!("merge `{m}` has no space")))
            })
            .collect::<Result<_>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| tok_err(&source, e))?;
        let mut inner = Tokenizer::new(bpe);
        let pre = file
            .meta_opt("tokenizer.ggml.pre")
            .and_then(|v| v.as_str())
            .unwrap_or("gpt2");
        inner.with_pre_tokenizer(Some(pre_tokenizer(pre, &source)?));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        // Control (3) tokens are special; user-defined (4) are matched in text but decoded.
        let added: Vec<AddedToken> = tokens
            .iter()
            .zip(&types)
            .filter(|(_, t)| **t == 3 || **t == 4)
            .map(|(tok, t)| AddedToken::from(tok.to_string(), *t == 3))
            .collect();
        inner
            .add_special_tokens(added)
            .map_err(|e| tok_err(&source, e))?;

        let id_of = |key: &str| {
            file.meta_opt(key)
                .and_then(|v| v.as_u64())
                .map(|v| v as u32)
        };
        let eos_id = id_of("tokenizer.ggml.eos_token_id");
        let bos_id = id_of("tokenizer.ggml.bos_token_id");
        let add_bos = file
            .meta_opt("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let template = file
            .meta_opt("tokenizer.chat_template")
            .and_then(|v| v.as_str());
        Ok(Self::finish(
            inner, eos_id, bos_id, add_bos, template, source,
        ))
    }

    /// Reads a `tokenizer.json` (with `tokenizer_config.json` next to it for eos and template).
    pub fn from_json(path: &Path) -> Result<Self> {
        let source = path.display().to_string();
        let inner = Tokenizer::from_file(path).map_err(|e| tok_err(&source, e))?;
        let cfg_path = path.with_file_name("tokenizer_config.json");
        let cfg: serde_json::Value = std::fs::read_to_string(&cfg_path)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(serde_json::Value::Null);
        let token_id = |field: &str| {
            let v = &cfg[field];
            let s = v.as_str().or_else(|| v["content"].as_str())?;
            inner.token_to_id(s)
        };
        let eos_id = token_id("eos_token");
        let bos_id = token_id("bos_token");
        let add_bos = cfg["add_bos_token"].as_bool().unwrap_or(false);
        let template = cfg["chat_template"].as_str().map(str::to_string);
        Ok(Self::finish(
            inner,
            eos_id,
            bos_id,
            add_bos,
            template.as_deref(),
            source,
        ))
    }

    fn finish(
        inner: Tokenizer,
        eos_id: Option<u32>,
        bos_id: Option<u32>,
        add_bos: bool,
        template: Option<&str>,
        source_name: String,
    ) -> Self {
        let mut stop_ids: Vec<u32> = eos_id.into_iter().collect();
        for s in [
            "<|im_end|>",
            "<|endoftext|>",
            "<|eot_id|>",
            "<|end_of_text|>",
        ] {
            if let Some(id) = inner.token_to_id(s)
                && !stop_ids.contains(&id)
            {
                stop_ids.push(id);
            }
        }
        Self {
            inner,
            stop_ids,
            eos_id,
            bos_id,
            add_bos,
            chat: ChatTemplate::from_jinja(template),
            source_name,
        }
    }

    /// Token ids of raw text, exactly as the model's tokenizer splits it; special-token text
    /// such as `<|im_start|>` maps to its id. BOS is prepended only if the model asks for it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| tok_err(&self.source_name, e))?;
        let mut ids = Vec::with_capacity(enc.len() + 1);
        if self.add_bos {
            ids.extend(self.bos_id);
        }
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    /// Text of `ids` (special tokens kept unless `skip_special`).
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| tok_err(&self.source_name, e))
    }

    /// The string of one token id (byte-level symbols decoded).
    pub fn token_text(&self, id: u32) -> String {
        self.inner.decode(&[id], false).unwrap_or_default()
    }

    /// The underlying `tokenizers` tokenizer (e.g. to save it as `tokenizer.json`).
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The chat-formatted prompt for one system and user turn, ready for generation.
    pub fn chat_prompt(&self, system: Option<&str>, user: &str) -> String {
        self.chat.render(system, user)
    }

    /// A multi-turn chat prompt: completed (user, assistant) exchanges before the last user
    /// turn (few-shot demonstrations).
    pub fn chat_prompt_turns(
        &self,
        system: Option<&str>,
        exchanges: &[(String, String)],
        user: &str,
    ) -> String {
        self.chat.render_turns(system, exchanges, user)
    }
}
