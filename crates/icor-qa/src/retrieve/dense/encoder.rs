//! Sentence embeddings as sentence-transformers computes them for all-MiniLM-L6-v2:
//! WordPiece tokens (`[CLS] … [SEP]`, truncated), BERT, mean over the real tokens, L2
//! normalisation. Texts are encoded in batches of similar length (sorted, as
//! sentence-transformers does) so little work goes into padding; results come back in input
//! order.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use tokenizers::Tokenizer;

use super::bert::Bert;
use super::config::BertConfig;
use super::weights::BertWeights;
use crate::error::{Error, Result};

/// Token budget for queries: the preset truncation of the shipped `tokenizer.json`.
pub const QUERY_MAX_TOKENS: usize = 128;
/// Token budget for passages, raised to sentence-transformers' `max_seq_length` for this model
/// (the ~90-word summaries fit; longer wiki-18 passages are cut here, as in the reference).
pub const PASSAGE_MAX_TOKENS: usize = 256;

/// all-MiniLM-L6-v2 (or another BERT sentence encoder with mean pooling).
pub struct SentenceEncoder {
    bert: Bert,
    tokenizer: Tokenizer,
    cls: u32,
    sep: u32,
    dir: PathBuf,
    /// Threads encoding batches concurrently (default: the machine's parallelism).
    pub workers: usize,
}

impl SentenceEncoder {
    /// Loads `config.json`, `model.safetensors`, `tokenizer.json` (and checks
    /// `1_Pooling/config.json`, when present, asks for mean pooling) from `dir`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let config = BertConfig::read(&dir.join("config.json"))?;
        let pooling = dir.join("1_Pooling").join("config.json");
        if let Ok(text) = std::fs::read_to_string(&pooling) {
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| Error::BadLine {
                    path: pooling.clone(),
                    line: e.line() as u64,
                    reason: e.to_string(),
                })?;
            if value.get("pooling_mode_mean_tokens") != Some(&serde_json::Value::Bool(true)) {
                return Err(Error::Metadata {
                    path: pooling,
                    key: "pooling_mode_mean_tokens".into(),
                    reason: "only mean pooling is implemented".into(),
                });
            }
        }
        let weights = BertWeights::load(&dir.join("model.safetensors"), &config, device)?;
        let tokenizer_path = dir.join("tokenizer.json");
        let tok_err = |reason: String| Error::Tokenizer {
            source_name: tokenizer_path.display().to_string(),
            reason,
        };
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| tok_err(e.to_string()))?;
        // Truncation and special tokens are applied per call below; padding per batch.
        tokenizer
            .with_truncation(None)
            .map_err(|e| tok_err(e.to_string()))?;
        tokenizer.with_padding(None);
        let special = |token: &str| {
            tokenizer
                .token_to_id(token)
                .ok_or_else(|| tok_err(format!("no `{token}` token")))
        };
        let (cls, sep) = (special("[CLS]")?, special("[SEP]")?);
        Ok(Self {
            bert: Bert {
                config,
                weights,
                device: device.clone(),
            },
            tokenizer,
            cls,
            sep,
            dir: dir.to_path_buf(),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    }

    /// Width of the embeddings.
    pub fn dim(&self) -> usize {
        self.bert.config.hidden_size
    }

    /// The model folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Token ids of `text`: `[CLS]`, at most `max_tokens − 2` WordPiece ids, `[SEP]` (what HF's
    /// `longest_first` truncation gives for a single sequence).
    pub fn token_ids(&self, text: &str, max_tokens: usize) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| Error::Tokenizer {
                source_name: self.dir.join("tokenizer.json").display().to_string(),
                reason: e.to_string(),
            })?;
        let max_tokens = max_tokens.clamp(2, self.bert.config.max_position_embeddings);
        let body = &encoding.get_ids()[..encoding.get_ids().len().min(max_tokens - 2)];
        let mut ids = Vec::with_capacity(body.len() + 2);
        ids.push(self.cls);
        ids.extend_from_slice(body);
        ids.push(self.sep);
        Ok(ids)
    }

    /// Unit-length embeddings of `texts`, row-major `texts.len() × dim`, in input order;
    /// `on_done(n)` is told after each batch how many texts are finished.
    pub fn encode(
        &self,
        texts: &[&str],
        max_tokens: usize,
        batch_size: usize,
        mut on_done: impl FnMut(usize),
    ) -> Result<Vec<f32>> {
        let dim = self.dim();
        let tokens = texts
            .iter()
            .map(|t| self.token_ids(t, max_tokens))
            .collect::<Result<Vec<_>>>()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        // Longest first, ties by position: deterministic batches.
        order.sort_by_key(|&i| (std::cmp::Reverse(tokens[i].len()), i));
        let batches: Vec<&[usize]> = order.chunks(batch_size.max(1)).collect();
        let mut out = vec![0f32; texts.len() * dim];
        // Batches are independent: `workers` threads take every `workers`-th one (burn's CPU
        // backend runs each product on one core as built here). Each batch is computed the same
        // way whichever thread runs it, so the result does not depend on the thread count.
        let workers = self.workers.clamp(1, batches.len().max(1));
        let (send, receive) = std::sync::mpsc::channel::<(usize, Result<Vec<f32>>)>();
        std::thread::scope(|scope| {
            for worker in 0..workers {
                let send = send.clone();
                let (batches, tokens) = (&batches, &tokens);
                scope.spawn(move || {
                    for (b, chunk) in batches.iter().enumerate().skip(worker).step_by(workers) {
                        let len = chunk.iter().map(|&i| tokens[i].len()).max().unwrap_or(0);
                        let mut ids = vec![0u32; chunk.len() * len];
                        let mut mask = vec![0f32; chunk.len() * len];
                        for (row, &i) in chunk.iter().enumerate() {
                            ids[row * len..row * len + tokens[i].len()].copy_from_slice(&tokens[i]);
                            mask[row * len..row * len + tokens[i].len()].fill(1.0);
                        }
                        let pooled = self.pool(&ids, &mask, chunk.len(), len);
                        let failed = pooled.is_err();
                        if send.send((b, pooled)).is_err() || failed {
                            return;
                        }
                    }
                });
            }
            drop(send);
            let mut done = 0;
            for (b, pooled) in receive {
                let pooled = pooled?;
                for (row, &i) in batches[b].iter().enumerate() {
                    out[i * dim..(i + 1) * dim]
                        .copy_from_slice(&pooled[row * dim..(row + 1) * dim]);
                }
                done += batches[b].len();
                on_done(done);
            }
            Ok::<(), Error>(())
        })?;
        Ok(out)
    }

    /// Mean pooling over real tokens, then L2 normalisation (`max(‖x‖, 1e-12)`, as
    /// `torch.nn.functional.normalize`).
    fn pool(&self, ids: &[u32], mask: &[f32], batch: usize, len: usize) -> Result<Vec<f32>> {
        let device = &self.bert.device;
        let hidden = self.bert.forward(ids, mask, batch, len);
        let mask = Tensor::<3>::from_data(TensorData::new(mask.to_vec(), [batch, len, 1]), device);
        let counts = mask.clone().sum_dim(1).clamp_min(1e-9);
        let mean = (hidden * mask).sum_dim(1) / counts;
        let mean = mean.reshape([batch, self.dim()]);
        let norm = mean
            .clone()
            .powi_scalar(2)
            .sum_dim(1)
            .sqrt()
            .clamp_min(1e-12);
        let unit = mean / norm;
        unit.into_data()
            .try_into_vec::<f32>()
            .map_err(|e| Error::Encoder(format!("reading embeddings back: {e:?}")))
    }
}
