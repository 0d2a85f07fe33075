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
ready() { "$py" -c "import $1" 2>/dev/null; }
if [ -x "$py" ] && ready "torch, transformers, sentence_transformers, jax, gguf, accelerate, llama_cpp" \
  && [ -f "$venv/.llama-cpp-no-amx" ]; then
  exit 0
fi
[ -x "$py" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
ready "torch, transformers, sentence_transformers, jax, gguf, accelerate" || "$venv/bin/pip" install -q torch==2.15.0 transformers==4.57.6 accelerate==1.16.0 gguf==0.19.0 \
  sentence-transformers==5.1.2 "jax[cpu]==0.10.2" numpy
# From source (--no-binary: compiled here, never a prebuilt wheel) with this CPU's vector
# extensions but without AMX: GGML_NATIVE turns AMX on where /proc/cpuinfo lists it, and on
# this VM ggml_backend_amx_mul_mat segfaults on the first matrix product (gdb, 0.3.36), so the
# ISA is listed explicitly, as detected.
isa=""
has() { grep -qw "$1" /proc/cpuinfo; }
has avx2 && isa="$isa -DGGML_AVX=ON -DGGML_AVX2=ON"
has fma && isa="$isa -DGGML_FMA=ON"
has f16c && isa="$isa -DGGML_F16C=ON"
has bmi2 && isa="$isa -DGGML_BMI2=ON"
has avx_vnni && isa="$isa -DGGML_AVX_VNNI=ON"
has avx512f && isa="$isa -DGGML_AVX512=ON"
has avx512_vbmi && isa="$isa -DGGML_AVX512_VBMI=ON"
has avx512_vnni && isa="$isa -DGGML_AVX512_VNNI=ON"
has avx512_bf16 && isa="$isa -DGGML_AVX512_BF16=ON"
# --no-cache-dir: pip's wheel cache would hand back a wheel built with other CMAKE_ARGS.
"$venv/bin/pip" uninstall -q -y llama-cpp-python 2>/dev/null || true
CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF$isa" \
  "$venv/bin/pip" install -q --no-cache-dir --no-binary llama-cpp-python llama-cpp-python==0.3.36
touch "$venv/.llama-cpp-no-amx"
"$py" -c "import torch, transformers, sentence_transformers, jax, llama_cpp; print('peers:', 'torch', torch.__version__, 'jax', jax.__version__, 'llama_cpp', llama_cpp.__version__)"
