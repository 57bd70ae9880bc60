"""Canned run directories, written by hand the way the worker writes them, so UI tests need no training.

Times are fixed relative to ``NOW`` (fed to the app as its clock) so ages, elapsed times and ETAs
are the same on every run of the snapshot tests.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import socket
from pathlib import Path
from typing import Any

NOW = dt.datetime(2026, 1, 15, 12, 0, 0, tzinfo=dt.timezone.utc).timestamp()
DEAD_PID = 4_194_000  # above the default pid_max, so never a live process


def clock() -> float:
    return NOW


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds")


def config(**overrides: Any) -> dict[str, Any]:
    from workbench.core.config import RunConfig

    cfg = RunConfig(data="/data/sst2", model="default", max_steps=None, epochs=3.0, batch_size=32)
    return {**cfg.to_dict(), **overrides}


def metric_events(*, start: float, steps: int, max_steps: int, steps_per_epoch: int, gpu: bool = False,
                  final: dict[str, float] | None = None, seconds_per_step: float = 0.5) -> list[dict[str, Any]]:
    """A plausible metrics.jsonl: decaying loss every step, an eval per epoch, system readings."""
    events: list[dict[str, Any]] = []

    def system(step: int, t: float) -> dict[str, Any]:
        e: dict[str, Any] = {"time": t, "kind": "system", "step": step, "epoch": round(step / steps_per_epoch, 4),
                             "cpu_percent": 47.5, "cpu_count": 16, "ram_used": 12 << 30, "ram_total": 64 << 30,
                             "rss": 3 << 30}
        if gpu:
            e["gpus"] = [{"index": 0, "name": "NVIDIA H200", "util": 93.0, "mem_used": 41 << 30,
                          "mem_total": 141 << 30, "temp": 61.0, "power": 612.0}]
        return e

    events.append(system(0, start))
    for step in range(1, steps + 1):
        t = round(start + step * seconds_per_step, 3)
        epoch = round(step / steps_per_epoch, 4)
        loss = 0.7 * math.exp(-step / (max_steps / 3)) + 0.15 + 0.02 * math.sin(step)
        lr = 5e-5 * (1 - step / max_steps)
        events.append({"time": t, "kind": "train", "step": step, "epoch": epoch, "loss": round(loss, 4),
                       "lr": lr, "grad_norm": 1.1, "samples_per_s": 1214.0, "tokens_per_s": 92300.0})
        if step % steps_per_epoch == 0:
            n = step // steps_per_epoch
            events.append({"time": t + 0.1, "kind": "eval", "step": step, "epoch": epoch,
                           "loss": round(0.45 - 0.05 * n, 4), "accuracy": round(0.80 + 0.03 * n, 4),
                           "macro_f1": round(0.79 + 0.03 * n, 4), "runtime": 2.0})
            events.append({"time": t + 0.2, "kind": "checkpoint", "step": step, "epoch": epoch,
                           "path": f"checkpoint-{step}"})
        if step % 20 == 0:
            events.append(system(step, t))
    if final:
        events.append({"time": round(start + steps * seconds_per_step + 1, 3), "kind": "final", "step": steps,
                       "epoch": round(steps / steps_per_epoch, 4), **final})
    return events


def make_run(ws: Path, name: str, *, status: str, age_s: float, steps: int = 60, max_steps: int = 90,
             steps_per_epoch: int = 30, pid: int | None = None, gpu: bool = False, checkpoint: int | None = None,
             error: str | None = None, final: dict[str, float] | None = None, heartbeat: float | None = None,
             log: str | None = None) -> Path:
    """Write runs/<id>/ with run.json, metrics.jsonl and stdout.log, as a worker would have."""
    created = NOW - age_s
    run_id = dt.datetime.fromtimestamp(created, dt.timezone.utc).strftime("%Y%m%d-%H%M%S") + "-" + name
    path = ws / "runs" / run_id
    path.mkdir(parents=True)
    finished = created + 5 + steps * 0.5 + 2 if status in ("completed", "stopped", "failed") else None
    info: dict[str, Any] = {
        "id": run_id, "name": name, "task": "text-classification", "status": status,
        "created": iso(created), "started": iso(created + 2), "finished": iso(finished) if finished else None,
        "host": socket.gethostname(), "pid": pid,
        # A live run needs a fresh heartbeat in real time (the store checks it against time.time()).
        "heartbeat": iso(heartbeat) if heartbeat else iso(created + 5 + steps * 0.5),
        "config": config(), "labels": ["negative", "positive"],
        "data": {"train": {"source": "/data/sst2", "rows": 960}, "eval": {"source": "/data/sst2", "rows": 200},
                 "text_column": "sentence", "label_column": "label"},
        "progress": {"step": steps, "max_steps": max_steps, "epoch": round(steps / steps_per_epoch, 4),
                     "num_epochs": max_steps // steps_per_epoch},
        "error": error,
    }
    if final:
        info["metrics"] = final
        info["evaluation"] = {
            "labels": ["negative", "positive"],
            "confusion_matrix": [[88, 12], [9, 91]],
            "per_class": {"negative": {"precision": 0.907, "recall": 0.88, "f1": 0.893, "support": 100},
                          "positive": {"precision": 0.883, "recall": 0.91, "f1": 0.897, "support": 100}},
        }
        info["best_metric"] = {"name": "accuracy", "value": final.get("accuracy"), "checkpoint": f"checkpoint-{steps}"}
    (path / "run.json").write_text(json.dumps(info, indent=2))
    events = metric_events(start=created + 5, steps=steps, max_steps=max_steps, steps_per_epoch=steps_per_epoch,
                           gpu=gpu, final=final)
    (path / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    lines = log if log is not None else "\n".join(
        [f"worker 4242 starting run {run_id}"]
        + [f"{{'loss': '{e['loss']:.4f}', 'learning_rate': '{e['lr']:.3e}', 'epoch': '{e['epoch']}'}}"
           for e in events if e["kind"] == "train"][-30:]) + "\n"
    (path / "stdout.log").write_text(lines)
    if checkpoint:
        ck = path / "checkpoints" / f"checkpoint-{checkpoint}"
        ck.mkdir(parents=True)
        (ck / "trainer_state.json").write_text("{}")
        # The worker marks a checkpoint whole once its files are synced; resume trusts only marked ones.
        from workbench.core import runs as run_store

        marker = getattr(run_store, "CHECKPOINT_COMPLETE", None)
        if marker:
            (ck / marker).write_text(iso(created) + "\n")
    return path


def populate(ws: Path, *, live_pid: int | None = None) -> dict[str, Path]:
    """The standard canned workspace: running, completed, crashed, stopped and failed runs."""
    import time

    live_pid = live_pid or os.getpid()
    return {
        "running": make_run(ws, "sst2-minilm-0428", status="running", age_s=12 * 60, steps=45, max_steps=90,
                            pid=live_pid, gpu=True, heartbeat=time.time()),
        "completed": make_run(ws, "sst2-minilm-lr1e-4", status="completed", age_s=26 * 3600, steps=90, max_steps=90,
                              checkpoint=90, final={"accuracy": 0.8950, "macro_f1": 0.8949, "eval_loss": 0.3012}),
        "crashed": make_run(ws, "sst2-distil-crash", status="running", age_s=2 * 86400, steps=40, max_steps=90,
                            pid=DEAD_PID, checkpoint=30),
        "stopped": make_run(ws, "sst2-stopped-early", status="stopped", age_s=3 * 86400, steps=30, max_steps=90,
                            checkpoint=30),
        "failed": make_run(ws, "topics-bad-labels", status="failed", age_s=4 * 86400, steps=0, max_steps=90,
                           error="the evaluation data has label(s) never seen in training: 'sport'."),
    }
