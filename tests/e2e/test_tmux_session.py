"""End to end in a real terminal (tmux): launch a run from the Configure screen, kill the terminal
mid-run, check that the worker keeps training, then start the workbench again and see the run's progress.

Skipped where tmux is missing (``apt-get install -y tmux``). Uses its own tmux server socket, so it
neither sees nor disturbs the user's sessions.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.core.config import RunConfig
from workbench.core.runs import pid_alive

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

REPO = Path(__file__).resolve().parents[2]


class Tmux:
    def __init__(self, socket: str):
        self.socket = socket

    def __call__(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30)
        return out.stdout

    def start(self, session: str, command: str, size=(100, 30)) -> None:
        subprocess.run(["tmux", "-L", self.socket, "new-session", "-d", "-s", session, "-x", str(size[0]),
                        "-y", str(size[1]), command], check=True, timeout=30)

    def screen(self, session: str) -> str:
        return self("capture-pane", "-p", "-t", session)

    def wait_for(self, session: str, pattern: str, timeout: float = 60.0) -> re.Match:
        deadline = time.time() + timeout
        while time.time() < deadline:
            match = re.search(pattern, self.screen(session))
            if match:
                return match
            time.sleep(0.3)
        raise AssertionError(f"{pattern!r} not on screen after {timeout}s:\n{self.screen(session)}")

    def kill_server(self) -> None:
        self("kill-server")


@pytest.fixture
def tmux():
    t = Tmux(f"wb-e2e-{os.getpid()}")
    yield t
    t.kill_server()


def app_command(workspace: Path) -> str:
    # tmux starts commands through its server's environment, so pass ours explicitly.
    env = " ".join(f"{k}={v}" for k, v in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"),
                                            ("PYTHONPATH", str(REPO)), ("TERM", "xterm-256color")))
    return f"env {env} {sys.executable} -m workbench -w {workspace}"


def step_on(match: re.Match) -> int:
    return int(match.group(1).replace(",", ""))


def test_training_outlives_the_terminal(workspace, tiny_model_dir, tmux):
    # A saved config, loaded on the Configure screen with ctrl+o (the YAML field defaults to run.yaml).
    RunConfig(data=str(REPO / "sample_data" / "sentiment"), model=str(tiny_model_dir), max_steps=5000,
              batch_size=8, logging_steps=1, name="tmux-run").save(workspace / "run.yaml")

    tmux.start("first", app_command(workspace))
    tmux.wait_for("first", r"No runs yet")
    tmux("send-keys", "-t", "first", "3")
    tmux.wait_for("first", r"Launch")
    tmux("send-keys", "-t", "first", "C-o")
    tmux.wait_for("first", r"Loaded")
    tmux("send-keys", "-t", "first", "C-l")
    tmux.wait_for("first", r"tmux-run ─ . running", timeout=90)
    seen = step_on(tmux.wait_for("first", r"step ([1-9][\d,]*)/5,000", timeout=120))

    tmux("kill-session", "-t", "first")  # the terminal goes away mid-run
    run_dir = next((workspace / "runs").iterdir())
    info = json.loads((run_dir / "run.json").read_text())
    assert pid_alive(info["pid"]), "the worker died with the terminal"
    time.sleep(3)
    later = json.loads((run_dir / "run.json").read_text())["progress"]["step"]
    assert later > seen, "the worker stopped training when the terminal closed"

    tmux.start("second", app_command(workspace))
    tmux.wait_for("second", r"● running\s+tmux-run")
    tmux("send-keys", "-t", "second", "Enter")
    shown = step_on(tmux.wait_for("second", r"step ([\d,]+)/5,000"))
    assert shown >= later
    # The loss curve was replayed from metrics.jsonl, not left waiting for the next logged step.
    assert "waiting for the first logged loss" not in tmux.screen("second")
    tmux("send-keys", "-t", "second", "s")
    tmux.wait_for("second", r"stop requested|■ stopped", timeout=30)
