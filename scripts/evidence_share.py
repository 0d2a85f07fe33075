#!/usr/bin/env python3
"""How often the retrieved documents show a golden answer, by how much of each document is shown.

Reads a run folder's retrieval caches (`<run>/retrieval/<retriever>.json`: question key -> the
top document ids) and the prepared FlashRAG files, and prints, per retriever and question set,
the share of prompts whose shown documents contain a normalised golden answer (SQuAD
normalisation, FlashRAG's recall rule) when each document is cut to its title and first W words.
A cut in words approximates icor's cut in tokens (about 18 words for 24 SmolLM2 tokens); the
exact per-question flag at the profile's own cut is `gold_in_prompt` in the results JSON.

    python3 scripts/evidence_share.py runs/decided --words 18 36 60 100 100000
"""
import argparse
import collections
import json
import os
import re
import string

PUNCT = set(string.punctuation)


def norm(s):
    s = "".join(ch for ch in s.lower() if ch not in PUNCT)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="run folder holding retrieval/<retriever>.json")
    ap.add_argument("--words", type=int, nargs="+", default=[18, 36, 60, 100, 100000])
    ap.add_argument("--prepared", default=os.path.expanduser("~/.cache/icor/prepared/flashrag"))
    a = ap.parse_args()
    corpus = {}
    with open(f"{a.prepared}/corpus/wiki-summaries.jsonl") as f:
        for line in f:
            r = json.loads(line)
            corpus[int(r["id"])] = r["contents"]
    answers = {}
    for root, _, files in os.walk(a.prepared):
        for name in files:
            if root.endswith("corpus") or not name.endswith(".jsonl"):
                continue
            key = f"{os.path.basename(root)}/{name[:-6]}"
            with open(os.path.join(root, name)) as f:
                for line in f:
                    r = json.loads(line)
                    answers[f"{key}:{r['id']}"] = [norm(g) for g in r["golden_answers"]]
    print("retriever  set                  questions  " + "  ".join(f"{w:>6}w" for w in a.words))
    for retriever in ("bm25", "dense"):
        path = f"{a.run}/retrieval/{retriever}.json"
        if not os.path.exists(path):
            continue
        with open(path) as f:
            cache = json.load(f)["value"]
        by_set = collections.defaultdict(list)
        for key, docs in cache.items():
            by_set[key.split(":")[0]].append((key, docs))
        for name, items in sorted(by_set.items()):
            shares = []
            for w in a.words:
                hits = 0
                for key, docs in items:
                    # the title line counts as shown, as in icor's prompt
                    text = " " + " ".join(norm(" ".join(corpus[d].split()[: w + 3])) for d in docs) + " "
                    hits += any(g and f" {g} " in text for g in answers[key])
                shares.append(100 * hits / len(items))
            print(f"{retriever:<10} {name:<20} {len(items):>9}  " + "  ".join(f"{s:>6.1f}%" for s in shares))


if __name__ == "__main__":
    main()
