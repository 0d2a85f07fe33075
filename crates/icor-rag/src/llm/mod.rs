//! The frozen LLM backbone of RAG-GD (§5 of arXiv 2605.26356) in burn, with its Q/K/V
//! evidence-use interface.
//!
//! - [`config`]: hyper-parameters from GGUF metadata or `config.json`;
//!   [`weights`]: GGUF and safetensors sources; [`load`]: by name or path.
//! - [`model`]: embedding, pre-norm blocks ([`block`], [`attention`] with GQA and
//!   [`rope`], [`mlp`] SwiGLU, [`norm`] RMSNorm), output head; [`kv_cache`]; [`generate`].
//! - [`tokenizer`] from GGUF metadata, [`chat`] ChatML template.
//! - [`lora`] (`W_0^ret`), [`delta`] (`gΔW(C) = U Vᵀ`), [`adapt`] (what a forward pass
//!   uses), [`adapter_io`] (safetensors).

pub mod adapt;
pub mod adapter_io;
pub mod attention;
pub mod block;
pub mod chat;
pub mod config;
pub mod delta;
pub mod device;
pub mod generate;
pub mod kv_cache;
pub mod linear;
pub mod load;
pub mod lora;
pub mod mlp;
pub mod model;
pub mod norm;
pub mod rope;
pub mod tensor_util;
pub mod tokenizer;
pub mod weights;

pub use adapt::{Adaptation, Proj};
pub use config::{Arch, LlmConfig, RopeLayout};
pub use delta::LowRankDelta;
pub use device::device_by_name;
pub use generate::GenerateOptions;
pub use kv_cache::KvCache;
pub use load::{LoadedModel, NAMED_MODELS, load_model, load_path, resolve_model_path};
pub use lora::LoraAdapter;
pub use model::Llm;
pub use tokenizer::LlmTokenizer;
pub use weights::{HostTensor, SafetensorsSource, WeightKey, WeightSource};
