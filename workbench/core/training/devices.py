"""What the hardware offers and what the run's ``auto`` settings become on it.

Everything the workbench reads of the host goes through the functions here (CPU flags, CUDA, bf16 on the
GPU), so a test can pin the host and one machine can show what ``auto`` becomes on another:
``SFT_WORKBENCH_CPU_FLAGS="avx2 fma" sft-workbench train …`` trains as an AVX2-only CPU would (fp32).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from workbench.core.config import RunConfig

# Space-separated /proc/cpuinfo flags that replace the real ones (inherited by the worker processes).
CPU_FLAGS_ENV = "SFT_WORKBENCH_CPU_FLAGS"


def cpu_flags() -> frozenset[str]:
    override = os.environ.get(CPU_FLAGS_ENV)
    if override is not None:
        return frozenset(override.split())
    return _proc_cpu_flags()


@lru_cache(maxsize=1)
def _proc_cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_supports_bf16() -> bool:
    """Native bf16 arithmetic (AVX512-BF16 or AMX): bf16 autocast is then much faster than fp32 on CPU."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def cuda_bf16_supported() -> bool:
    import torch

    return torch.cuda.is_bf16_supported()


def device_name() -> str:
    """``cuda:<name of GPU 0>`` or ``cpu`` (what run.json records)."""
    if not cuda_available():
        return "cpu"
    import torch

    return "cuda:" + torch.cuda.get_device_name(0)


def resolve_precision(cfg: RunConfig) -> str:
    """``auto`` → bf16 on GPUs and CPUs that have it natively, fp16 on older GPUs, fp32 otherwise."""
    if cfg.precision != "auto":
        return cfg.precision
    if cuda_available():
        return "bf16" if cuda_bf16_supported() else "fp16"
    return "bf16" if cpu_supports_bf16() else "fp32"


def resolve_attention(cfg: RunConfig) -> str:
    """``auto`` → SDPA on GPU and on CPUs that train in fp32; eager on CPUs that train under bf16 autocast, where
    PyTorch's SDPA backward is the slowest kernel of a BERT step. Measured on MiniLM, batch 32, 2 cores: Xeon with
    AMX (32 × 40 tokens) SDPA 306 ms/step bf16 against eager 166 ms (fp32: 374 against 355); AMD EPYC Zen 3, AVX2
    only (fp32, 32 × 20 tokens with padding, frozen embeddings; 5 alternated rounds, median step): eager 606 ms,
    SDPA 604 ms, and with the classifier's first-token last layer eager 557 ms, SDPA 520 ms."""
    if cfg.attention != "auto":
        return cfg.attention
    if cuda_available():
        return "sdpa"
    return "eager" if resolve_precision(cfg) == "bf16" else "sdpa"


def model_load_kwargs(cfg: RunConfig) -> dict[str, Any]:
    """Keyword arguments for ``from_pretrained``: fp32 master weights (autocast does bf16/fp16) and the attention."""
    import torch

    return {"dtype": torch.float32, "attn_implementation": resolve_attention(cfg),
            "trust_remote_code": cfg.trust_remote_code}
