//! Phase 2 of Algorithm 1, first half: each demonstration `(x_i, D_i, y_i)` is formatted as
//! its RAG prompt followed by the gold answer and the end-of-turn token, run through the
//! frozen LLM with `W_0^ret`, and represented by the final hidden state at that last token
//! (the EOS state); `h̄(C)` is their mean.

use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{Adaptation, Llm, LoraAdapter};

use burn::tensor::{Int, Tensor, TensorData};

use crate::error::Result;
use crate::experiment::prompt::Instance;
use crate::method::frozen::FrozenStates;

/// EOS states `[n][d]` of `demos` under `w0` (on the model's plain device: no gradient).
pub fn eos_states(
    model: &Llm,
    frozen: &mut FrozenStates,
    w0: &LoraAdapter,
    demos: &[&Instance],
) -> Result<Vec<Vec<f32>>> {
    let seqs: Vec<Vec<u32>> = demos.iter().map(|i| i.sequence()).collect();
    let t_max = seqs.iter().map(Vec::len).max().unwrap_or(0);
    let x = frozen.batch(model, &seqs)?;
    let n_layers = model.config.n_layers;
    let h = model.forward_layers(x, frozen.split()..n_layers, None, &Adaptation::lora(w0))?;
    let h = model.final_norm(h);
    let [b, t, d] = h.dims();
    let picks: Vec<i64> = seqs
        .iter()
        .enumerate()
        .map(|(i, s)| (i * t_max + s.len() - 1) as i64)
        .collect();
    let idx = Tensor::<1, Int>::from_data(TensorData::new(picks, [b]), model.device());
    let rows = to_vec_f32(h.reshape([b * t, d]).select(0, idx));
    Ok(rows.chunks(d).map(<[f32]>::to_vec).collect())
}

/// `h̄ = (1/N) Σ h_i`.
pub fn mean_state(states: &[&[f32]]) -> Vec<f32> {
    let d = states.first().map_or(0, |s| s.len());
    let mut out = vec![0f32; d];
    for s in states {
        out.iter_mut().zip(*s).for_each(|(o, x)| *o += x);
    }
    let n = states.len().max(1) as f32;
    out.iter_mut().for_each(|o| *o /= n);
    out
}
