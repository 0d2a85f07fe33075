//! LoRA adapters as safetensors, in PEFT's naming and layout
//! (`base_model.model.model.layers.{l}.self_attn.{q,k,v}_proj.lora_{A,B}.weight`,
//! `A: [r, in]`, `B: [out, r]`), with `rank` and `alpha` in the header metadata.

use std::collections::HashMap;
use std::path::Path;

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::tensor::TensorView;

use super::adapt::Proj;
use super::config::LlmConfig;
use super::lora::{LoraAdapter, LoraLayer, LoraPair};
use super::tensor_util::to_vec_f32;
use super::weights::view_to_f32;
use crate::{Error, Result};

fn key(layer: usize, proj: Proj, ab: &str) -> String {
    format!(
        "base_model.model.model.layers.{layer}.self_attn.{}_proj.lora_{ab}.weight",
        proj.name()
    )
}

fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

impl LoraAdapter {
    /// Writes the adapter to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.save_with(path, &[])
    }

    /// Writes the adapter to `path` with `extra` entries in the header metadata (what it was
    /// trained on, say); the keys `rank`, `alpha`, `first_layer` and `format` are its own.
    pub fn save_with(&self, path: &Path, extra: &[(String, String)]) -> Result<()> {
        let mut tensors: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::new();
        for (l, layer) in self.layer_range().zip(&self.layers) {
            for proj in Proj::ALL {
                let p = layer.pair(proj);
                let a = p.a.val();
                let b = p.b.val();
                let [din, r] = a.dims();
                let [_, out] = b.dims();
                // A = aᵀ: [r, in]; B = bᵀ: [out, r].
                let a_t = transpose(&to_vec_f32(a), din, r);
                let b_t = transpose(&to_vec_f32(b), r, out);
                let bytes = |v: Vec<f32>| v.iter().flat_map(|x| x.to_le_bytes()).collect();
                tensors.push((key(l, proj, "A"), bytes(a_t), vec![r, din]));
                tensors.push((key(l, proj, "B"), bytes(b_t), vec![out, r]));
            }
        }
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .map(|(name, data, shape)| {
                TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| Error::Safetensors {
                        path: path.to_path_buf(),
                        reason: e.to_string(),
                    })
            })
            .collect::<Result<_>>()?;
        let mut meta: HashMap<String, String> = extra.iter().cloned().collect();
        meta.extend([
            ("rank".to_string(), self.rank.to_string()),
            ("alpha".to_string(), self.alpha.to_string()),
            ("first_layer".to_string(), self.first_layer.to_string()),
            ("format".to_string(), "icor-lora-qkv".to_string()),
        ]);
        let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| Error::Safetensors {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        std::fs::write(path, bytes).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The header metadata of an adapter file (`rank`, `alpha`, … and whatever
    /// [`LoraAdapter::save_with`] added).
    pub fn metadata(path: &Path) -> Result<HashMap<String, String>> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let (_, header) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| Error::Safetensors {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        Ok(header.metadata().clone().unwrap_or_default())
    }

    /// Reads an adapter written by [`LoraAdapter::save`] (or PEFT with the same target
    /// modules) and checks it against `config`.
    pub fn load(path: &Path, config: &LlmConfig, device: &Device) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let st_err = |reason: String| Error::Safetensors {
            path: path.to_path_buf(),
            reason,
        };
        let (_, header) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| st_err(e.to_string()))?;
        let st =
            safetensors::SafeTensors::deserialize(&bytes).map_err(|e| st_err(e.to_string()))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let rank: usize = meta
            .get("rank")
            .and_then(|r| r.parse().ok())
            .ok_or_else(|| st_err("metadata `rank` missing or not an integer".into()))?;
        let alpha: f32 = meta
            .get("alpha")
            .and_then(|r| r.parse().ok())
            .ok_or_else(|| st_err("metadata `alpha` missing or not a number".into()))?;
        // Absent in PEFT files and older icor files: every layer.
        let first_layer: usize = match meta.get("first_layer") {
            None => 0,
            Some(f) => f
                .parse()
                .ok()
                .filter(|&f| f < config.n_layers)
                .ok_or_else(|| st_err(format!("metadata `first_layer` = `{f}` is not a layer")))?,
        };
        let read = |name: String, shape: [usize; 2]| -> Result<Tensor<2>> {
            let view = st
                .tensor(&name)
                .map_err(|e| st_err(format!("tensor `{name}`: {e}")))?;
            if view.shape() != shape {
                return Err(Error::ShapeMismatch {
                    path: path.to_path_buf(),
                    tensor: name,
                    expected: shape.to_vec(),
                    found: view.shape().to_vec(),
                });
            }
            let data = view_to_f32(&view, path, &name)?;
            // Stored transposed relative to the in-memory layout.
            let t = transpose(&data, shape[0], shape[1]);
            Ok(Tensor::from_data(
                TensorData::new(t, [shape[1], shape[0]]),
                device,
            ))
        };
        let mut layers = Vec::with_capacity(config.n_layers - first_layer);
        for l in first_layer..config.n_layers {
            let pair = |proj: Proj| -> Result<LoraPair> {
                let out = config.proj_out(proj);
                Ok(LoraPair {
                    a: Param::from_tensor(read(key(l, proj, "A"), [rank, config.d_model])?),
                    b: Param::from_tensor(read(key(l, proj, "B"), [out, rank])?),
                })
            };
            layers.push(LoraLayer {
                q: pair(Proj::Q)?,
                k: pair(Proj::K)?,
                v: pair(Proj::V)?,
            });
        }
        Ok(Self {
            layers,
            first_layer,
            rank,
            alpha,
        })
    }
}
