"""Fixtures for the Textual workbench tests: canned workspaces and a stand-in worker process.

The helpers (new_app, screen_text, wait_until …) live in ui_helpers.py and are re-exported here for
tests that import them from conftest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import canned  # noqa: E402
from ui_helpers import flat, new_app, screen_text, wait_for_text, wait_until  # noqa: E402,F401


@pytest.fixture
def sleeper():
    """A live process to stand in for a training worker: canned 'running' runs point their pid at it.
    (Never the test process itself: the workspace clean-up kills the process group of every run's pid.)"""
    proc = subprocess.Popen(["sleep", "600"], start_new_session=True)
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def runs(workspace, sleeper) -> dict[str, str]:
    """Fill the workspace with the canned runs; their ids by kind (running, completed, crashed, stopped, failed)."""
    return {kind: path.name for kind, path in canned.populate(workspace, live_pid=sleeper).items()}


@pytest.fixture
def canned_ws(workspace, runs) -> Path:
    return workspace


@pytest.fixture
def task_runs(workspace, sleeper) -> dict[str, str]:
    """One workspace with runs of all three tasks: a held-out NER run live at step 107 of 120 (6 entity
    types, an evaluation every 20 steps), a finished NER run, a finished text-classification run and a
    finished causal-LM SFT run; their ids by kind."""
    import time

    paths = {
        "ner": canned.make_ner_run(workspace, "conll-held-out", status="running", age_s=10 * 60, pid=sleeper,
                                   heartbeat=time.time()),
        "ner_done": canned.make_ner_run(workspace, "conll-ner-done", status="completed", age_s=3600, steps=120),
        "cls_done": canned.make_run(workspace, "sst2-minilm-lr1e-4", status="completed", age_s=26 * 3600, steps=90,
                                    max_steps=90, checkpoint=90,
                                    final={"accuracy": 0.8950, "macro_f1": 0.8949, "eval_loss": 0.3012}),
        "sft_done": canned.make_sft_run(workspace, "alpaca-sft", age_s=2 * 3600, perplexity=12.5),
    }
    return {kind: path.name for kind, path in paths.items()}
