#!/usr/bin/env python3
"""JAX (CPU) peer of `crates/icor-probe/examples/lsa_step.rs` for `cargo xtask bench perf`.

Written for icor, not taken from the authors' repository (ToneLi/ICL_RAG is not available
offline): it performs the same step as `icor_probe::train::Trainer::step` with the same shapes
and operations, in the authors' framework.
- Task (the authors' protocol, 5 documents): x ~ U(-1/2, 1/2)^20 for N = 10 context tokens and
  the query, w ~ N(0, I_20), y = w.x; tokens [x, y] of width 21, the query's y slot zero. Drawn
  inside the jitted step with jax.random (icor draws them with ChaCha8 on the CPU in the step).
- Model: depth-1 LSA, h <- h + ((h W_Q)(kv W_K)^T (kv W_V)) P with keys/values from the 10
  context tokens whose columns 10..19 are mixed with a fixed document vector (keep 0.1),
  prediction = -h[query, y].
- Loss 0.5 * mean squared error; global-norm clip 0.001; Adam lr 5e-4, b1 0.9, b2 0.98,
  eps 1e-8 (written out here, no optax, so that the venv needs only jax).
Times the best of --rounds rounds of --steps steps after 3 warm-up steps (block_until_ready
after each round) and prints one JSON line.

    ~/.cache/icor/pyref-bench/bin/python scripts/lsa_step_jax.py [--batch 2048] [--steps 20]
"""
import argparse
import json
import time

import jax
import jax.numpy as jnp

N, DX = 10, 20
D = DX + 1
MIX_START, KEEP = 10, 0.1


def init(key):
    ks = jax.random.split(key, 5)
    w = lambda k: jax.random.normal(k, (D, D), jnp.float32) * jnp.sqrt(0.002 / D)
    params = {"wq": w(ks[0]), "wk": w(ks[1]), "wv": w(ks[2]), "p": w(ks[3])}
    doc = jax.random.normal(ks[4], (10,), jnp.float32) * 0.01
    return params, doc


def batch(key, b):
    kx, kw = jax.random.split(key)
    x = jax.random.uniform(kx, (b, N + 1, DX), jnp.float32, -0.5, 0.5)
    w = jax.random.normal(kw, (b, DX), jnp.float32)
    y = jnp.einsum("btd,bd->bt", x, w)
    target = y[:, N]
    y = y.at[:, N].set(0.0)
    return jnp.concatenate([x, y[..., None]], axis=2), target


def predict(params, doc, tokens):
    kv = tokens[:, :N, :]
    mid = kv[:, :, MIX_START:MIX_START + 10] * KEEP + doc * (1.0 - KEEP)
    kv = jnp.concatenate([kv[:, :, :MIX_START], mid, kv[:, :, MIX_START + 10:]], axis=2)
    q = tokens @ params["wq"]
    k = kv @ params["wk"]
    v = kv @ params["wv"]
    h = tokens + ((q @ jnp.swapaxes(k, 1, 2)) @ v) @ params["p"]
    return -h[:, N, D - 1]


def loss_fn(params, doc, tokens, target):
    err = predict(params, doc, tokens) - target
    return 0.5 * jnp.mean(err * err)


def make_step(b, lr=5e-4, b1=0.9, b2=0.98, eps=1e-8, clip=1e-3):
    @jax.jit
    def step(params, m, v, t, key, doc):
        key, sub = jax.random.split(key)
        tokens, target = batch(sub, b)
        loss, g = jax.value_and_grad(loss_fn)(params, doc, tokens, target)
        norm = jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(g)))
        scale = jnp.minimum(1.0, clip / (norm + 1e-12))
        g = jax.tree_util.tree_map(lambda x: x * scale, g)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        mh = jax.tree_util.tree_map(lambda m: m / (1 - b1**t), m)
        vh = jax.tree_util.tree_map(lambda v: v / (1 - b2**t), v)
        params = jax.tree_util.tree_map(lambda p, m, v: p - lr * m / (jnp.sqrt(v) + eps), params, mh, vh)
        return params, m, v, t, key, loss
    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    key = jax.random.PRNGKey(0)
    params, doc = init(key)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = (params, zeros, zeros, jnp.float32(0.0), key)
    step = make_step(args.batch)
    for _ in range(3):
        *state, loss = step(*state, doc)
    jax.block_until_ready(loss)
    best = float("inf")
    for _ in range(args.rounds):
        t = time.perf_counter()
        for _ in range(args.steps):
            *state, loss = step(*state, doc)
        jax.block_until_ready(loss)
        best = min(best, (time.perf_counter() - t) / args.steps)
    print(json.dumps({
        "batch": args.batch, "tokens": N + 1, "width": D,
        "seconds_per_step": best, "steps_per_second": 1.0 / best,
        "last_loss": float(loss),
        "reference": f"jax {jax.__version__} ({jax.default_backend()}), {jax.device_count()} device",
    }))


if __name__ == "__main__":
    main()
