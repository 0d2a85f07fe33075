#!/usr/bin/env python3
"""PyTorch (CPU, float32) peer in `cargo xtask bench perf`: the same measurement as
crates/icor-llm/examples/llm_bench.rs — prefill tokens/s at 512 tokens, then greedy decode
tokens/s with the KV cache after that context — for transformers loading the same GGUF.

    ~/.cache/icor/pyref-bench/bin/python scripts/llm_speed_torch.py [--threads N] [--decode N] MODEL...
Prints one JSON line per model.
"""
import argparse
import json
import os
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

HOME = Path(os.environ.get("ICOR_HOME", Path.home() / ".cache" / "icor"))
MODELS = {
    "smollm2-135m": HOME / "smollm2-135m" / "SmolLM2-135M-Instruct.Q4_1.gguf",
    "qwen2.5-0.5b": HOME / "qwen2.5-0.5b" / "qwen2.5-coder-0.5b-instruct.gguf",
}
PREFILL = 512
TEXT = ("Wilhelm Conrad Röntgen was a German physicist who produced and detected "
        "electromagnetic radiation in a wavelength range known as X-rays. ")


@torch.no_grad()
def bench(name, decode):
    path = MODELS[name]
    t = time.time()
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()
    load_s = time.time() - t
    ids = []
    while len(ids) < PREFILL:
        ids += tok(TEXT, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([ids[:PREFILL]])
    model(ids[:, :64])  # warm-up
    t0 = time.time()
    out = model(ids, use_cache=True)
    past = out.past_key_values
    nxt = out.logits[0, -1].argmax().view(1, 1)
    prefill_s = time.time() - t0
    t1 = time.time()
    for _ in range(decode):
        out = model(nxt, past_key_values=past, use_cache=True)
        past = out.past_key_values
        nxt = out.logits[0, -1].argmax().view(1, 1)
    decode_s = time.time() - t1
    return {
        "model": name, "device": "torch-cpu", "threads": torch.get_num_threads(),
        "torch": torch.__version__, "load_s": load_s,
        "prefill_tokens": PREFILL, "prefill_s": prefill_s, "prefill_tok_s": PREFILL / prefill_s,
        "decode_tokens": decode, "decode_s": decode_s, "decode_tok_s": decode / decode_s,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for m in a.models:
        print(json.dumps(bench(m, a.decode)), flush=True)


if __name__ == "__main__":
    main()
