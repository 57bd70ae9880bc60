"""What the Monitor knows about a run's metrics: the curves, the latest readings and the speed.

Built from metrics.jsonl events (see DESIGN.md) in the UI thread; pure Python, unit-tested directly.
"""

from __future__ import annotations

from collections import deque
from typing import Any

# Eval keys that are bookkeeping rather than quality metrics.
_EVAL_SKIP = {"loss", "runtime", "samples_per_second", "steps_per_second", "epoch", "step", "time"}
# Steps/second is measured over this many recent train events: recent enough to follow a change of
# speed, long enough to smooth out evaluation pauses.
RATE_WINDOW = 20


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
                self.last_train = e
                if isinstance(e.get("time"), (int, float)) and isinstance(step, (int, float)):
                    self._recent.append((float(e["time"]), float(step)))
            elif kind == "eval":
                if not isinstance(step, (int, float)):
                    continue
                self.last_eval = e
                if self.eval_steps and self.eval_steps[-1] == float(step):
                    # The final evaluation repeats the last one at the same step: one point, not two.
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

    def best(self, metric: str) -> tuple[float, float] | None:
        """(best value, step) of an eval metric."""
        values = self.eval_metrics.get(metric) or []
        pairs = [(v, s) for v, s in zip(values, self.eval_steps) if v == v]
        return max(pairs, default=None)

    def ema_loss(self, alpha: float = 0.1) -> float | None:
        """An exponential moving average of the train loss over the last ~50 points: the trend under the noise."""
        if not self.train_loss:
            return None
        ema = self.train_loss[max(0, len(self.train_loss) - 50)]
        for value in self.train_loss[max(0, len(self.train_loss) - 50) + 1:]:
            ema = alpha * value + (1 - alpha) * ema
        return ema


def downsample(xs: list[float], ys: list[float], limit: int) -> tuple[list[float], list[float]]:
    """At most ``limit`` points, evenly strided, always keeping the last one (the newest reading)."""
    n = len(xs)
    if n <= limit or limit < 2:
        return xs, ys
    stride = (n - 1) / (limit - 1)
    idx = [round(i * stride) for i in range(limit)]
    return [xs[i] for i in idx], [ys[i] for i in idx]
