//! Opening a backbone by name (`qwen2.5-0.5b`, `smollm2-135m`: fetched assets) or by path
//! (a `.gguf` file, or a folder with `config.json` + safetensors + `tokenizer.json`).

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use icor_kernels::Precision;

use super::config::LlmConfig;
use super::model::Llm;
use super::tokenizer::LlmTokenizer;
use super::weights::SafetensorsSource;
use crate::gguf::GgufFile;
use crate::{Error, Result};

/// Asset names of the shipped backbones (see `icor fetch --list`).
pub const NAMED_MODELS: [&str; 2] = ["qwen2.5-0.5b", "smollm2-135m"];

/// A backbone with its tokenizer.
#[derive(Debug)]
pub struct LoadedModel {
    pub name: String,
    pub path: PathBuf,
    pub model: Llm,
    pub tokenizer: LlmTokenizer,
}

/// Resolves a model argument: a catalogue name (fetched and verified through `icor-assets`)
/// or a path.
pub fn resolve_model_path(model: &str) -> Result<PathBuf> {
    if NAMED_MODELS.contains(&model) {
        let home = icor_assets::home(None)?;
        return Ok(icor_assets::ensure(&home, model)?);
    }
    let p = PathBuf::from(model);
    if p.exists() {
        Ok(p)
    } else {
        Err(Error::Llm(format!(
            "model `{model}` is neither a known name ({}) nor an existing path",
            NAMED_MODELS.join(", ")
        )))
    }
}

/// Loads the backbone and tokenizer at `path`, packed as the device's default
/// ([`crate::decode_weights::default_for`]).
pub fn load_path(path: &Path, device: &Device) -> Result<(Llm, LlmTokenizer)> {
    load_path_packed(path, device, crate::decode_weights::default_for(device))
}

/// [`load_path`] with the frozen projections packed in `decode` ([`Llm::load_packed`]).
pub fn load_path_packed(
    path: &Path,
    device: &Device,
    decode: Option<Precision>,
) -> Result<(Llm, LlmTokenizer)> {
    if path.is_dir() {
        let config = LlmConfig::from_hf_json(&path.join("config.json"))?;
        let source = SafetensorsSource::open(path)?;
        let tokenizer = LlmTokenizer::from_json(&path.join("tokenizer.json"))?;
        let model = Llm::load_packed(&source, config, device, decode)?;
        Ok((model, tokenizer))
    } else {
        let file = GgufFile::open(path)?;
        let config = LlmConfig::from_gguf(&file)?;
        let tokenizer = LlmTokenizer::from_gguf(&file)?;
        let model = Llm::load_packed(&file, config, device, decode)?;
        Ok((model, tokenizer))
    }
}

/// Loads a backbone by name or path, packed as the device's default.
pub fn load_model(model: &str, device: &Device) -> Result<LoadedModel> {
    load_model_packed(model, device, crate::decode_weights::default_for(device))
}

/// [`load_model`] with the frozen projections packed in `decode` (`None`: not packed), each
/// packed once.
pub fn load_model_packed(
    model: &str,
    device: &Device,
    decode: Option<Precision>,
) -> Result<LoadedModel> {
    let path = resolve_model_path(model)?;
    let (m, tokenizer) = load_path_packed(&path, device, decode)?;
    Ok(LoadedModel {
        name: model.to_string(),
        path,
        model: m,
        tokenizer,
    })
}
