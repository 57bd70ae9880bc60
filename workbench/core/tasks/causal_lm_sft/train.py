"""Causal-LM SFT training pieces: the model (full or LoRA through peft), tokenisation, callbacks."""

from __future__ import annotations

import math
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.lora import lora_targets
from workbench.core.tasks.causal_lm_sft.prompts import IGNORE_INDEX, encode_example, ensure_special_tokens
from workbench.core.tasks.causal_lm_sft.response_logits import response_logits_only


def tokenize(dataset, tokenizer, data, cfg):
    ensure_special_tokens(tokenizer)
    max_length = cfg.max_length

    def encode(batch):
        rows = [encode_example(tokenizer, m, max_length) for m in batch["messages"]]
        return {k: [r[k] for r in rows] for k in ("input_ids", "attention_mask", "labels")}

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names, desc=None)


def collator(tokenizer, *, pad_to_multiple_of: int | None = None):
    """Dynamic padding of input_ids/attention_mask, labels padded with -100."""
    from transformers import DataCollatorForSeq2Seq

    ensure_special_tokens(tokenizer)
    return DataCollatorForSeq2Seq(tokenizer, padding=True, pad_to_multiple_of=pad_to_multiple_of,
                                  label_pad_token_id=IGNORE_INDEX)


def metrics_hook(data):
    """None: the eval loss is the metric, and the Trainer then keeps no logits (vocab × tokens) in memory."""
    return None


def final_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """run.json metrics: eval_loss and perplexity = exp(eval_loss)."""
    loss = metrics.get("eval_loss")
    return {**metrics, "perplexity": perplexity(loss)}


def perplexity(loss: float | None) -> float | None:
    if loss is None:
        return None
    return float(math.exp(min(float(loss), 700.0)))


def callbacks(data, cfg) -> list:
    """Extra Trainer callbacks: eval_perplexity beside eval_loss in the logs, so eval events carry it."""
    from transformers import TrainerCallback

    class PerplexityCallback(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs is not None and "eval_loss" in logs:
                logs["eval_perplexity"] = perplexity(logs["eval_loss"])

    return [PerplexityCallback()]


# ------------------------------------------------------------------------------------------ model
def is_causal_lm_config(config: dict[str, Any]) -> bool:
    archs = config.get("architectures") or []
    if archs:
        return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs)
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return config.get("model_type") in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not config.get("model_type", "").startswith(("bert", "roberta"))


def check_model(resolved, cfg) -> None:
    """Refuse encoder-only models and unknown LoRA target modules before a run directory exists."""
    config = resolved.config()
    if config and not is_causal_lm_config(config):
        archs = ", ".join(config.get("architectures") or [config.get("model_type", "?")])
        raise WorkbenchError(f"model {resolved.display_name} ({archs}) is not a causal language model; "
                             "causal-lm-sft needs a decoder such as GPT-2 or Llama (--model DIR).")
    if cfg.finetune == "lora" and config:
        lora_targets(config, cfg.lora_target_modules, resolved.path)


def build_model(path: str, data, cfg):
    """AutoModelForCausalLM with fp32 master weights; wrapped with LoRA adapters when finetune is "lora"."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from workbench.core.training.devices import model_load_kwargs

    # fp32 master weights (bf16/fp16 come from autocast) and the run's attention kernel.
    model = AutoModelForCausalLM.from_pretrained(path, **model_load_kwargs(cfg))
    if getattr(cfg, "dp_epsilon", None) is None:
        # The same loss with the vocabulary projection on response tokens only (see response_logits.py).
        response_logits_only(model)
    if getattr(cfg, "finetune", "full") != "lora":
        return model
    from peft import LoraConfig, get_peft_model

    config = AutoConfig.from_pretrained(path, trust_remote_code=cfg.trust_remote_code).to_dict()
    targets = lora_targets(config, cfg.lora_target_modules, path)
    lora = LoraConfig(r=int(cfg.lora_r), lora_alpha=int(cfg.lora_alpha), lora_dropout=float(cfg.lora_dropout),
                      target_modules=targets, task_type="CAUSAL_LM",
                      # GPT-2's Conv1D stores weights transposed; peft needs to know.
                      fan_in_fan_out=config.get("model_type") == "gpt2")
    return get_peft_model(model, lora)


def load_model(model_dir, *, merge: bool = False, attn_implementation: str | None = None):
    """A run's final model: a full model directory, or a LoRA adapter on its base (merged when asked)."""
    from pathlib import Path

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir)
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if (model_dir / "adapter_config.json").is_file():
        import json

        from peft import PeftModel

        base_path = json.loads((model_dir / "adapter_config.json").read_text())["base_model_name_or_path"]
        base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32, use_safetensors=True, **kwargs)
        model = PeftModel.from_pretrained(base, str(model_dir))
        if merge:
            model = model.merge_and_unload()
    elif (model_dir / "config.json").is_file():
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32, use_safetensors=True, **kwargs)
    else:
        raise WorkbenchError(f"{model_dir} holds no model (no config.json or adapter_config.json).")
    ensure_special_tokens(tokenizer)
    model.eval()
    return model, tokenizer


def has_model(model_dir) -> bool:
    from pathlib import Path

    return (Path(model_dir) / "config.json").is_file() or (Path(model_dir) / "adapter_config.json").is_file()
