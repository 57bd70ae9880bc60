"""Start runs: check the input, create the run directory, start the worker detached from the terminal.

The CLI and the TUI both call ``start_run`` and ``resume_run``, so a run behaves the same whichever started it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from workbench.core.config import RunConfig
from workbench.core.errors import WorkbenchError
from workbench.core.runs import COMPLETED, QUEUED, Run, RunStore, now_iso, slugify


def worker_command(run: Run, *, resume: bool = False) -> list[str]:
    """The worker's command line: plain Python for one process, torchrun for several (same worker module)."""
    cfg = run.config or {}
    nproc, nnodes = int(cfg.get("nproc") or 1), int(cfg.get("nnodes") or 1)
    cmd = [sys.executable]
    if nnodes > 1:
        cmd += ["-m", "torch.distributed.run", f"--nproc-per-node={nproc}", f"--nnodes={nnodes}",
                f"--node-rank={int(cfg.get('node_rank') or 0)}", f"--master-addr={cfg.get('master_addr') or '127.0.0.1'}",
                f"--master-port={int(cfg.get('master_port') or 29500)}"]
    elif nproc > 1:
        # One machine: a private rendezvous on a free port, so runs (or a quick resume) never collide on a port.
        cmd += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    cmd += ["-m", "workbench.core.training.worker", str(run.path)]
    if resume:
        cmd.append("--resume")
    return cmd


def launch_worker(run: Run, *, resume: bool = False, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the run's worker in a session of its own; ``env`` adds variables (the queue runner's device choice)."""
    cmd = worker_command(run, resume=resume)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    with open(run.log_path, "ab") as log:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no SIGHUP from the terminal, not in its process group
            cwd=str(run.path),
            env=env,
            close_fds=True,
        )


def default_run_name(cfg: RunConfig, model_name: str) -> str:
    data = Path(cfg.data.rstrip("/"))
    stem = data.name if data.is_dir() else data.stem
    return slugify(f"{stem}-{model_name}", limit=60)


def start_run(store: RunStore, cfg: RunConfig) -> tuple[Run, subprocess.Popen]:
    """Check data and model (every user error is raised before a run directory exists), create the run, start it."""
    run = create_run(store, cfg)
    return run, launch_worker(run)


def queue_run(store: RunStore, cfg: RunConfig, *, extra: dict[str, Any] | None = None) -> tuple[Run, int]:
    """Check and create the run as ``start_run`` does, but leave it ``queued`` at the end of the workspace's queue
    for the queue runner (started here if none runs). Returns the run and its position (1 = next to start)."""
    from workbench.core.queue import RunQueue

    run = create_run(store, cfg, extra={**(extra or {}), "queued": now_iso()})
    queue = RunQueue(store.workspace)
    position = queue.add_run(run)
    queue.ensure_runner()
    return run, position


def create_run(store: RunStore, cfg: RunConfig, *, extra: dict[str, Any] | None = None) -> Run:
    """The checks of a launch (every user error is raised before a run directory exists), then the run directory
    with status ``queued``; ``extra`` adds run.json fields."""
    from workbench.core.training.trainer import plan_private_run, prepare

    cfg = cfg.with_absolute_paths()
    resolved, data = prepare(cfg)
    from workbench.core.tasks import apply_task_defaults

    cfg = apply_task_defaults(cfg, data.schema.task, len(data.train))  # e.g. token classification's own learning rate
    extra = {**(extra or {}), "labels": data.schema.labels,
             "data": {"train": {"source": data.sources["train"], "rows": len(data.train),
                                "skipped": data.skipped_record("train")},
                      "eval": {"source": data.sources["dev"], "rows": len(data.eval),
                               "skipped": data.skipped_record("dev")}}}
    plan = plan_private_run(cfg, resolved, data)
    if plan is not None:  # shown before launch (run.json), confirmed by the worker
        extra["privacy"] = plan.to_dict()
    return store.create(cfg.to_dict(), name=cfg.name or default_run_name(cfg, resolved.display_name),
                        task=data.schema.task, extra=extra)


def resume_run(store: RunStore, ref: str) -> tuple[Run, subprocess.Popen]:
    """Continue a stopped, failed or crashed run from its last complete checkpoint; refuse when that makes no sense."""
    run = store.get(ref)
    if run.status == QUEUED and run.info.get("queued"):
        raise WorkbenchError(f"run {run.name} is waiting in the queue (see `sft-workbench queue list`).")
    if run.is_active:
        raise WorkbenchError(f"run {run.name} is already running (pid {run.info.get('pid')}).")
    if run.status == COMPLETED:
        raise WorkbenchError(f"run {run.name} has already completed.")
    if run.last_checkpoint() is None:
        raise WorkbenchError(f"run {run.name} has no complete checkpoint to resume from.")
    return run, launch_worker(run, resume=True)
