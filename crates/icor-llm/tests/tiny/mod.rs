//! Test support: tiny random backbones as [`WeightSource`]s, and transformed twins of them
//! (GQA expanded to MHA, Q/K rows permuted for the GGUF llama layout).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use icor_llm::Result;
use icor_llm::rope::interleave_permutation;
use icor_llm::weights::AttnWeight;
use icor_llm::{Arch, HostTensor, LlmConfig, RopeLayout, WeightKey, WeightSource};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A 2-layer model small enough for finite differences.
pub fn tiny_config(n_heads: usize, n_kv_heads: usize) -> LlmConfig {
    LlmConfig {
        arch: Arch::Llama,
        vocab_size: 64,
        d_model: 16,
        n_layers: 2,
        n_heads,
        n_kv_heads,
        head_dim: 4,
        d_ff: 24,
        rope_theta: 10_000.0,
        rms_eps: 1e-5,
        qkv_bias: false,
        tied_embeddings: false,
        rope_layout: RopeLayout::RotateHalf,
        max_positions: 64,
    }
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Row-major shape of `key` under `c` (PyTorch order).
pub fn shape_of(c: &LlmConfig, key: WeightKey) -> Vec<usize> {
    let (d, q, kv) = (c.d_model, c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim);
    match key {
        WeightKey::Embed | WeightKey::Output => vec![c.vocab_size, d],
        WeightKey::FinalNorm | WeightKey::AttnNorm(_) | WeightKey::FfnNorm(_) => vec![d],
        WeightKey::Attn(_, AttnWeight::Q) => vec![q, d],
        WeightKey::Attn(_, AttnWeight::K | AttnWeight::V) => vec![kv, d],
        WeightKey::Attn(_, AttnWeight::O) => vec![d, q],
        WeightKey::AttnBias(_, AttnWeight::Q) => vec![q],
        WeightKey::AttnBias(_, _) => vec![kv],
        WeightKey::Gate(_) | WeightKey::Up(_) => vec![c.d_ff, d],
        WeightKey::Down(_) => vec![d, c.d_ff],
    }
}

/// Deterministic random weights: each tensor seeded by (seed, key).
#[derive(Debug, Clone)]
pub struct RandomSource {
    pub config: LlmConfig,
    pub seed: u64,
    pub added: HashMap<WeightKey, Vec<f32>>,
}

impl RandomSource {
    pub fn new(config: LlmConfig, seed: u64) -> Self {
        Self {
            config,
            seed,
            added: HashMap::new(),
        }
    }

    /// The same model with `delta` added to tensor `key`.
    pub fn with_added(&self, key: WeightKey, delta: &[f32]) -> Self {
        let mut out = self.clone();
        out.added.insert(key, delta.to_vec());
        out
    }

    fn key_seed(&self, key: WeightKey) -> u64 {
        let name = key.hf_name();
        name.bytes()
            .fold(self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), |h, b| {
                (h ^ b as u64).wrapping_mul(0x1000_0000_01B3)
            })
    }
}

impl WeightSource for RandomSource {
    fn path(&self) -> &Path {
        Path::new("<random>")
    }
    fn has(&self, key: WeightKey) -> bool {
        match key {
            WeightKey::Output => !self.config.tied_embeddings,
            WeightKey::AttnBias(_, AttnWeight::O) => false,
            WeightKey::AttnBias(..) => self.config.qkv_bias,
            _ => true,
        }
    }
    fn read(&self, key: WeightKey) -> Result<HostTensor> {
        // Shapes follow the *original* head counts so twins can be derived from the same draws.
        let shape = shape_of(&self.config, key);
        let n: usize = shape.iter().product();
        let mut rng = ChaCha8Rng::seed_from_u64(self.key_seed(key));
        let mut data: Vec<f32> = match key {
            WeightKey::FinalNorm | WeightKey::AttnNorm(_) | WeightKey::FfnNorm(_) => {
                (0..n).map(|_| 1.0 + rng.random_range(-0.2..0.2)).collect()
            }
            WeightKey::Embed => (0..n).map(|_| rng.random_range(-1.0..1.0)).collect(),
            WeightKey::AttnBias(..) => (0..n).map(|_| rng.random_range(-0.3..0.3)).collect(),
            _ => {
                let fan_in = *shape.last().unwrap_or(&1) as f32;
                let b = 1.5 / fan_in.sqrt();
                (0..n).map(|_| rng.random_range(-b..b)).collect()
            }
        };
        if let Some(d) = self.added.get(&key) {
            for (x, y) in data.iter_mut().zip(d) {
                *x += y;
            }
        }
        Ok(HostTensor {
            name: key.hf_name(),
            data,
            shape,
        })
    }
}

/// The same model with every KV head repeated `n_heads / n_kv_heads` times (plain MHA).
pub struct RepeatedKv<'a> {
    inner: &'a RandomSource,
    pub config: LlmConfig,
}

impl<'a> RepeatedKv<'a> {
    pub fn new(inner: &'a RandomSource) -> Self {
        let mut config = inner.config.clone();
        config.n_kv_heads = config.n_heads;
        Self { inner, config }
    }
}

fn select_rows(t: HostTensor, rows: &[usize]) -> HostTensor {
    let cols: usize = t.shape[1..].iter().product();
    let mut data = Vec::with_capacity(rows.len() * cols);
    for &r in rows {
        data.extend_from_slice(&t.data[r * cols..(r + 1) * cols]);
    }
    let mut shape = t.shape.clone();
    shape[0] = rows.len();
    HostTensor {
        name: t.name,
        data,
        shape,
    }
}

impl WeightSource for RepeatedKv<'_> {
    fn path(&self) -> &Path {
        Path::new("<random, repeated kv>")
    }
    fn has(&self, key: WeightKey) -> bool {
        self.inner.has(key)
    }
    fn read(&self, key: WeightKey) -> Result<HostTensor> {
        let t = self.inner.read(key)?;
        let c = &self.inner.config;
        let g = c.n_heads / c.n_kv_heads;
        match key {
            WeightKey::Attn(_, AttnWeight::K | AttnWeight::V)
            | WeightKey::AttnBias(_, AttnWeight::K | AttnWeight::V) => {
                let rows: Vec<usize> = (0..c.n_heads)
                    .flat_map(|h| {
                        let kv = h / g;
                        (0..c.head_dim).map(move |i| kv * c.head_dim + i)
                    })
                    .collect();
                Ok(select_rows(t, &rows))
            }
            _ => Ok(t),
        }
    }
}

/// The same model stored as llama.cpp stores llama: Q/K rows permuted, interleaved RoPE.
pub struct PermutedForGguf<'a> {
    inner: &'a RandomSource,
    pub config: LlmConfig,
}

impl<'a> PermutedForGguf<'a> {
    pub fn new(inner: &'a RandomSource) -> Self {
        let mut config = inner.config.clone();
        config.rope_layout = RopeLayout::Interleaved;
        Self { inner, config }
    }
}

impl WeightSource for PermutedForGguf<'_> {
    fn path(&self) -> &Path {
        Path::new("<random, gguf layout>")
    }
    fn has(&self, key: WeightKey) -> bool {
        self.inner.has(key)
    }
    fn read(&self, key: WeightKey) -> Result<HostTensor> {
        let t = self.inner.read(key)?;
        let c = &self.inner.config;
        let heads = match key {
            WeightKey::Attn(_, AttnWeight::Q) | WeightKey::AttnBias(_, AttnWeight::Q) => c.n_heads,
            WeightKey::Attn(_, AttnWeight::K) | WeightKey::AttnBias(_, AttnWeight::K) => {
                c.n_kv_heads
            }
            _ => return Ok(t),
        };
        Ok(select_rows(t, &interleave_permutation(heads, c.head_dim)))
    }
}
pub mod gguf_writer;
