#!/usr/bin/env python3
"""PyTorch (CPU, float32) peer in `cargo xtask bench perf`: the same measurement as
crates/icor-llm/examples/llm_bench.rs — prefill tokens/s at 512 tokens, then greedy decode
tokens/s with the KV cache after that context — for transformers loading the same GGUF.

    ~/.cache/icor/pyref-bench/bin/python scripts/llm_speed_torch.py [--threads N] [--decode N] [--repeat R] MODEL...
Prints one JSON line per model. Each timing is taken R times (default 3) and the fastest kept,
as llm_bench does.
"""
import argparse
import json
import os
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from llm_speed_common import MODELS, PREFILL, TEXT, positive


@torch.no_grad()
def bench(name, decode, repeat):
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
    prefill_s = decode_s = float("inf")
    for _ in range(repeat):
        t0 = time.time()
        # The output head on the last position only, as icor's prefill and transformers'
        # generate() compute it: the logits of every position would add the head's
        # 512 × vocab × d_model products (27 % more work for SmolLM2, 38 % for Qwen).
        out = model(ids, use_cache=True, logits_to_keep=1)
        past = out.past_key_values
        nxt = out.logits[0, -1].argmax().view(1, 1)
        prefill_s = min(prefill_s, time.time() - t0)
        t1 = time.time()
        for _ in range(decode):
            out = model(nxt, past_key_values=past, use_cache=True)
            past = out.past_key_values
            nxt = out.logits[0, -1].argmax().view(1, 1)
        decode_s = min(decode_s, time.time() - t1)
    return {
        "model": name, "device": "torch-cpu", "threads": torch.get_num_threads(),
        "torch": torch.__version__, "load_s": load_s,
        "prefill_tokens": PREFILL, "prefill_s": prefill_s, "prefill_tok_s": PREFILL / prefill_s,
        "decode_tokens": decode, "decode_s": decode_s, "decode_tok_s": decode / decode_s,
        "repeat": repeat,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--repeat", type=positive, default=3)
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for m in a.models:
        print(json.dumps(bench(m, a.decode, a.repeat)), flush=True)


if __name__ == "__main__":
    main()
