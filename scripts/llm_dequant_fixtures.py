#!/usr/bin/env python3
"""Dequantisation fixtures from the `gguf` Python package (llama.cpp's own numpy reference):

- synthetic: random rows quantised with `gguf.quants.quantize` to F16, BF16, Q4_0, Q4_1,
  Q5_0, Q8_0; the raw block bytes (hex) and `gguf.quants.dequantize` of them;
- real: for each quant type in the two shipped GGUF files, the first 512 dequantised values
  of the first tensor of that type (Q4_K and Q6_K come from the Qwen file).

    ~/.cache/icor/pyref-llm/bin/python scripts/llm_dequant_fixtures.py
Writes crates/icor-rag/tests/fixtures/llm/dequant.json.
"""
import json
import os
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as Q

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "icor-rag" / "tests" / "fixtures" / "llm" / "dequant.json"
HOME = Path(os.environ.get("ICOR_HOME", Path.home() / ".cache" / "icor"))
FILES = {
    "smollm2-135m": HOME / "smollm2-135m" / "SmolLM2-135M-Instruct.Q4_1.gguf",
    "qwen2.5-0.5b": HOME / "qwen2.5-0.5b" / "qwen2.5-coder-0.5b-instruct.gguf",
}
N_REAL = 512


def main():
    rng = np.random.default_rng(2605_26356)
    synthetic = []
    for qt in [Q.F16, Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q8_0]:
        x = (rng.standard_normal(256) * rng.uniform(0.01, 3.0)).astype(np.float32).reshape(1, 256)
        raw = gguf.quants.quantize(x, qt)
        y = gguf.quants.dequantize(raw, qt).reshape(-1)
        synthetic.append({
            "type": qt.name, "type_id": int(qt), "n": 256,
            "bytes_hex": raw.tobytes().hex(), "values": [float(v) for v in y],
        })
    real = []
    for model, path in FILES.items():
        r = gguf.GGUFReader(path)
        seen = set()
        for t in r.tensors:
            if t.tensor_type in seen:
                continue
            seen.add(t.tensor_type)
            y = gguf.quants.dequantize(t.data, t.tensor_type).reshape(-1)[:N_REAL]
            real.append({
                "model": model, "tensor": t.name, "type": t.tensor_type.name,
                "values": [float(v) for v in y],
            })
    OUT.write_text(json.dumps({"reference": f"gguf {gguf.__version__ if hasattr(gguf, '__version__') else ''} numpy",
                               "synthetic": synthetic, "real": real}) + "\n")
    print(f"wrote {OUT} ({len(synthetic)} synthetic, {len(real)} real)")


if __name__ == "__main__":
    main()
