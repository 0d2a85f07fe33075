#!/usr/bin/env python3
"""Reference embeddings of all-MiniLM-L6-v2 from sentence-transformers, for the Rust parity test.

Writes crates/icor-rag/tests/fixtures/retrieval/minilm_parity.json: for a few queries and
passages (unicode, punctuation, a passage longer than the token budget), the WordPiece ids and the
unit-length mean-pooled embedding computed by sentence-transformers (Transformer -> Pooling(mean)
-> Normalize), at the token budgets icor uses (128 for queries, 256 for passages).

Set-up (outside the repository; torch comes from PyPI):
    python3 -m venv ~/.cache/icor/pyref-retrieval
    ~/.cache/icor/pyref-retrieval/bin/pip install sentence-transformers
Run:
    ~/.cache/icor/pyref-retrieval/bin/python scripts/retrieval_parity_fixture.py \
        --model ~/.cache/icor/minilm-l6-v2
"""

import argparse
import hashlib
import json
import os
import pathlib

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer, models

QUERIES = [
    "who got the first nobel prize in physics",
    "When did the Berlin Wall fall?",
    "what does hp mean in war and order",
    "Wer entdeckte die Röntgenstrahlen? ¿Quién?",
    "",
]

LONG = " ".join(
    f"Sentence {i} of a long passage about the history of the {w} and its 1,000,000 visitors."
    for i, w in enumerate(["Louvre", "Prado", "Uffizi", "Hermitage", "Rijksmuseum"] * 6)
)

PASSAGES = [
    '"Wilhelm Röntgen"\nWilhelm Conrad Röntgen was a German mechanical engineer and physicist, '
    "who, on 8 November 1895, produced and detected electromagnetic radiation in a wavelength "
    "range known as X-rays or Röntgen rays, an achievement that earned him the first Nobel Prize "
    "in Physics in 1901.",
    '"Paris"\nParis is the capital and most populous city of France, with an estimated population '
    "of 2,102,650 residents in January 2023 in an area of more than 105 km².",
    '"東京"\n東京都は日本の首都である。 Tokyo is the capital of Japan — ça va? naïve café.',
    '"Long"\n' + LONG,
]

QUERY_MAX_TOKENS = 128
PASSAGE_MAX_TOKENS = 256


def encoder(model_dir: str, max_tokens: int) -> SentenceTransformer:
    word = models.Transformer(model_dir, max_seq_length=max_tokens)
    pool = models.Pooling(word.get_embedding_dimension(), pooling_mode="mean")
    return SentenceTransformer(modules=[word, pool, models.Normalize()], device="cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=os.path.expanduser("~/.cache/icor/minilm-l6-v2"))
    root = pathlib.Path(__file__).resolve().parent.parent
    parser.add_argument(
        "--out", default=str(root / "crates/icor-rag/tests/fixtures/retrieval/minilm_parity.json")
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    weights = pathlib.Path(args.model, "model.safetensors").read_bytes()
    cases = []
    for texts, budget, kind in [(QUERIES, QUERY_MAX_TOKENS, "query"), (PASSAGES, PASSAGE_MAX_TOKENS, "passage")]:
        model = encoder(args.model, budget)
        tokenizer = model[0].tokenizer
        # One batch with padding, as retrieval encodes: padding must not change the result.
        embeddings = model.encode(texts, batch_size=len(texts), convert_to_numpy=True)
        for text, embedding in zip(texts, embeddings):
            ids = tokenizer(text, truncation=True, max_length=budget)["input_ids"]
            cases.append(
                {
                    "kind": kind,
                    "text": text,
                    "max_tokens": budget,
                    "token_ids": ids,
                    "embedding": [float(x) for x in embedding],
                }
            )
    fixture = {
        "generator": "scripts/retrieval_parity_fixture.py",
        "reference": f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}",
        "model_sha256": hashlib.sha256(weights).hexdigest(),
        "pipeline": "Transformer(max_seq_length) -> Pooling(mean) -> Normalize",
        "cases": cases,
    }
    pathlib.Path(args.out).write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(cases)} cases to {args.out}")


if __name__ == "__main__":
    main()
