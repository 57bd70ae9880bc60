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
