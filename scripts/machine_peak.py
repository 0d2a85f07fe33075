#!/usr/bin/env python3
"""The machine's compute limit for `cargo xtask bench perf`: the best f32 matrix-product rate
PyTorch's CPU BLAS reaches here (n × n × n, n = 2048, best of 5, every core), printed as one
JSON line {"sgemm_gflops", "n", "threads", "reference"}. Used as the practical FLOP/s ceiling
the prefill rates are set against."""
import json
import time

import torch


def main():
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    print(json.dumps({
        "sgemm_gflops": 2 * n**3 / best / 1e9, "n": n, "threads": torch.get_num_threads(),
        "reference": f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()})",
    }))


if __name__ == "__main__":
    main()
