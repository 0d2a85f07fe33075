#!/usr/bin/env python3
"""llama.cpp peer of `crates/icor-llm/examples/llm_bench.rs` for `cargo xtask bench perf`:
the same measurement — prefill tokens/s for one 512-token prompt, then greedy decode tokens/s
with the KV cache after that context — through llama-cpp-python compiled on this machine from
its PyPI source distribution (scripts/bench_peers_venv.sh), on the same GGUF files. llama.cpp
runs the weights in their stored quantisation (SmolLM2 Q4_1, Qwen2.5-Coder as shipped) with
its native kernels; icor dequantises them to f32 at load.

    ~/.cache/icor/pyref-bench/bin/python scripts/llm_speed_llamacpp.py [--threads N] [--decode N] [--repeat R] MODEL...
Prints one JSON line per model. Each timing is taken R times (default 3) and the fastest kept,
as llm_bench does.
"""
import argparse
import json
import os
import time

import llama_cpp
import numpy as np
from llama_cpp import Llama

from llm_speed_common import MODELS, PREFILL, TEXT, positive


def bench(name, decode, threads, repeat):
    # n_batch = n_ctx: without logits_all, llama-cpp-python sizes `scores` by n_batch and
    # indexes it by position, so a smaller batch cannot hold the decoded positions' logits.
    ctx = PREFILL + decode + 8
    llm = Llama(model_path=str(MODELS[name]), n_ctx=ctx, n_batch=ctx, n_ubatch=PREFILL,
                n_threads=threads, n_threads_batch=threads, logits_all=False, verbose=False)
    ids = []
    while len(ids) < PREFILL:
        ids.extend(llm.tokenize(TEXT.encode(), add_bos=False))
    ids = ids[:PREFILL]
    llm.eval(ids[:64])  # warm-up
    prefill_s = decode_s = float("inf")
    for _ in range(repeat):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(ids)
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        prefill_s = min(prefill_s, time.perf_counter() - t0)
        t1 = time.perf_counter()
        for _ in range(decode):
            llm.eval([nxt])
            nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        decode_s = min(decode_s, time.perf_counter() - t1)
    return {
        "model": name,
        "backend": "llama.cpp",
        "file_bytes": MODELS[name].stat().st_size,
        "prefill_tokens": PREFILL,
        "prefill_s": prefill_s,
        "prefill_tok_s": PREFILL / prefill_s,
        "decode_tokens": decode,
        "decode_s": decode_s,
        "decode_tok_s": decode / decode_s,
        "threads": threads,
        "repeat": repeat,
        "reference": f"llama-cpp-python {llama_cpp.__version__} (built from source here)",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--repeat", type=positive, default=3)
    ap.add_argument("models", nargs="+", choices=sorted(MODELS))
    args = ap.parse_args()
    for name in args.models:
        print(json.dumps(bench(name, args.decode, args.threads, args.repeat)), flush=True)


if __name__ == "__main__":
    main()
