//! GGUF v3 (and v2) checkpoints: header and metadata parsing, tensor directory, dequantisation.
//!
//! The format is llama.cpp's single-file container: a header with typed key/value metadata
//! (architecture, hyper-parameters, tokenizer vocabulary and merges), a tensor directory
//! (name, dims with the fastest-varying first, ggml type, offset) and an aligned data section.
//! No maintained Rust crate covers exactly the read-only, dequantise-to-f32 path needed here
//! without pulling in a full inference engine (`candle-core`'s GGUF reader drags in its tensor
//! library), so the reader is written here, from the format specification in ggml's
//! `docs/gguf.md` and the block layouts in `ggml-quants.c`.

mod cursor;
mod dequant;
mod file;
mod ggml_type;
mod header;
mod metadata;

pub use dequant::dequantize;
pub use file::GgufFile;
pub use ggml_type::GgmlType;
pub use header::{GgufHeader, TensorInfo, parse_header};
pub use metadata::MetaValue;
