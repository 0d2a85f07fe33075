//! BERT weights from a safetensors file (memory-mapped), as burn tensors on a device, with
//! every shape checked against the config. Names follow Hugging Face's `BertModel`, with or
//! without a `bert.` prefix. Linear weights are stored `[out, in]` and kept transposed
//! (`[in, out]`) so a layer is one `x · W + b`.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use icor_kernels::Precision;
use icor_kernels::burn_ops::PackedLinear;
use safetensors::{Dtype, SafeTensors};

use super::config::BertConfig;
use crate::error::{Error, Result};

/// A dense layer: `x · weight + bias`, `weight` is `[in, out]`.
#[derive(Clone)]
pub struct Linear {
    /// `[in, out]`.
    pub weight: Tensor<2>,
    /// `[out]`.
    pub bias: Tensor<1>,
    /// On the CPU backend, the same weight packed once for `icor_kernels`' product (f32).
    pub packed: Option<PackedLinear>,
}

/// A LayerNorm's scale and shift.
#[derive(Clone)]
pub struct Norm {
    /// `[hidden]`.
    pub gamma: Tensor<1>,
    /// `[hidden]`.
    pub beta: Tensor<1>,
    /// The same values on the host, for `icor_kernels`' one-pass LayerNorm.
    pub host: (Vec<f32>, Vec<f32>),
}

/// One transformer block.
#[derive(Clone)]
pub struct Layer {
    /// Query projection.
    pub query: Linear,
    /// Key projection.
    pub key: Linear,
    /// Value projection.
    pub value: Linear,
    /// Attention output projection.
    pub attention_out: Linear,
    /// LayerNorm after attention.
    pub attention_norm: Norm,
    /// Feed-forward up projection.
    pub intermediate: Linear,
    /// Feed-forward down projection.
    pub output: Linear,
    /// LayerNorm after the feed-forward block.
    pub output_norm: Norm,
}

/// All weights the encoder uses (the pooler is not used by sentence-transformers' mean pooling).
#[derive(Clone)]
pub struct BertWeights {
    /// `[vocab, hidden]`.
    pub word_embeddings: Tensor<2>,
    /// `[max_positions, hidden]`.
    pub position_embeddings: Tensor<2>,
    /// Row 0 of the token-type embeddings, `[hidden]` (single-segment inputs only).
    pub token_type_embedding: Tensor<1>,
    /// LayerNorm of the embeddings.
    pub embeddings_norm: Norm,
    /// The blocks.
    pub layers: Vec<Layer>,
}

struct Reader<'a> {
    path: PathBuf,
    tensors: SafeTensors<'a>,
    prefix: &'static str,
    device: Device,
}

impl Reader<'_> {
    fn raw(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>> {
        let full = format!("{}{name}", self.prefix);
        let view = self
            .tensors
            .tensor(&full)
            .map_err(|_| Error::MissingTensor {
                path: self.path.clone(),
                tensor: full.clone(),
            })?;
        if view.shape() != expected {
            return Err(Error::ShapeMismatch {
                path: self.path.clone(),
                tensor: full,
                expected: expected.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        if view.dtype() != Dtype::F32 {
            return Err(Error::Safetensors {
                path: self.path.clone(),
                reason: format!("tensor `{full}` is {:?}, expected F32", view.dtype()),
            });
        }
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<Tensor<2>> {
        let data = self.raw(name, &[rows, cols])?;
        Ok(Tensor::from_data(
            TensorData::new(data, [rows, cols]),
            &self.device,
        ))
    }

    fn vector(&self, name: &str, len: usize) -> Result<Tensor<1>> {
        let data = self.raw(name, &[len])?;
        Ok(Tensor::from_data(
            TensorData::new(data, [len]),
            &self.device,
        ))
    }

    fn linear(&self, name: &str, inputs: usize, outputs: usize) -> Result<Linear> {
        let weight = self
            .matrix(&format!("{name}.weight"), outputs, inputs)?
            .transpose();
        let bias = self.vector(&format!("{name}.bias"), outputs)?;
        let packed = (weight.device() == Device::flex())
            .then(|| PackedLinear::pack(&weight, Some(&bias), Precision::F32));
        Ok(Linear {
            weight,
            bias,
            packed,
        })
    }

    fn norm(&self, name: &str, hidden: usize) -> Result<Norm> {
        let gamma = self.raw(&format!("{name}.weight"), &[hidden])?;
        let beta = self.raw(&format!("{name}.bias"), &[hidden])?;
        let tensor =
            |v: &[f32]| Tensor::from_data(TensorData::new(v.to_vec(), [hidden]), &self.device);
        Ok(Norm {
            gamma: tensor(&gamma),
            beta: tensor(&beta),
            host: (gamma, beta),
        })
    }
}

impl BertWeights {
    /// Loads the weights of `config` from `path` onto `device`.
    pub fn load(path: &Path, config: &BertConfig, device: &Device) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // SAFETY: the file is opened read-only and only read while mapped; the asset cache never
        // rewrites a file in place (it renames new versions over old ones).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let tensors = SafeTensors::deserialize(&map).map_err(|e| Error::Safetensors {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let prefix = if tensors.names().iter().any(|n| n.starts_with("bert.")) {
            "bert."
        } else {
            ""
        };
        let r = Reader {
            path: path.to_path_buf(),
            tensors,
            prefix,
            device: device.clone(),
        };
        let h = config.hidden_size;
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let at = |part: &str| format!("encoder.layer.{i}.{part}");
                Ok(Layer {
                    query: r.linear(&at("attention.self.query"), h, h)?,
                    key: r.linear(&at("attention.self.key"), h, h)?,
                    value: r.linear(&at("attention.self.value"), h, h)?,
                    attention_out: r.linear(&at("attention.output.dense"), h, h)?,
                    attention_norm: r.norm(&at("attention.output.LayerNorm"), h)?,
                    intermediate: r.linear(
                        &at("intermediate.dense"),
                        h,
                        config.intermediate_size,
                    )?,
                    output: r.linear(&at("output.dense"), config.intermediate_size, h)?,
                    output_norm: r.norm(&at("output.LayerNorm"), h)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let token_types = r.matrix(
            "embeddings.token_type_embeddings.weight",
            config.type_vocab_size,
            h,
        )?;
        Ok(Self {
            word_embeddings: r.matrix("embeddings.word_embeddings.weight", config.vocab_size, h)?,
            position_embeddings: r.matrix(
                "embeddings.position_embeddings.weight",
                config.max_position_embeddings,
                h,
            )?,
            token_type_embedding: token_types.narrow(0, 0, 1).reshape([h]),
            embeddings_norm: r.norm("embeddings.LayerNorm", h)?,
            layers,
        })
    }
}
