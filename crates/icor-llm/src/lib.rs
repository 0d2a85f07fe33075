//! # icor-llm: the frozen LLM backbone of RAG-GD (§5 of arXiv 2605.26356) in burn, with its
//! Q/K/V evidence-use interface
//!
//! | module | paper |
//! |---|---|
//! | [`gguf`] | the checkpoints (GGUF v3 reader, dequantisation) |
//! | [`model`], [`block`], [`attention`], [`rope`], [`mlp`], [`norm`] | the frozen generator `f` |
//! | [`lora`] | the base retrieval adapter `W_0^ret` (LoRA on Q/K/V, §5.1) |
//! | [`delta`] | the predicted update `gΔW(C) = U Vᵀ` (Algorithm 1, phase 3) |
//! | [`adapt`] | `f_{W_0^ret + gΔW(C)}`: what one forward pass is adapted with |
//! | [`tokenizer`], [`chat`], [`generate`] | prompts and greedy decoding |
//!
//! - [`config`]: hyper-parameters from GGUF metadata or `config.json`;
//!   [`weights`]: GGUF and safetensors sources; [`load`]: by name or path.
//! - [`model`]: embedding, pre-norm blocks ([`block`], [`attention`] with GQA and
//!   [`rope`], [`mlp`] SwiGLU, [`norm`] RMSNorm), output head; [`kv_cache`]; [`generate`].
//! - [`tokenizer`] from GGUF metadata, [`chat`] ChatML template.
//! - [`lora`] (`W_0^ret`), [`delta`] (`gΔW(C) = U Vᵀ`), [`adapt`] (what a forward pass
//!   uses), [`adapter_io`] (safetensors).
//!
//! ```no_run
//! use burn::tensor::Device;
//! use icor_llm::{Adaptation, GenerateOptions, LoraAdapter, load_model};
//!
//! # fn main() -> icor_llm::Result<()> {
//! let device = Device::flex();
//! let lm = load_model("qwen2.5-0.5b", &device)?; // or a .gguf path / HF folder
//! let prompt = lm.tokenizer.chat_prompt(None, "Question: who got the first nobel prize in physics");
//! let ids = lm.tokenizer.encode(&prompt)?;
//! // W_0^ret: rank 16, alpha 32 on Q/K/V of every layer, trainable on an autodiff device.
//! let lora = LoraAdapter::new(&lm.model.config, 16, 32.0, 0, &device.clone().autodiff());
//! let eos_state = lm.model.hidden_at_batch(&[ids.clone()], None, &Adaptation::lora(&lora))?;
//! let opts = GenerateOptions { max_new_tokens: 32, stop_ids: lm.tokenizer.stop_ids.clone() };
//! let answer = lm.model.generate_greedy(&ids, &opts, &Adaptation::none())?;
//! println!("{}", lm.tokenizer.decode(&answer, true)?);
//! # let _ = eos_state;
//! # Ok(())
//! # }
//! ```

pub mod adapt;
pub mod adapter_io;
pub mod attention;
pub mod block;
pub mod chat;
pub mod config;
pub mod decode_weights;
pub mod delta;
pub mod device;
pub mod error;
mod fused_attention;
pub mod generate;
pub mod gguf;
pub mod kv_cache;
pub mod kv_precision;
pub mod linear;
pub mod load;
pub mod lora;
pub mod mlp;
pub mod model;
pub mod norm;
pub mod positions;
pub mod rope;
pub mod rows;
mod shared_decode;
pub mod tensor_util;
pub mod tokenizer;
pub mod trace;
pub mod weights;

pub use adapt::{Adaptation, Proj};
pub use config::{Arch, LlmConfig, RopeLayout};
pub use delta::LowRankDelta;
pub use device::device_by_name;
pub use error::{Error, Result};
pub use generate::{FrozenPrefix, GenerateOptions};
pub use kv_cache::KvCache;
pub use load::{
    LoadedModel, NAMED_MODELS, load_model, load_model_packed, load_path, load_path_packed,
    resolve_model_path,
};
pub use lora::{LoraAdapter, LoraLayer, LoraPair};
pub use model::Llm;
pub use positions::Positions;
pub use rows::RowDeltas;
pub use tokenizer::LlmTokenizer;
pub use weights::{HostTensor, SafetensorsSource, WeightKey, WeightSource};
