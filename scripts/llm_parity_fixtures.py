#!/usr/bin/env python3
"""Reference fixtures for the Rust backbone (crates/icor-rag/src/llm), from an implementation
nobody in this repository wrote: Hugging Face `transformers` on CPU `torch`, loading the same
GGUF file (transformers dequantises it with the `gguf` package and undoes llama.cpp's Q/K row
permutation, so it runs the rotate-half RoPE on the original weights).

For each prompt it records the token ids (transformers' tokenizer built from the GGUF
metadata), the top-20 logits at the last position, the argmax at every position and a
16-token greedy continuation (no stop tokens), in float32.

Set-up (outside the repository, once):
    python3 -m venv ~/.cache/icor/pyref-llm
    ~/.cache/icor/pyref-llm/bin/pip install torch transformers accelerate gguf numpy
Run:
    ~/.cache/icor/pyref-llm/bin/python scripts/llm_parity_fixtures.py [smollm2-135m|qwen2.5-0.5b ...]
Writes crates/icor-rag/tests/fixtures/llm/<model>.json.
"""
import json
import os
import sys
import time
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "icor-rag" / "tests" / "fixtures" / "llm"
HOME = Path(os.environ.get("ICOR_HOME", Path.home() / ".cache" / "icor"))
MODELS = {
    "smollm2-135m": HOME / "smollm2-135m" / "SmolLM2-135M-Instruct.Q4_1.gguf",
    "qwen2.5-0.5b": HOME / "qwen2.5-0.5b" / "qwen2.5-coder-0.5b-instruct.gguf",
}
TOP_K = 20
NEW_TOKENS = 16

# FlashRAG's standard-RAG prompt with one document (the acceptance example of issue 4).
RAG_SYSTEM = (
    "Answer the question based on the given document. Only give me the answer and do not "
    "output any other words. The following are given documents:\n\n"
    "Doc 1(Title: Nobel Prize in Physics) The Nobel Prize in Physics is a yearly award given by "
    "the Royal Swedish Academy of Sciences for those who have made the most outstanding "
    "contributions to mankind in the field of physics. The first Nobel Prize in Physics was "
    "awarded in 1901 to Wilhelm Conrad Röntgen, in recognition of the extraordinary services "
    "he rendered by the discovery of X-rays.\n"
)
RAG_USER = "Question: who got the first nobel prize in physics"

PROMPTS = [
    {"name": "raw_capital", "text": "The capital of France is"},
    {"name": "raw_mixed", "text": "Röntgen found X-rays in 1895; 12345 + 678 = 13023.\n  def f(x):\n\treturn x**2  # ünïcödé"},
    {"name": "chat_default_system", "chat": {"system": None, "user": "What is the largest planet in the solar system?"}},
    {"name": "chat_rag_nobel", "chat": {"system": RAG_SYSTEM, "user": RAG_USER}},
]


def render(tok, chat):
    messages = []
    if chat["system"] is not None:
        messages.append({"role": "system", "content": chat["system"]})
    messages.append({"role": "user", "content": chat["user"]})
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


@torch.no_grad()
def fixture(name, path):
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, torch_dtype=torch.float32
    )
    model.eval()
    cases = []
    for p in PROMPTS:
        text = p["text"] if "text" in p else render(tok, p["chat"])
        ids = tok(text, add_special_tokens=False)["input_ids"]
        x = torch.tensor([ids])
        logits = model(x).logits[0].float()
        last = logits[-1]
        top = torch.topk(last, TOP_K)
        logprobs = torch.log_softmax(last, dim=-1)
        # Greedy continuation, no stop tokens, with the model's own KV cache.
        out = model(x, use_cache=True)
        past = out.past_key_values
        nxt = int(out.logits[0, -1].argmax())
        cont = [nxt]
        for _ in range(NEW_TOKENS - 1):
            out = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
            past = out.past_key_values
            nxt = int(out.logits[0, -1].argmax())
            cont.append(nxt)
        case = {
            "name": p["name"],
            "text": text,
            "token_ids": ids,
            "top_ids": [int(i) for i in top.indices],
            "top_logits": [float(v) for v in top.values],
            "top_logprobs": [float(logprobs[i]) for i in top.indices],
            "argmax_per_position": [int(i) for i in logits.argmax(-1)],
            "greedy_ids": cont,
            "greedy_text": tok.decode(cont),
        }
        if "chat" in p:
            case["chat"] = p["chat"]
        cases.append(case)
        print(f"{name} {p['name']}: {len(ids)} tokens -> {case['greedy_text']!r}", flush=True)
    return {
        "model": name,
        "gguf": path.name,
        "reference": f"transformers {transformers.__version__}, torch {torch.__version__}, CPU float32",
        "top_k": TOP_K,
        "new_tokens": NEW_TOKENS,
        "cases": cases,
    }


def main():
    names = sys.argv[1:] or list(MODELS)
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for name in names:
        t0 = time.time()
        fx = fixture(name, MODELS[name])
        (OUT / f"{name}.json").write_text(json.dumps(fx, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {name}.json in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
