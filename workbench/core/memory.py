"""An estimate of a run's peak accelerator memory, shown before launch.

Counts what mixed-precision AdamW training holds: fp32 master weights (4 bytes a parameter), fp32 gradients
(4) and Adam's two moments (8) for the parameters that train (not frozen word embeddings, not LoRA's base), the
activations kept for the backward pass, and a fixed overhead for the CUDA context and allocator (on CPU, for the
runtime). Activations use the per-layer estimate of Korthikanti et al. (2022), "Reducing Activation Recomputation
in Large Transformer Models": ``s·b·h·(34 + 5·a·s/h)`` bytes per layer with 16-bit activations (doubled for
fp32), at the worst case of every batch padded to ``max_length``.

A causal LM also holds its logits over the whole vocabulary: ``b·s·V`` floats at most, kept in fp32 for the loss
(the upcast, the log-softmax and its gradient: about 3 copies while training). Training projects only the
response tokens (``tasks/causal_lm_sft/response_logits.py``), so this is the bound for responses that fill the
batch; prompts make it smaller. Evaluation (per-example scoring of full sequences) holds 2 copies
at ``eval_batch_size`` but no activations for a backward pass, so the peak is the larger of the two. For SmolLM2
(V = 49,152) at batch 32 × 512 tokens that is 9.7 GB to train and, at the evaluation default of 128, 25.8 GB to
evaluate. Such a run (`--model default`, task auto, on SciTLDR) was killed by the kernel's OOM killer on a 24 GB
machine; the CLI had estimated it as the encoder (1.9 GiB), before the data said the task, and had no RAM warning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from workbench.core.config import TASK_DEPENDENT_DEFAULTS, RunConfig
from workbench.core.tasks import apply_task_defaults, embeddings_frozen, finetune_method

# On a GPU: the CUDA context, cuBLAS workspaces and allocator slack. On CPU the same allowance stands for the
# torch/transformers runtime: the estimate for the default model (1.8 GiB) matched the worker's measured RSS
# (1.7-1.8 GiB) while training SST-2 at batch 32.
CUDA_OVERHEAD_BYTES = 1.0 * 2**30


@dataclass
class MemoryEstimate:
    parameters: int
    trainable: int
    weights: float
    gradients: float
    optimizer: float
    activations: float
    overhead: float
    logits: float = 0.0  # causal LMs: a training batch's vocabulary logits
    eval_logits: float = 0.0  # … and an evaluation batch's (evaluation keeps no activations for a backward pass)

    @property
    def total(self) -> float:
        return (self.weights + self.gradients + self.optimizer + self.overhead
                + max(self.activations + self.logits, self.eval_logits))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total": self.total}

    def describe(self) -> str:
        gib = 2**30
        return (f"≈{self.total / gib:.1f} GiB per device (weights {self.weights / gib:.2f}, gradients "
                f"{self.gradients / gib:.2f}, AdamW {self.optimizer / gib:.2f}, activations "
                f"{self.activations / gib:.2f}, " + (f"logits {self.logits / gib:.2f} (evaluation {self.eval_logits / gib:.2f}), "
                                              if self.logits else "")
                + f"overhead {self.overhead / gib:.1f})")


def _shape(config) -> tuple[int, int, int]:
    """(layers, hidden size, attention heads) from a transformers config, whatever the architecture calls them."""
    text = getattr(config, "text_config", None) or config
    layers = getattr(text, "num_hidden_layers", None) or getattr(text, "n_layer", None) or 12
    hidden = getattr(text, "hidden_size", None) or getattr(text, "n_embd", None) or getattr(text, "d_model", None) or 768
    heads = getattr(text, "num_attention_heads", None) or getattr(text, "n_head", None) or 12
    return int(layers), int(hidden), int(heads)


def count_parameters(config) -> int:
    """Parameters of the base model built on the meta device (no weights read, no memory used)."""
    import torch
    from transformers import AutoModel

    with torch.device("meta"):
        model = AutoModel.from_config(config)
    return sum(p.numel() for p in model.parameters())


# fp32 copies of a batch's logits alive at the peak: training (upcast, log-softmax, gradient), evaluation.
LOGIT_COPIES_TRAIN, LOGIT_COPIES_EVAL = 3, 2


def estimate(config, cfg: RunConfig, *, precision: str, parameters: int | None = None,
             trainable: int | None = None, causal_lm: bool = False) -> MemoryEstimate:
    """The estimate for model ``config`` (a transformers config) trained with run config ``cfg``."""
    n = parameters if parameters is not None else count_parameters(config)
    t = trainable if trainable is not None else n
    layers, hidden, heads = _shape(config)
    # Empty: the usual task default.
    s, b = cfg.max_length or TASK_DEPENDENT_DEFAULTS["max_length"], cfg.batch_size or TASK_DEPENDENT_DEFAULTS["batch_size"]
    private = getattr(cfg, "dp_epsilon", None) is not None
    if private:  # DP-SGD: passes of the physical batch, each keeping one gradient per example (Opacus)
        b = cfg.dp_physical_batch_size or b
    act_bytes = s * b * hidden * (34 + 5 * heads * s / hidden) * layers
    if precision not in ("bf16", "fp16"):
        act_bytes *= 2
    gradients = 4.0 * t * (1 + b) if private else 4.0 * t
    logits = eval_logits = 0.0
    if causal_lm:
        vocab = int(getattr(getattr(config, "text_config", None) or config, "vocab_size", 0) or 0)
        logits = 4.0 * s * vocab * LOGIT_COPIES_TRAIN * b
        eval_logits = 4.0 * s * vocab * LOGIT_COPIES_EVAL * int(cfg.eval_batch_size or b)
    return MemoryEstimate(parameters=n, trainable=t, weights=4.0 * n, gradients=gradients, optimizer=8.0 * t,
                          activations=float(act_bytes), overhead=CUDA_OVERHEAD_BYTES, logits=logits,
                          eval_logits=eval_logits)


def word_embedding_parameters(config) -> int:
    text = getattr(config, "text_config", None) or config
    _, hidden, _ = _shape(config)
    return int(getattr(text, "vocab_size", 0) or 0) * hidden


def lora_trainable_parameters(config, cfg: RunConfig, path: str) -> int:
    """The adapter parameters LoRA trains (the base weights get no gradients or optimizer state)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from workbench.core.lora import lora_targets

    targets = lora_targets(config.to_dict(), cfg.lora_target_modules, path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
        model = get_peft_model(model, LoraConfig(r=int(cfg.lora_r), lora_alpha=int(cfg.lora_alpha), target_modules=targets,
                                                 fan_in_fan_out=config.model_type == "gpt2", task_type="CAUSAL_LM"))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def estimate_for_run(cfg: RunConfig, task: str | None = None) -> tuple[MemoryEstimate, float | None]:
    """The estimate for a run config (``task``: the task the run resolved to, when known), and the smallest visible
    GPU's memory in bytes (None without a GPU)."""
    from transformers import AutoConfig

    from workbench.core.models import resolve_model
    from workbench.core.telemetry import gpu_readings
    from workbench.core.training.devices import resolve_precision

    # `default` with task auto (and no resolved ``task``) reads as the encoder: that needs the data to decide.
    task = task or (None if cfg.task == "auto" else cfg.task)
    if task:  # the task's own defaults for what the user left empty (a causal LM's evaluation batch of 16)
        cfg = apply_task_defaults(cfg, task)
    resolved = resolve_model(cfg.model, task)
    config = AutoConfig.from_pretrained(resolved.path, trust_remote_code=cfg.trust_remote_code)
    parameters = trainable = None
    if finetune_method(cfg) == "lora":
        trainable = lora_trainable_parameters(config, cfg, resolved.path)
    elif task and embeddings_frozen(cfg, task):  # frozen word embeddings get no gradient and no AdamW moments
        parameters = count_parameters(config)
        trainable = parameters - word_embedding_parameters(config)
    est = estimate(config, cfg, precision=resolve_precision(cfg), parameters=parameters, trainable=trainable,
                   causal_lm=task == "causal-lm-sft")
    gpus = gpu_readings()
    return est, (min(g["mem_total"] for g in gpus) if gpus else None)
