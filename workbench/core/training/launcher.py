"""Start the worker detached from the terminal: own session, stdin from /dev/null, output to stdout.log."""

from __future__ import annotations

import os
import subprocess
import sys

from workbench.core.runs import Run


def launch_worker(run: Run, *, resume: bool = False) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "workbench.core.training.worker", str(run.path)]
    if resume:
        cmd.append("--resume")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
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
