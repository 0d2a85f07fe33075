//! `icor generate --model … [--system S] --prompt P [--chat] [--max-new-tokens N]`: greedy
//! continuation of a prompt by the frozen backbone; prints the continuation only.

use std::process::ExitCode;

use anyhow::Context;
use icor_llm::{Adaptation, GenerateOptions, LoraAdapter, device_by_name, load_model};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `qwen2.5-0.5b`, `smollm2-135m` (fetched assets) or a path (.gguf, or a folder with
    /// config.json + safetensors + tokenizer.json).
    #[arg(long)]
    model: String,
    /// System turn (with --chat; the model's default system prompt when absent).
    #[arg(long)]
    system: Option<String>,
    /// The prompt (raw text, or the user turn with --chat).
    #[arg(long)]
    prompt: String,
    /// Apply the model's chat template (ChatML) to --system and --prompt.
    #[arg(long)]
    chat: bool,
    /// Stop after this many new tokens (generation also stops at the model's stop tokens).
    #[arg(long, default_value_t = 32)]
    max_new_tokens: usize,
    /// A Q/K/V LoRA adapter (safetensors written by icor) to apply.
    #[arg(long)]
    adapter: Option<std::path::PathBuf>,
    /// burn device: flex (CPU, default) or wgpu.
    #[arg(long, default_value = "flex")]
    device: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.system.is_none() || args.chat,
        "--system needs --chat (it becomes the system turn of the chat template)"
    );
    let device = device_by_name(&args.device)?;
    let loaded = load_model(&args.model, &device)
        .with_context(|| format!("loading model `{}`", args.model))?;
    let tok = &loaded.tokenizer;
    let text = if args.chat {
        tok.chat_prompt(args.system.as_deref(), &args.prompt)
    } else {
        args.prompt.clone()
    };
    let ids = tok.encode(&text)?;
    let adapter = match &args.adapter {
        Some(p) => Some(LoraAdapter::load(p, &loaded.model.config, &device)?),
        None => None,
    };
    let adapt = match &adapter {
        Some(a) => Adaptation::lora(a),
        None => Adaptation::none(),
    };
    let out = loaded.model.generate_greedy(
        &ids,
        &GenerateOptions {
            max_new_tokens: args.max_new_tokens,
            stop_ids: tok.stop_ids.clone(),
        },
        &adapt,
    )?;
    println!("{}", tok.decode(&out, true)?);
    Ok(ExitCode::SUCCESS)
}
