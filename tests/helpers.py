"""Plain helpers shared by tests (import as `from helpers import ...`; conftest.py names collide across folders)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "sample_data"
SHARED_DATASETS = REPO.parent / "shared" / "datasets"
# The tiny QA run's settings (conftest's qa_trained): short windows, so some of sample_data/qa's passages need
# two, and a large step.
QA_TRAIN_FLAGS = ["--max-length", "64", "--doc-stride", "16", "--batch-size", "8", "--lr", "3e-3", "--max-steps", "40",
                  "--logging-steps", "5", "--eval-strategy", "steps", "--eval-steps", "20"]


def kill_workers(ws: Path) -> None:
    """Stop every worker (and the queue runner) a test started, so CI never leaves one running."""
    from workbench.core.runs import pid_alive

    kill_runner(ws)
    for run_json in (ws / "runs").glob("*/run.json"):
        try:
            pid = json.loads(run_json.read_text()).get("pid")
        except (OSError, ValueError):
            continue
        if pid and pid_alive(pid):
            try:  # the worker's whole session: torchrun and every rank of a multi-process run too
                group = os.getpgid(pid)
                if group != os.getpgrp():  # never our own group (tests fake live runs with the test's pid)
                    os.killpg(group, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def wait_for(predicate, timeout: float = 120.0, interval: float = 0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting for condition")


def runner_pid(ws: Path) -> int | None:
    """The pid the queue runner wrote into its lock file (alive or not)."""
    try:
        text = (ws / "queue" / "runner.lock").read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def kill_runner(ws: Path) -> None:
    from workbench.core.queue import runner_lock_held
    from workbench.core.runs import pid_alive

    pid = runner_pid(ws)
    if pid and pid_alive(pid) and runner_lock_held(ws / "queue"):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
