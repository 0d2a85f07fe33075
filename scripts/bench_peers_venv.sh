#!/usr/bin/env bash
# The Python peers of `cargo xtask bench peers` in one venv, ~/.cache/icor/pyref-bench:
# PyTorch + transformers (LLM prefill/decode on the same GGUF), sentence-transformers (MiniLM
# passage encoding), JAX on the CPU (one LSA training step), and llama.cpp through
# llama-cpp-python compiled here from its PyPI source distribution (native quantised kernels,
# built for this CPU). A no-op when the venv already has them. Needs a C/C++ compiler; pip
# fetches cmake and ninja as build dependencies.
set -euo pipefail
venv="${ICOR_HOME:-$HOME/.cache/icor}/pyref-bench"
py="$venv/bin/python"
if [ -x "$py" ] && "$py" -c "import torch, transformers, sentence_transformers, jax, llama_cpp, gguf, accelerate" 2>/dev/null; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q torch==2.15.0 transformers==4.57.6 accelerate==1.16.0 gguf==0.19.0 \
  sentence-transformers==5.1.2 "jax[cpu]==0.10.2" numpy
# From source: --no-binary so the wheel is compiled for this CPU (GGML_NATIVE), never a prebuilt one.
CMAKE_ARGS="-DGGML_NATIVE=ON" "$venv/bin/pip" install -q --no-binary llama-cpp-python llama-cpp-python==0.3.36
"$py" -c "import torch, transformers, sentence_transformers, jax, llama_cpp; print('peers:', 'torch', torch.__version__, 'jax', jax.__version__, 'llama_cpp', llama_cpp.__version__)"
