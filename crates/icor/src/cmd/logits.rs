//! `icor logits --model {qwen2.5-0.5b|smollm2-135m|PATH} --text T [--chat] [--top-k K] --json`:
//! the backbone's next-token distribution after `T` (the parity probe of issue 4).

use std::process::ExitCode;

use anyhow::Context;
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{Adaptation, device_by_name, load_model};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `qwen2.5-0.5b`, `smollm2-135m` (fetched assets) or a path (.gguf, or a folder with
    /// config.json + safetensors + tokenizer.json).
    #[arg(long)]
    model: String,
    /// Input text (raw, tokenized as the model's tokenizer does; no BOS is added for the
    /// shipped models).
    #[arg(long)]
    text: String,
    /// Wrap the text as the user turn of the model's chat template (default system prompt).
    #[arg(long)]
    chat: bool,
    /// How many of the most likely next tokens to list.
    #[arg(long, default_value_t = 10)]
    top_k: usize,
    /// Print JSON `{model, token_ids, top: [{id, token, logit, logprob}], argmax_per_position}`.
    #[arg(long)]
    json: bool,
    /// burn device: flex (CPU, default) or wgpu.
    #[arg(long, default_value = "flex")]
    device: String,
}

#[derive(Debug, Serialize)]
struct Top {
    id: u32,
    token: String,
    logit: f32,
    logprob: f32,
}

#[derive(Debug, Serialize)]
struct Output {
    model: String,
    token_ids: Vec<u32>,
    top: Vec<Top>,
    argmax_per_position: Vec<u32>,
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |b, (i, &x)| if x > b.1 { (i, x) } else { b },
        )
        .0
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let device = device_by_name(&args.device)?;
    let loaded = load_model(&args.model, &device)
        .with_context(|| format!("loading model `{}`", args.model))?;
    let tok = &loaded.tokenizer;
    let text = if args.chat {
        tok.chat_prompt(None, &args.text)
    } else {
        args.text.clone()
    };
    let ids = tok.encode(&text)?;
    anyhow::ensure!(!ids.is_empty(), "the text tokenizes to nothing");
    let logits = loaded.model.forward_logits(&ids, &Adaptation::none())?;
    let [_, t, v] = logits.dims();
    let all = to_vec_f32(logits.reshape([t, v]));
    let argmax_per_position: Vec<u32> = all.chunks_exact(v).map(|r| argmax(r) as u32).collect();
    let last = &all[(t - 1) * v..];
    let max = last.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let lse = max
        + last
            .iter()
            .map(|&x| ((x - max) as f64).exp())
            .sum::<f64>()
            .ln() as f32;
    let mut order: Vec<usize> = (0..v).collect();
    let k = args.top_k.min(v);
    if k < v {
        order.select_nth_unstable_by(k, |&a, &b| last[b].total_cmp(&last[a]));
    }
    let mut order = order[..k].to_vec();
    order.sort_by(|&a, &b| last[b].total_cmp(&last[a]));
    let top: Vec<Top> = order
        .into_iter()
        .map(|i| Top {
            id: i as u32,
            token: tok.token_text(i as u32),
            logit: last[i],
            logprob: last[i] - lse,
        })
        .collect();
    let out = Output {
        model: loaded.name.clone(),
        token_ids: ids,
        top,
        argmax_per_position,
    };
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("model   {} ({})", out.model, loaded.path.display());
        println!("tokens  {} {:?}", out.token_ids.len(), out.token_ids);
        for t in &out.top {
            println!(
                "{:>8}  {:>10.4}  {:>9.4}  {:?}",
                t.id, t.logit, t.logprob, t.token
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
