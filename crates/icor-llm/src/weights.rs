//! Where the backbone's tensors come from: a GGUF file or Hugging Face safetensors shards.
//!
//! Both sources hand out f32 data in PyTorch's row-major order (a linear weight is
//! `[out, in]`), addressed by a logical [`WeightKey`] that each source maps to its own names.

use std::path::{Path, PathBuf};

use crate::gguf::GgufFile;
use crate::{Error, Result};

/// The projections of an attention layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttnWeight {
    Q,
    K,
    V,
    O,
}

/// A logical tensor of the backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightKey {
    Embed,
    FinalNorm,
    Output,
    AttnNorm(usize),
    Attn(usize, AttnWeight),
    AttnBias(usize, AttnWeight),
    FfnNorm(usize),
    Gate(usize),
    Up(usize),
    Down(usize),
}

impl WeightKey {
    /// llama.cpp's tensor name.
    pub fn gguf_name(self) -> String {
        let attn = |w: AttnWeight| match w {
            AttnWeight::Q => "attn_q",
            AttnWeight::K => "attn_k",
            AttnWeight::V => "attn_v",
            AttnWeight::O => "attn_output",
        };
        match self {
            Self::Embed => "token_embd.weight".into(),
            Self::FinalNorm => "output_norm.weight".into(),
            Self::Output => "output.weight".into(),
            Self::AttnNorm(l) => format!("blk.{l}.attn_norm.weight"),
            Self::Attn(l, w) => format!("blk.{l}.{}.weight", attn(w)),
            Self::AttnBias(l, w) => format!("blk.{l}.{}.bias", attn(w)),
            Self::FfnNorm(l) => format!("blk.{l}.ffn_norm.weight"),
            Self::Gate(l) => format!("blk.{l}.ffn_gate.weight"),
            Self::Up(l) => format!("blk.{l}.ffn_up.weight"),
            Self::Down(l) => format!("blk.{l}.ffn_down.weight"),
        }
    }

    /// Hugging Face transformers' tensor name.
    pub fn hf_name(self) -> String {
        let attn = |w: AttnWeight| match w {
            AttnWeight::Q => "q_proj",
            AttnWeight::K => "k_proj",
            AttnWeight::V => "v_proj",
            AttnWeight::O => "o_proj",
        };
        match self {
            Self::Embed => "model.embed_tokens.weight".into(),
            Self::FinalNorm => "model.norm.weight".into(),
            Self::Output => "lm_head.weight".into(),
            Self::AttnNorm(l) => format!("model.layers.{l}.input_layernorm.weight"),
            Self::Attn(l, w) => format!("model.layers.{l}.self_attn.{}.weight", attn(w)),
            Self::AttnBias(l, w) => format!("model.layers.{l}.self_attn.{}.bias", attn(w)),
            Self::FfnNorm(l) => format!("model.layers.{l}.post_attention_layernorm.weight"),
            Self::Gate(l) => format!("model.layers.{l}.mlp.gate_proj.weight"),
            Self::Up(l) => format!("model.layers.{l}.mlp.up_proj.weight"),
            Self::Down(l) => format!("model.layers.{l}.mlp.down_proj.weight"),
        }
    }
}

/// A dense f32 tensor in row-major order, with the name it had in its file.
#[derive(Debug, Clone)]
pub struct HostTensor {
    pub name: String,
    pub data: Vec<f32>,
    pub shape: Vec<usize>,
}

/// A checkpoint the backbone can be built from.
pub trait WeightSource {
    /// The file (or folder) the weights come from, for error messages.
    fn path(&self) -> &Path;
    /// Whether `key` exists (optional tensors: biases, untied output).
    fn has(&self, key: WeightKey) -> bool;
    /// Reads and dequantises `key`.
    fn read(&self, key: WeightKey) -> Result<HostTensor>;

    /// Reads `key` and checks its shape.
    fn read_shaped(&self, key: WeightKey, expected: &[usize]) -> Result<HostTensor> {
        let t = self.read(key)?;
        if t.shape != expected {
            return Err(Error::ShapeMismatch {
                path: self.path().to_path_buf(),
                tensor: t.name,
                expected: expected.to_vec(),
                found: t.shape,
            });
        }
        Ok(t)
    }
}

impl WeightSource for GgufFile {
    fn path(&self) -> &Path {
        GgufFile::path(self)
    }
    fn has(&self, key: WeightKey) -> bool {
        self.has_tensor(&key.gguf_name())
    }
    fn read(&self, key: WeightKey) -> Result<HostTensor> {
        let name = key.gguf_name();
        let (data, shape) = self.tensor_f32(&name)?;
        // ggml stores 1-D tensors as [n]; matrices come back as [out, in] already.
        Ok(HostTensor { name, data, shape })
    }
}

/// Hugging Face safetensors shards (`model.safetensors` or `model-0000i-of-0000n.safetensors`).
pub struct SafetensorsSource {
    dir: PathBuf,
    shards: Vec<(PathBuf, memmap2::Mmap)>,
    /// tensor name → shard index.
    index: std::collections::HashMap<String, usize>,
}

impl SafetensorsSource {
    /// Maps every `*.safetensors` file in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::Safetensors {
                path: dir.to_path_buf(),
                reason: "no *.safetensors file in this folder".into(),
            });
        }
        let mut shards = Vec::new();
        let mut index = std::collections::HashMap::new();
        for (i, path) in files.into_iter().enumerate() {
            let file = std::fs::File::open(&path).map_err(io(&path))?;
            // SAFETY: read-only map of a checkpoint that is not modified while open.
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io(&path))?;
            let st =
                safetensors::SafeTensors::deserialize(&map).map_err(|e| Error::Safetensors {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            for name in st.names() {
                index.insert(name.to_string(), i);
            }
            shards.push((path, map));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            shards,
            index,
        })
    }
}

/// Converts a safetensors view to f32 (F32, F16, BF16).
pub(crate) fn view_to_f32(
    view: &safetensors::tensor::TensorView<'_>,
    path: &Path,
    name: &str,
) -> Result<Vec<f32>> {
    use safetensors::Dtype;
    let b = view.data();
    let data = match view.dtype() {
        Dtype::F32 => b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => b
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => b
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        other => {
            return Err(Error::Safetensors {
                path: path.to_path_buf(),
                reason: format!("tensor `{name}` has dtype {other:?} (F32, F16, BF16 are read)"),
            });
        }
    };
    Ok(data)
}

impl WeightSource for SafetensorsSource {
    fn path(&self) -> &Path {
        &self.dir
    }
    fn has(&self, key: WeightKey) -> bool {
        self.index.contains_key(&key.hf_name())
    }
    fn read(&self, key: WeightKey) -> Result<HostTensor> {
        let name = key.hf_name();
        let &i = self.index.get(&name).ok_or_else(|| Error::MissingTensor {
            path: self.dir.clone(),
            tensor: name.clone(),
        })?;
        let (path, map) = &self.shards[i];
        let st = safetensors::SafeTensors::deserialize(map).map_err(|e| Error::Safetensors {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let view = st.tensor(&name).map_err(|e| Error::Safetensors {
            path: path.clone(),
            reason: format!("tensor `{name}`: {e}"),
        })?;
        let data = view_to_f32(&view, path, &name)?;
        Ok(HostTensor {
            name,
            data,
            shape: view.shape().to_vec(),
        })
    }
}
