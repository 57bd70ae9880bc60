"""Where a run's wall time goes: the worker's phases, measured as they happen and kept in run.json ``timings``.

The phases partition the worker process's life: ``startup`` (process start to the first line of training code:
interpreter and imports), ``data`` (reading, checking and tokenising), ``model`` (loading the tokenizer and the
weights), ``training_steps`` (the training loop less what follows), ``evaluation`` (evaluations during training),
``checkpointing`` (saving checkpoints and loading the best one at the end), ``final_evaluation`` (the eval loss of
the best model, when it is not already known from training), ``final_predictions`` (the task's report and
predictions.jsonl) and ``saving_model``. ``launch_s`` is the time before the worker started (the command's checks),
from run.json ``created`` to the worker's process start. A resumed run's timings are those of its last worker.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator

PHASES = ("startup", "data", "model", "training_steps", "evaluation", "checkpointing", "final_evaluation",
          "final_predictions", "saving_model")


def process_start_time(pid: int | None = None) -> float:
    """The epoch time the process was created (psutil), or now when it cannot be read."""
    try:
        import psutil

        return psutil.Process(pid or os.getpid()).create_time()
    except Exception:  # noqa: BLE001 - a missing reading must not fail a run
        return time.time()


class PhaseClock:
    """Seconds per phase; a phase may be entered several times (each evaluation) and nested phases are excluded
    from the enclosing one (``training_steps`` is the loop less its evaluations and checkpoints)."""

    def __init__(self, started: float | None = None):
        self.started = started if started is not None else process_start_time()
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack: list[list] = []  # [name, start, seconds spent in nested phases]

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] += seconds
        if self._stack:
            self._stack[-1][2] += seconds

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        entry = [name, time.perf_counter(), 0.0]
        self._stack.append(entry)
        try:
            yield
        finally:
            self._stack.pop()
            total = time.perf_counter() - entry[1]
            self.seconds[name] += total - entry[2]
            if self._stack:
                self._stack[-1][2] += total

    def record(self, created_epoch: float | None = None) -> dict:
        """What run.json keeps: seconds per phase (in :data:`PHASES` order), the worker's wall time, and the time
        from the run's creation to the worker's start when ``created_epoch`` is known."""
        phases = {name: round(self.seconds[name], 3) for name in PHASES if name in self.seconds}
        phases.update({name: round(v, 3) for name, v in self.seconds.items() if name not in phases})
        out = {"phases": phases, "worker_wall_s": round(time.time() - self.started, 3)}
        if created_epoch is not None:
            out["launch_s"] = round(max(0.0, self.started - created_epoch), 3)
        return out
