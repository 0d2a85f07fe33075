#!/usr/bin/env python3
"""PyTorch (CPU, float32) peer of crates/icor-llm/examples/lora_step.rs in `cargo xtask bench
perf`: one LoRA training step's forward and backward on the same GGUF (dequantised to f32 by
transformers), rank 16, alpha 32 on q/k/v of every layer as plain torch modules, the base
weights frozen, a 400-token sequence (the same text, repeated), mean next-token cross-entropy
over every position, autograd's backward. Seconds per step: the median of --steps timed steps
after one warm-up step.

    ~/.cache/icor/pyref-bench/bin/python scripts/lora_step_torch.py [--threads N] [--steps N] [--tokens T] MODEL...
Prints one JSON line per model.
"""
import argparse
import json
import math
import os
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from llm_speed_common import MODELS, TEXT


class LoRA(torch.nn.Module):
    """y = base(x) + (alpha / r) · x A B, A: [in, r] uniform ±1/√in, B: [r, out] = 0 (icor's
    `LoraAdapter::new`)."""

    def __init__(self, base, rank, alpha):
        super().__init__()
        self.base = base
        d_in, d_out = base.in_features, base.out_features
        bound = 1.0 / math.sqrt(d_in)
        self.a = torch.nn.Parameter(torch.empty(d_in, rank).uniform_(-bound, bound))
        self.b = torch.nn.Parameter(torch.zeros(rank, d_out))
        self.scale = alpha / rank

    def forward(self, x):
        return self.base(x) + (x @ self.a @ self.b) * self.scale


def bench(name, steps, tokens):
    path = MODELS[name]
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    model.train()
    for p in model.parameters():
        p.requires_grad_(False)
    for layer in model.model.layers:
        attn = layer.self_attn
        for proj in ("q_proj", "k_proj", "v_proj"):
            setattr(attn, proj, LoRA(getattr(attn, proj), 16, 32.0))
    ids = []
    while len(ids) < tokens:
        ids += tok(TEXT, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([ids[:tokens]])
    inputs, targets = ids[:, :-1], ids[0, 1:]

    def step():
        t = time.time()
        logits = model(inputs, use_cache=False).logits[0]
        loss = torch.nn.functional.cross_entropy(logits, targets)
        loss.backward()
        for p in model.parameters():
            p.grad = None
        return time.time() - t

    step()  # warm-up
    times = sorted(step() for _ in range(steps))
    median = times[len(times) // 2]
    return {
        "model": name, "device": "torch-cpu", "threads": torch.get_num_threads(),
        "torch": torch.__version__, "tokens": tokens, "rank": 16, "steps": steps,
        "step_s": median, "steps_per_second": 1.0 / median, "step_s_all": times,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=400)
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for m in a.models:
        print(json.dumps(bench(m, a.steps, a.tokens)), flush=True)


if __name__ == "__main__":
    main()
