"""LoRA through peft, for every task: which modules an architecture adapts, and wrapping an encoder.

Causal-LM SFT keeps its adapter as the run's model (its readers load base + adapter). An encoder task's run
saves the adapter merged into the base weights, so every reader (eval, export, Playground, compare) loads
an ordinary transformers model. Differentially private runs use LoRA by default (``training/privacy.py``).
"""

from __future__ import annotations

from typing import Any

from workbench.core.errors import WorkbenchError

# When peft has no default for an architecture: the usual attention projection names.
FALLBACK_TARGETS = ("q_proj", "v_proj", "c_attn", "query_key_value", "Wqkv", "qkv_proj", "query", "value")


def module_names(path: str, auto_class: str = "AutoModelForCausalLM") -> set[str]:
    """Leaf module names of the architecture, built on the meta device (no weights read)."""
    import torch
    import transformers
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    with torch.device("meta"):
        model = getattr(transformers, auto_class).from_config(config)
    return {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
            if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)) or type(module).__name__ == "Conv1D"}


def lora_targets(config: dict[str, Any], spec: str, path: str, auto_class: str = "AutoModelForCausalLM") -> list[str]:
    """The module names LoRA adapts: peft's default for the architecture when ``spec`` is "auto"."""
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_DEFAULTS

    available = module_names(path, auto_class)
    if (spec or "auto").strip().lower() == "auto":
        targets = list(PEFT_DEFAULTS.get(config.get("model_type", ""), []))
        targets = [t for t in targets if t in available] or [t for t in FALLBACK_TARGETS if t in available]
        if not targets:
            raise WorkbenchError(f"no default LoRA target modules for model type {config.get('model_type')!r}; "
                                 f"set lora_target_modules (linear layers: {', '.join(sorted(available)[:12])}).")
        return targets
    targets = [t.strip() for t in spec.split(",") if t.strip()]
    unknown = [t for t in targets if t not in available]
    if unknown:
        raise WorkbenchError(f"lora_target_modules {', '.join(map(repr, unknown))} not in this model; "
                             f"its linear layers are: {', '.join(sorted(available))}.")
    return targets


def wrap_encoder(model, cfg, path: str, *, task_type: str, auto_class: str):
    """``model`` with LoRA adapters on its attention; the task head stays fully trainable (peft's
    ``modules_to_save`` for the task type: ``classifier``/``score``, ``qa_outputs``)."""
    from peft import LoraConfig, get_peft_model

    targets = lora_targets(model.config.to_dict(), cfg.lora_target_modules, path, auto_class)
    lora = LoraConfig(r=int(cfg.lora_r), lora_alpha=int(cfg.lora_alpha), lora_dropout=float(cfg.lora_dropout),
                      target_modules=targets, task_type=task_type)
    return get_peft_model(model, lora)


def merged(model):
    """A peft model's adapter folded into its base weights (the model itself when it has none)."""
    from peft import PeftModel

    return model.merge_and_unload() if isinstance(model, PeftModel) else model
