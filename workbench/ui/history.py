"""What the Monitor knows about a run's metrics: the curves, the latest readings and the speed.

Built from metrics.jsonl events (see DESIGN.md) in the UI thread; pure Python, unit-tested directly.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from workbench.ui.task_metrics import PER_CLASS_PREFIX, TaskMetrics

# Eval keys that are bookkeeping rather than quality metrics.
_EVAL_SKIP = {"loss", "runtime", "samples_per_second", "steps_per_second", "epoch", "step", "time"}
# Steps/second is measured over this many recent train events: recent enough to follow a change of
# speed, long enough to smooth out evaluation pauses.
RATE_WINDOW = 20
# The loss EMA's weight on each new point: the average follows roughly the last 1/EMA_ALPHA points.
EMA_ALPHA = 0.1


class RunHistory:
    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.train_steps: list[float] = []
        self.train_loss: list[float] = []
        self.eval_steps: list[float] = []
        self.eval_loss: list[float] = []
        self.eval_metrics: dict[str, list[float]] = {}
        self.last_train: dict[str, Any] | None = None
        self.last_eval: dict[str, Any] | None = None
        self.last_system: dict[str, Any] | None = None
        self.last_checkpoint: dict[str, Any] | None = None
        self.final: dict[str, Any] | None = None
        self.last_step = 0
        self.last_epoch: float | None = None
        self.events = 0
        self._recent: deque[tuple[float, float]] = deque(maxlen=RATE_WINDOW)
        # The loss EMA, kept as each point arrives (O(1) a point; a run may log 100k steps): the biased
        # average started from 0 and how many points it has seen, for the bias correction.
        self._ema_biased = 0.0
        self._ema_points = 0

    def add(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            self.events += 1
            kind = e.get("kind")
            step = e.get("step")
            if isinstance(step, (int, float)):
                self.last_step = max(self.last_step, int(step))
            if isinstance(e.get("epoch"), (int, float)):
                self.last_epoch = float(e["epoch"])
            if kind == "train":
                if isinstance(e.get("loss"), (int, float)) and isinstance(step, (int, float)):
                    self.train_steps.append(float(step))
                    self.train_loss.append(float(e["loss"]))
                    self._ema_add(float(e["loss"]))
                self.last_train = e
                if isinstance(e.get("time"), (int, float)) and isinstance(step, (int, float)):
                    self._recent.append((float(e["time"]), float(step)))
            elif kind == "eval":
                if not isinstance(step, (int, float)):
                    continue
                self.last_eval = e
                if self.eval_steps and self.eval_steps[-1] == float(step):
                    # Runs written before the final evaluation stopped logging an eval event repeat the last step.
                    self.eval_steps.pop()
                    self.eval_loss.pop()
                    for series in self.eval_metrics.values():
                        if len(series) > len(self.eval_steps):
                            series.pop()
                self.eval_steps.append(float(step))
                self.eval_loss.append(float(e["loss"]) if isinstance(e.get("loss"), (int, float)) else float("nan"))
                n = len(self.eval_steps)
                for key, value in e.items():
                    if key in _EVAL_SKIP or key == "kind" or not isinstance(value, (int, float)) or isinstance(value, bool):
                        continue
                    series = self.eval_metrics.setdefault(key, [])
                    # A metric first seen late is padded so every series lines up with eval_steps.
                    series.extend([float("nan")] * (n - 1 - len(series)))
                    series.append(float(value))
            elif kind == "system":
                self.last_system = e
            elif kind == "checkpoint":
                self.last_checkpoint = e
            elif kind == "final":
                self.final = e

    # --- derived ------------------------------------------------------------------------------------
    def steps_per_second(self) -> float | None:
        if len(self._recent) < 2:
            return None
        (t0, s0), (t1, s1) = self._recent[0], self._recent[-1]
        if t1 <= t0 or s1 <= s0:
            return None
        return (s1 - s0) / (t1 - t0)

    def eta_seconds(self, step: int | None, max_steps: int | None) -> float | None:
        speed = self.steps_per_second()
        if not speed or not max_steps or step is None:
            return None
        return max(0.0, (max_steps - step) / speed)

    def eval_series(self, metric: str) -> list[float]:
        """The values of an eval metric at each of ``eval_steps`` (NaN where an evaluation lacked it);
        "loss" or "eval_loss" is the eval loss."""
        if metric in ("loss", "eval_loss"):
            return self.eval_loss
        return self.eval_metrics.get(metric) or []

    def main_metric(self, tm: TaskMetrics) -> str | None:
        """The eval key the Monitor headlines: the task's main metric once an evaluation carried it, else
        the first quality metric logged (a run of an older version, say)."""
        if any(v == v for v in self.eval_series(tm.eval_key)):
            return tm.eval_key
        return next((k for k in self.eval_metrics if not k.startswith(PER_CLASS_PREFIX)), None)

    def per_class(self) -> dict[str, list[float]]:
        """Per-class eval series by class name (token classification logs entity F1 per type as f1_<TYPE>)."""
        n = len(PER_CLASS_PREFIX)
        return {k[n:]: v for k, v in self.eval_metrics.items() if k.startswith(PER_CLASS_PREFIX)}

    def best(self, metric: str, greater: bool = True) -> tuple[float, float] | None:
        """(best value, step) of an eval metric: the highest, or the lowest when ``greater`` is False;
        the earliest of equal values (the checkpoint the Trainer keeps)."""
        pairs = [(v, s) for v, s in zip(self.eval_series(metric), self.eval_steps) if v == v]
        if not pairs:
            return None
        return max(pairs, key=lambda p: p[0]) if greater else min(pairs, key=lambda p: p[0])

    def _ema_add(self, value: float) -> None:
        if not math.isfinite(value):  # NaN or inf (a diverged step) would poison every later average
            return
        self._ema_biased = EMA_ALPHA * value + (1 - EMA_ALPHA) * self._ema_biased
        self._ema_points += 1

    def ema_loss(self) -> float | None:
        """The bias-corrected exponential moving average of the train loss (as TensorBoard smooths): the
        trend under the noise. The average starts from 0 and is divided by ``1 - (1 - alpha)^n``, so every
        point seen so far gets its true weight; starting from the first loss instead would hold the
        average near that (high) loss for the first ~1/alpha points."""
        if not self._ema_points:
            return None
        return self._ema_biased / (1 - (1 - EMA_ALPHA) ** self._ema_points)


def downsample(xs: list[float], ys: list[float], limit: int) -> tuple[list[float], list[float]]:
    """At most ``limit`` points, evenly strided, always keeping the last one (the newest reading)."""
    n = len(xs)
    if n <= limit or limit < 2:
        return xs, ys
    stride = (n - 1) / (limit - 1)
    idx = [round(i * stride) for i in range(limit)]
    return [xs[i] for i in idx], [ys[i] for i in idx]
