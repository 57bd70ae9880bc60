"""The logic behind the Configure form: presets, checks beyond ``RunConfig.validate()``, model choices and
the equivalent command line. No Textual here, so it is unit-tested directly.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from workbench.core.config import DEFAULT_MODEL, RunConfig
from workbench.paths import expand_user

_DEFAULTS = RunConfig()

# Presets touch only how training runs, never what it trains on (data, model, name).
PRESETS: dict[str, dict[str, Any]] = {
    "quick test": {
        "epochs": 1.0, "max_steps": 30, "batch_size": 16, "max_length": 64, "lr": 5e-5, "warmup_ratio": 0.06,
        "scheduler": "linear", "eval_strategy": "epoch", "logging_steps": 5, "save_total_limit": 1,
    },
    "default": {
        name: getattr(_DEFAULTS, name)
        for name in ("epochs", "max_steps", "batch_size", "max_length", "lr", "warmup_ratio", "scheduler",
                     "eval_strategy", "logging_steps", "save_total_limit", "dp_epsilon")
    },
    "thorough": {
        "epochs": 5.0, "max_steps": None, "batch_size": 32, "max_length": 256, "lr": 3e-5, "warmup_ratio": 0.1,
        "scheduler": "cosine", "eval_strategy": "epoch", "logging_steps": 10, "save_total_limit": 3,
    },
    # Differentially private: ε = 8 for the run; method, batch size and learning rate left to the private
    # defaults (LoRA, an expected batch of up to 1,024, the task's private LoRA rate: benchmarks/private.py).
    "private (ε = 8)": {
        "epochs": 3.0, "max_steps": None, "batch_size": None, "lr": None, "finetune": "auto", "dp_epsilon": 8.0, "dp_delta": None,
        "dp_max_grad_norm": 1.0, "dp_accountant": "prv", "eval_strategy": "epoch", "logging_steps": 10,
    },
}

GROUP_TITLES = {"data": "Data", "model": "Model", "training": "Training", "evaluation": "Evaluation & checkpoints",
                "performance": "Performance", "distributed": "Distributed (torchrun)",
                "generation": "Generation (causal-LM SFT)", "privacy": "Privacy (differential privacy, DP-SGD)",
                "run": "Run"}


def _exists(path: Path, test: str = "exists") -> bool:
    """``path.exists()`` (or is_dir/is_file) that says False for a path the OS refuses (a name too long, a NUL)."""
    try:
        return getattr(path, test)()
    except (OSError, ValueError):
        return False


def path_problems(cfg: RunConfig) -> dict[str, str]:
    """Cheap existence checks (a stat each) worth showing while typing; the data itself is read at launch."""
    from workbench.core.errors import shown

    problems: dict[str, str] = {}
    for name in ("data", "eval_data"):
        value = getattr(cfg, name)
        if value and isinstance(value, str) and not _exists(expand_user(value)):
            problems[name] = f"{name}: no such file or folder: {shown(value, 200)}"
    model = (cfg.model or "").strip() if isinstance(cfg.model, str) else ""
    if model and (model.startswith((".", "/", "~")) or _exists(expand_user(model))):
        path = expand_user(model)
        if not _exists(path, "is_dir"):
            problems["model"] = f"model: no such directory: {shown(model, 200)}"
        elif not _exists(path / "config.json", "is_file"):
            problems["model"] = f"model: {shown(model, 200)} has no config.json; it is not a Hugging Face model directory."
    return problems


def form_errors(values: dict[str, str]) -> tuple[RunConfig, dict[str, str]]:
    """The config built from the form's text values, and a message per field that is wrong."""
    from workbench.core.config import coerce_value

    cfg = RunConfig()
    for name, text in values.items():
        setattr(cfg, name, coerce_value(name, text))
    errors = cfg.validate()
    for name, message in path_problems(cfg).items():
        errors.setdefault(name, message)
    return cfg, errors


def form_values(cfg: RunConfig) -> dict[str, str]:
    """A config as the text the form's fields show (None is an empty field)."""
    return {name: "" if value is None else str(value) for name, value in cfg.to_dict().items()}


def cli_command(cfg: RunConfig) -> tuple[str, list[str]]:
    """``sft-workbench train …`` with a flag for every setting that differs from the default, and the
    settings no flag can express (an empty value where the default is not: they need ``--config FILE``).
    The flags are the ones ``workbench.cli`` generates from the same ``RunConfig.field_info()``."""
    parts = ["sft-workbench", "train"]
    needs_config = []
    for info in RunConfig.field_info():
        name, flag = info["name"], info["flag"]
        value = getattr(cfg, name)
        if value == getattr(_DEFAULTS, name) or (value is None and getattr(_DEFAULTS, name) is None):
            continue
        if name == "epochs" and cfg.max_steps:
            continue  # --epochs and --max-steps are exclusive on the command line; max_steps wins anyway
        if info["kind"] is bool and isinstance(value, bool):
            if value:
                parts.append(flag)
            elif info["negatable"]:
                parts.append("--no-" + flag[2:])
            else:
                needs_config.append(name)
            continue
        if value is None or value == "":
            needs_config.append(name)
            continue
        parts += [flag, shlex.quote(str(value))]
    return " ".join(parts), needs_config


def model_choices(workspace: Path, runs: list[Any] = ()) -> list[tuple[str, str]]:
    """(label, value) pairs for the model picker: the embedded default, local model folders in the
    workspace (``models/*`` and top-level folders with a config.json), and finished runs' models."""
    from workbench.core.models import embedded_lm_gguf

    choices = [("default — embedded all-MiniLM-L6-v2", DEFAULT_MODEL)]
    candidates: list[Path] = []
    for folder in (workspace / "models", workspace):
        try:
            candidates += sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            continue
    seen = set()
    for path in candidates:
        if (path / "config.json").is_file() and path not in seen:
            seen.add(path)
            choices.append((f"local: {path.name}", str(path)))
    for run in runs:
        if (run.model_dir / "config.json").is_file():
            choices.append((f"run: {run.name}", str(run.model_dir)))
    if embedded_lm_gguf() is not None:  # `default` is this LM on causal-LM data; named, it is for any
        choices.append(("smollm2 — embedded SmolLM2-135M-Instruct (causal LM)", "smollm2"))
    return choices
