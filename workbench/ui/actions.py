"""Blocking run-store actions the screens start: launching a new run and resuming one.

Both mirror the CLI (``cmd_train``, ``cmd_runs_resume``) so a run started from the TUI is the same as one
started from the command line. ``launch_run`` reads the data and resolves the model, so screens call it
from a thread worker; heavy imports happen inside.
"""

from __future__ import annotations

import os

from workbench.core.config import RunConfig
from workbench.core.errors import WorkbenchError
from workbench.core.runs import COMPLETED, Run, RunStore


def launch_run(store: RunStore, cfg: RunConfig) -> Run:
    """Check the data and model (``prepare``), create the run directory, start a detached worker."""
    from workbench.cli import default_run_name
    from workbench.core.training.launcher import launch_worker
    from workbench.core.training.trainer import prepare

    cfg = cfg.with_absolute_paths()
    resolved, data = prepare(cfg)
    name = cfg.name or default_run_name(cfg, resolved)
    run = store.create(cfg.to_dict(), name=name, task=data.schema.task,
                       extra={"labels": data.schema.labels,
                              "data": {"train": {"source": data.sources["train"], "rows": len(data.train)},
                                       "eval": {"source": data.sources["dev"], "rows": len(data.eval)}}})
    launch_worker(run)
    return run


def resume_run(store: RunStore, run_id: str) -> Run:
    """Start a worker that continues ``run_id`` from its last checkpoint; refuse when that makes no sense."""
    from workbench.core.training.launcher import launch_worker

    run = store.get(run_id)
    if run.is_active:
        raise WorkbenchError(f"run {run.name} is already running (pid {run.info.get('pid')}).")
    if run.status == COMPLETED:
        raise WorkbenchError(f"run {run.name} has already completed.")
    if run.last_checkpoint() is None:
        raise WorkbenchError(f"run {run.name} has no complete checkpoint to resume from.")
    launch_worker(run, resume=True)
    return run


def quiet_transformers() -> None:
    """Keep transformers and huggingface_hub from drawing progress bars or warnings over the TUI.
    Called inside workers, right before the first heavy import."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
