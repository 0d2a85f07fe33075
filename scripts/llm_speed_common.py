"""What the LLM speed peers (llm_speed_torch.py, llm_speed_llamacpp.py) share with
crates/icor-llm/examples/llm_bench.rs: the GGUF files of the shipped models and the 512-token
prompt (real text, repeated)."""
import os
from pathlib import Path

HOME = Path(os.environ.get("ICOR_HOME", Path.home() / ".cache" / "icor"))
MODELS = {
    "smollm2-135m": HOME / "smollm2-135m" / "SmolLM2-135M-Instruct.Q4_1.gguf",
    "qwen2.5-0.5b": HOME / "qwen2.5-0.5b" / "qwen2.5-coder-0.5b-instruct.gguf",
}
PREFILL = 512
TEXT = ("Wilhelm Conrad Röntgen was a German physicist who produced and detected "
        "electromagnetic radiation in a wavelength range known as X-rays. ")


def positive(text):
    """argparse type of --repeat: a whole number of at least 1 (the best of none is no timing)."""
    n = int(text)
    if n < 1:
        raise ValueError(text)
    return n
