"""Blocking run-store actions the screens start: launching a new run and resuming one.

Both call the same core functions as the CLI (``workbench.core.training.launcher``) so a run started from
the TUI is the same as one started from the command line. ``launch_run`` reads the data and resolves the
model, so screens call it from a thread worker; heavy imports happen inside.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

from workbench.core.config import RunConfig
from workbench.core.runs import Run, RunStore
from workbench.ui.priority import call_directly


def launch_run(store: RunStore, cfg: RunConfig, *, spawn: Callable[..., Any] = call_directly) -> Run:
    """Check the data and model, create the run directory, start a detached worker (blocking: use a worker).

    ``spawn`` runs the start: the app passes its normal-priority thread, so the worker process does not
    inherit the UI's lowered priority (see priority.py)."""
    quiet_transformers()
    from workbench.core.training.launcher import start_run

    return spawn(start_run, store, cfg)[0]


def queue_run(store: RunStore, cfg: RunConfig, *, spawn: Callable[..., Any] = call_directly) -> tuple[Run, int]:
    """Check the data and model and create the run as ``launch_run`` does, but put it in the workspace's queue
    (the queue runner, started through ``spawn`` if none runs, starts it). Returns the run and its position."""
    quiet_transformers()
    from workbench.core.training.launcher import queue_run as queue

    return spawn(queue, store, cfg)


def resume_run(store: RunStore, run_id: str, *, spawn: Callable[..., Any] = call_directly) -> Run:
    """Start a worker that continues ``run_id`` from its last checkpoint; refuse when that makes no sense.
    ``spawn`` as for ``launch_run``."""
    quiet_transformers()
    from workbench.core.training import launcher

    return spawn(launcher.resume_run, store, run_id)[0]


_IMPORT_LOCK = threading.Lock()


def quiet_transformers() -> None:
    """Keep transformers and huggingface_hub from drawing progress bars or warnings over the TUI, and load
    the parts of transformers the screens use, one thread at a time. Called inside workers, right before the
    first heavy import.

    transformers resolves its names lazily, and that is not safe from two threads at once: a launch racing
    the Configure memory estimate failed with "module 'transformers' has no attribute
    'PreTrainedTokenizerBase'". After this has run once, those names are plain module attributes."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with _IMPORT_LOCK:
        from transformers import (AutoConfig, AutoModel, AutoModelForSequenceClassification,  # noqa: F401
                                  AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
