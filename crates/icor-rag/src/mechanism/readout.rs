//! What the study reads off one teacher-forced forward pass: the next-token log-probabilities
//! over the whole vocabulary at the first answer position, the gold answer's token
//! log-probabilities, the top-1 token, and every layer's attention output at the first answer
//! position (Dai et al.'s SimAOU compares their changes).

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{Adaptation, Llm};

use super::segments::Teacher;
use crate::error::Result;
use crate::method::frozen::FrozenStates;

/// One forward pass's readings.
#[derive(Debug, Clone, PartialEq)]
pub struct Readout {
    /// `log p(· | prompt)` at the first answer position, `[vocab]`.
    pub first: Vec<f32>,
    /// `log p(a_j | prompt, a_<j)` for each gold answer token.
    pub gold: Vec<f32>,
    /// Attention output per layer at the first answer position, `[n_layers][d]`.
    pub attn: Vec<Vec<f32>>,
}

impl Readout {
    /// The most likely next token at the first answer position.
    pub fn top1(&self) -> u32 {
        argmax(&self.first)
    }

    /// `log p(a | prompt)`, the gold answer's log-probability.
    pub fn gold_sum(&self) -> f64 {
        self.gold.iter().map(|&x| f64::from(x)).sum()
    }
}

/// Index of the largest value (the first on ties).
pub fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}

/// Reads `seq` under `adapt`, running layers from `frozen.split()` up on the cached stream
/// entering it; the attention outputs of the layers below are taken from `below` (the same
/// sequence's readout without adaptation), which they equal since those layers are not
/// adapted. With `split = 0` every layer runs and `below` is not read.
pub fn read(
    model: &Llm,
    frozen: &mut FrozenStates,
    seq: &Teacher,
    adapt: &Adaptation<'_>,
    below: Option<&Readout>,
) -> Result<Readout> {
    let split = frozen.split();
    let n = model.config.n_layers;
    let x = frozen.get(model, &seq.ids)?;
    let traced = model.forward_traced(x, split..n, seq.first, adapt)?;
    let h = model.final_norm(traced.stream);
    let [_, t, d] = h.dims();
    let picks: Vec<i64> = (0..seq.answer_len)
        .map(|j| (seq.first + j) as i64)
        .collect();
    let idx: Tensor<1, Int> =
        Tensor::from_data(TensorData::new(picks, [seq.answer_len]), model.device());
    let logp = log_softmax(model.project(h.reshape([t, d]).select(0, idx)), 1);
    let labels: Vec<i64> = seq.ids[seq.first + 1..seq.first + 1 + seq.answer_len]
        .iter()
        .map(|&i| i64::from(i))
        .collect();
    let labels: Tensor<2, Int> =
        Tensor::from_data(TensorData::new(labels, [seq.answer_len, 1]), model.device());
    let gold = to_vec_f32(logp.clone().gather(1, labels));
    let vocab = model.config.vocab_size;
    let first = to_vec_f32(logp.slice([0..1, 0..vocab]));
    let mut attn: Vec<Vec<f32>> = match below {
        Some(b) if split > 0 => b.attn[..split].to_vec(),
        _ => Vec::new(),
    };
    attn.extend(traced.attn_out.into_iter().map(to_vec_f32));
    Ok(Readout { first, gold, attn })
}
