#!/usr/bin/env python3
"""Passage-encoding speed of sentence-transformers (all-MiniLM-L6-v2) on this CPU, for
`cargo xtask retrieval-report`: encodes the first N passages of a FlashRAG corpus jsonl the way
icor's dense retriever does (256-token budget, mean pooling, normalised) and prints one JSON line
{"passages", "seconds", "passages_per_second", "threads", "reference"}.

Uses the venv of scripts/retrieval_parity_fixture.py (~/.cache/icor/pyref-retrieval) for
`cargo xtask retrieval-report`, or scripts/bench_peers_venv.sh (~/.cache/icor/pyref-bench) for
`cargo xtask bench perf`.
"""

import argparse
import json
import time

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer, models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--limit", type=int, default=0, help="first N passages (0: all)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    texts = []
    with open(args.corpus, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                texts.append(json.loads(line)["contents"])
            if args.limit and len(texts) >= args.limit:
                break
    word = models.Transformer(args.model, max_seq_length=args.max_tokens)
    dim = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
    pool = models.Pooling(dim(), pooling_mode="mean")
    model = SentenceTransformer(modules=[word, pool, models.Normalize()], device="cpu")
    model.encode(texts[: args.batch], batch_size=args.batch)  # warm-up
    start = time.perf_counter()
    model.encode(texts, batch_size=args.batch, convert_to_numpy=True)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "passages": len(texts),
                "seconds": seconds,
                "passages_per_second": len(texts) / seconds,
                "threads": torch.get_num_threads(),
                "reference": f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}",
            }
        )
    )


if __name__ == "__main__":
    main()
