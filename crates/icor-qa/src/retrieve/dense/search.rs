//! Exact inner-product search: queries `Q: [B, H]` times the passage matrix `Eᵀ: [H, n]` (in
//! column blocks, so a corpus of any size is searched with bounded memory), top-k per row.

use burn::tensor::{Device, Tensor, TensorData};

use super::encoder::{QUERY_MAX_TOKENS, SentenceEncoder};
use super::store::EmbeddingStore;
use crate::error::{Error, Result};
use crate::retrieve::Retriever;
use crate::retrieve::topk::{ScoredRow, top_k};

/// Passages per block of the passage matrix.
const BLOCK: usize = 1 << 16;

/// Dense retrieval over cached passage embeddings.
pub struct DenseRetriever {
    encoder: SentenceEncoder,
    /// `Eᵀ` blocks, each `[H, ≤ BLOCK]`, with the first row of each.
    blocks: Vec<(usize, Tensor<2>)>,
    rows: usize,
    device: Device,
    /// Queries per forward pass.
    pub batch: usize,
}

impl DenseRetriever {
    /// A retriever over `store`, encoding queries with `encoder`.
    pub fn new(encoder: SentenceEncoder, store: &EmbeddingStore, device: &Device) -> Self {
        let dim = store.meta.dim;
        let rows = store.meta.rows;
        let blocks = (0..rows)
            .step_by(BLOCK)
            .map(|start| {
                let end = (start + BLOCK).min(rows);
                let data = store.data[start * dim..end * dim].to_vec();
                let block =
                    Tensor::<2>::from_data(TensorData::new(data, [end - start, dim]), device)
                        .transpose();
                (start, block)
            })
            .collect();
        Self {
            encoder,
            blocks,
            rows,
            device: device.clone(),
            batch: 64,
        }
    }

    /// The query encoder.
    pub fn encoder(&self) -> &SentenceEncoder {
        &self.encoder
    }

    /// Passages searched.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

impl Retriever for DenseRetriever {
    fn name(&self) -> &'static str {
        "dense"
    }

    fn search_batch(&self, queries: &[&str], k: usize) -> Result<Vec<Vec<ScoredRow>>> {
        let dim = self.encoder.dim();
        let mut results = Vec::with_capacity(queries.len());
        for chunk in queries.chunks(self.batch.max(1)) {
            let q = self
                .encoder
                .encode(chunk, QUERY_MAX_TOKENS, chunk.len(), |_| {})?;
            let q = Tensor::<2>::from_data(TensorData::new(q, [chunk.len(), dim]), &self.device);
            let mut scores = vec![Vec::with_capacity(self.rows); chunk.len()];
            for (_, block) in &self.blocks {
                let width = block.dims()[1];
                let product = q
                    .clone()
                    .matmul(block.clone())
                    .into_data()
                    .try_into_vec::<f32>()
                    .map_err(|e| Error::Encoder(format!("reading scores back: {e:?}")))?;
                for (row, out) in scores.iter_mut().enumerate() {
                    out.extend_from_slice(&product[row * width..(row + 1) * width]);
                }
            }
            results.extend(scores.iter().map(|s| top_k(s, k)));
        }
        Ok(results)
    }
}
