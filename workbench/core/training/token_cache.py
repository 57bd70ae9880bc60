"""Tokenised splits, cached by what they are made of, so a second run on the same data does not tokenise again.

A split's model inputs depend on its rows (the data fingerprint run.json records), the labels, the tokenizer,
the settings that shape inputs (the data and model groups of RunConfig: ``max_length``, ``doc_stride``,
``instruction``, ...; and the seed, which NER's lower-cased training rows are drawn with), the task's code and the
library versions. The key hashes all of them, so an edit to any is a miss, never a stale hit: a setting not
listed above can only make runs share less, not wrongly. A hit loads the Arrow files ``Dataset.save_to_disk``
wrote (memory-mapped); a miss tokenises as before and stores the result, written to a partial directory and
renamed. The cache is the workspace's ``cache/tokenized/``; at most :data:`KEEP` entries are kept (least recently
used go first). Storing is best effort: a full disk costs the next run a tokenisation, never this run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

KEEP = 16
DONE = "complete.json"
# RunConfig groups whose fields can change what a split tokenises to.
INPUT_GROUPS = frozenset({"data", "model"})
INPUT_FIELDS = frozenset({"instruction", "seed"})


def cache_dir(run_dir: Path) -> Path | None:
    """``<workspace>/cache/tokenized`` for a run in ``<workspace>/runs/``; None for a run directory elsewhere."""
    run_dir = Path(run_dir)
    if run_dir.parent.name != "runs":
        return None
    return run_dir.parent.parent / "cache" / "tokenized"


def _source_hash() -> str:
    """The task packages' code: a change to how any task tokenises must not reuse what the old code wrote."""
    import workbench.core.tasks as tasks

    h = hashlib.sha256()
    root = Path(tasks.__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def tokenizer_fingerprint(tokenizer) -> str:
    """The tokenizer's vocabulary, rules and special tokens (a fast tokenizer's JSON), chat template and sides."""
    h = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        rules = json.loads(backend.to_str())
        # The truncation and padding a call last asked for are state, not rules (each call sets its own).
        rules.pop("truncation", None)
        rules.pop("padding", None)
        h.update(json.dumps(rules, sort_keys=True).encode())
    else:
        h.update(repr(sorted(tokenizer.get_vocab().items())).encode())
    extra = {"class": type(tokenizer).__name__, "name_or_path": str(getattr(tokenizer, "name_or_path", "")),
             "chat_template": getattr(tokenizer, "chat_template", None),
             "special": {k: str(v) for k, v in sorted(tokenizer.special_tokens_map.items())},
             "padding_side": getattr(tokenizer, "padding_side", None),
             "truncation_side": getattr(tokenizer, "truncation_side", None),
             "model_max_length": str(getattr(tokenizer, "model_max_length", None))}
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()


def cache_key(task_name: str, split: str, fingerprint: str, labels, tokenizer, cfg) -> str:
    return _split_key(_shared_parts(tokenizer, cfg), task_name, split, fingerprint, labels)


def _shared_parts(tokenizer, cfg) -> dict[str, Any]:
    """What every split of a run shares in its key (the tokenizer's JSON is parsed and the task code read once)."""
    from workbench import __version__
    from workbench.core.telemetry import package_versions

    settings = {f.name: getattr(cfg, f.name) for f in fields(cfg)
                if f.metadata.get("group") in INPUT_GROUPS or f.name in INPUT_FIELDS}
    return {"tokenizer": tokenizer_fingerprint(tokenizer), "settings": settings, "code": _source_hash(),
            "versions": package_versions(("transformers", "tokenizers", "datasets")), "workbench": __version__}


def _split_key(shared: dict[str, Any], task_name: str, split: str, fingerprint: str, labels) -> str:
    parts = {**shared, "task": task_name, "split": split, "rows": fingerprint, "labels": list(labels or [])}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def tokenized(task, splits: dict[str, Any], tokenizer, data, cfg, *, root: Path | None,
              fingerprints: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """``task.tokenize`` of each split (name → rows), from the cache under ``root`` when it holds the split;
    returns the tokenised splits and the names of those the cache held. Every key is taken before any split is
    tokenised (a task may adjust the tokenizer as it tokenises: a pad token set to EOS)."""
    if root is None:
        return {name: task.tokenize(rows, tokenizer, data, cfg) for name, rows in splits.items()}, []
    shared = _shared_parts(tokenizer, cfg)
    keys = {name: _split_key(shared, task.name, name, fingerprints[name], data.schema.labels) for name in splits}
    out, hits = {}, []
    for name, rows in splits.items():
        out[name] = load(root / keys[name])
        if out[name] is not None:
            hits.append(name)
            continue
        out[name] = task.tokenize(rows, tokenizer, data, cfg)
        store(out[name], root, keys[name], rows=len(rows))
    return out, hits


def load(entry: Path):
    if not (entry / DONE).is_file():
        return None
    from datasets import load_from_disk

    try:
        ds = load_from_disk(str(entry))
        os.utime(entry / DONE)  # recently used
        return ds
    except Exception:  # unreadable (a copy cut short, another datasets version): tokenise again
        shutil.rmtree(entry, ignore_errors=True)
        return None


def store(ds, root: Path, key: str, *, rows: int) -> None:
    from workbench.core.export.pipeline import move_into_place

    partial = root / f".{key}.partial-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        with quiet_datasets():
            ds.save_to_disk(str(partial))
        (partial / DONE).write_text(json.dumps({"rows": rows, "examples": len(ds)}))
        # Over an entry left incomplete by a process that died, or written meanwhile by another: readers see
        # one or the other, never a mix.
        move_into_place(partial, root / key)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        return
    prune(root)


@contextmanager
def quiet_datasets():
    """No "Saving the dataset" progress bar in the run's log."""
    from datasets.utils import logging as ds_logging

    shown = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            ds_logging.enable_progress_bar()


def prune(root: Path, keep: int = KEEP) -> None:
    entries = sorted((p for p in root.iterdir() if (p / DONE).is_file()), key=lambda p: (p / DONE).stat().st_mtime,
                     reverse=True)
    for old in entries[keep:]:
        shutil.rmtree(old, ignore_errors=True)
