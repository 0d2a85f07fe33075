//! The RAG-GD code paths on the real SmolLM2-135M weights (fetched by `.ci/run`): batched EOS
//! hidden states equal single-sequence ones, a zero-init LoRA is the base model, and an
//! external `U Vᵀ` delta on one projection moves the logits.

use burn::tensor::Device;
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{Adaptation, LoraAdapter, LowRankDelta, Proj, load_model};

fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(1f32, |m, x| m.max(x.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
        / scale
}

#[test]
fn batched_eos_states_lora_zero_init_and_delta_on_real_weights() {
    let device = Device::flex();
    let lm = load_model("smollm2-135m", &device).expect("model loads (run `icor fetch`)");
    let (m, tok) = (&lm.model, &lm.tokenizer);
    let texts = [
        "Question: who wrote Hamlet? Answer: William Shakespeare<|im_end|>",
        "Question: capital of Japan? Answer: Tokyo<|im_end|>",
        "Doc 1(Title: Paris) Paris is the capital of France.<|im_end|>",
    ];
    let seqs: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| tok.encode(t).expect("encode"))
        .collect();
    assert!(
        seqs.iter()
            .all(|s| *s.last().expect("nonempty") == tok.eos_id.expect("eos"))
    );
    let none = Adaptation::none();

    // Batched (right-padded) EOS states equal the one-by-one states.
    let batch = to_vec_f32(m.hidden_at_batch(&seqs, None, &none).expect("batch"));
    let d = m.config.d_model;
    for (i, s) in seqs.iter().enumerate() {
        let h = m.hidden_states(s, &none).expect("single");
        let single = to_vec_f32(h.narrow(1, s.len() - 1, 1).reshape([d]));
        let r = max_rel(&batch[i * d..(i + 1) * d], &single);
        assert!(
            r < 1e-4,
            "sequence {i}: batched EOS state differs (rel {r:.2e})"
        );
    }

    // A fresh LoRA (B = 0) leaves the logits bit-identical.
    let lora = LoraAdapter::new(&m.config, 16, 32.0, 0, &device);
    let ids = &seqs[0];
    let base = to_vec_f32(m.forward_logits(ids, &none).expect("base"));
    let with = to_vec_f32(
        m.forward_logits(ids, &Adaptation::lora(&lora))
            .expect("lora"),
    );
    assert_eq!(base, with);

    // A rank-1 delta on V of the last layer moves the logits.
    let last = m.config.n_layers - 1;
    let mut delta = LowRankDelta::new();
    let u =
        burn::tensor::Tensor::<2>::ones([m.config.proj_out(Proj::V), 1], &device).mul_scalar(0.05);
    let v = burn::tensor::Tensor::<2>::ones([d, 1], &device).mul_scalar(0.05);
    delta.set(last, Proj::V, u, v).expect("delta");
    let moved = to_vec_f32(
        m.forward_logits(ids, &none.with_delta(&delta))
            .expect("delta"),
    );
    assert!(max_rel(&moved, &base) > 1e-4);
}
