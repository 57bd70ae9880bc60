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
from typing import Any, Callable

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


def classification_eval(n: int) -> dict[str, float]:
    """The eval values of the ``n``-th evaluation (from 1) of a canned text-classification run."""
    return {"loss": round(0.45 - 0.05 * n, 4), "accuracy": round(0.80 + 0.03 * n, 4),
            "macro_f1": round(0.79 + 0.03 * n, 4)}


def metric_events(*, start: float, steps: int, max_steps: int, steps_per_epoch: int, gpu: bool = False,
                  final: dict[str, float] | None = None, seconds_per_step: float = 0.5,
                  losses: list[float] | None = None, eval_every: int | None = None,
                  eval_values: Callable[[int], dict[str, float]] = classification_eval) -> list[dict[str, Any]]:
    """A plausible metrics.jsonl: decaying loss every step (or ``losses``, one per step), an eval per epoch
    (or every ``eval_every`` steps) with ``eval_values(n)``, system readings."""
    events: list[dict[str, Any]] = []
    eval_every = eval_every or steps_per_epoch

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
        loss = losses[step - 1] if losses else 0.7 * math.exp(-step / (max_steps / 3)) + 0.15 + 0.02 * math.sin(step)
        lr = 5e-5 * (1 - step / max_steps)
        events.append({"time": t, "kind": "train", "step": step, "epoch": epoch, "loss": round(loss, 4),
                       "lr": lr, "grad_norm": 1.1, "samples_per_s": 1214.0, "tokens_per_s": 92300.0})
        if step % eval_every == 0:
            events.append({"time": t + 0.1, "kind": "eval", "step": step, "epoch": epoch,
                           **eval_values(step // eval_every), "runtime": 2.0})
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
             log: str | None = None, **event_options: Any) -> Path:
    """Write runs/<id>/ with run.json, metrics.jsonl and stdout.log, as a worker would have
    (``event_options``: more arguments of ``metric_events``)."""
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
                           gpu=gpu, final=final, **event_options)
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


ENTITY_TYPES = ("PER", "ORG", "LOC", "MISC", "DATE", "PROD")
# Entity F1 at each evaluation of the canned NER run: it peaks at the 4th (step 80) and dips at the 5th.
NER_F1 = (0.412, 0.603, 0.694, 0.741, 0.733, 0.748)
_TYPE_OFFSET = {"PER": 0.08, "ORG": -0.05, "LOC": 0.04, "MISC": -0.12, "DATE": 0.02, "PROD": -0.21}


def ner_eval(n: int) -> dict[str, float]:
    """The ``n``-th evaluation of the canned NER run, with the keys a token-classification run writes:
    entity f1/precision/recall, token_accuracy and f1_<TYPE> per entity type."""
    f1 = NER_F1[min(n, len(NER_F1)) - 1]
    values = {"loss": round(0.9 / n + 0.1, 4), "f1": f1, "precision": round(f1 + 0.012, 4),
              "recall": round(f1 - 0.011, 4), "token_accuracy": round(0.9 + 0.01 * n, 4)}
    for kind in ENTITY_TYPES:
        values[f"f1_{kind}"] = round(min(1.0, max(0.0, f1 + _TYPE_OFFSET[kind] * (1 + 0.1 * ((n + len(kind)) % 3)))), 4)
    return values


def make_ner_run(ws: Path, name: str, *, status: str, age_s: float, steps: int = 107, pid: int | None = None,
                 heartbeat: float | None = None) -> Path:
    """A held-out NER run (6 entity types, 3 epochs of 40 steps, an evaluation every 20 steps): the loss
    falls from about 2.3 to 0.2, so a moving average biased toward the first loss shows."""
    losses = [round(2.2 * math.exp(-step / 12) + 0.15 + 0.03 * math.sin(step), 4) for step in range(1, steps + 1)]
    final = None
    if status == "completed":
        last = ner_eval(steps // 20)
        final = {"f1": last["f1"], "precision": last["precision"], "recall": last["recall"],
                 "token_accuracy": last["token_accuracy"], "eval_loss": last["loss"]}
    path = make_run(ws, name, status=status, age_s=age_s, steps=steps, max_steps=120, steps_per_epoch=40, pid=pid,
                    heartbeat=heartbeat, checkpoint=steps - steps % 20 or None, final=final, losses=losses,
                    eval_every=20, eval_values=ner_eval)
    info = json.loads((path / "run.json").read_text())
    tags = ["O"] + [f"{p}-{kind}" for kind in ENTITY_TYPES for p in "BI"]
    info.update(task="token-classification", labels=tags)
    info["config"].update(data="/data/ner-held-out", eval_data="/data/ner-held-out/dev.conll")
    info["data"] = {"train": {"source": "/data/ner-held-out", "rows": 1200},
                    "eval": {"source": "/data/ner-held-out/dev.conll", "rows": 300}}
    if final:
        last = ner_eval(steps // 20)
        info["evaluation"] = {"per_class": {kind: {"precision": last[f"f1_{kind}"], "recall": last[f"f1_{kind}"],
                                                   "f1": last[f"f1_{kind}"], "support": 40 + 7 * i}
                                            for i, kind in enumerate(ENTITY_TYPES)}}
        info["best_metric"] = {"name": "f1", "value": max(NER_F1), "checkpoint": f"checkpoint-{steps}"}
    (path / "run.json").write_text(json.dumps(info, indent=2))
    return path


def make_sft_run(ws: Path, name: str, *, age_s: float, perplexity: float) -> Path:
    """A finished causal-LM SFT run: eval loss and perplexity, no accuracy of any kind."""
    loss = math.log(perplexity)
    path = make_run(ws, name, status="completed", age_s=age_s, steps=30, max_steps=30, steps_per_epoch=10,
                    final={"eval_loss": loss},
                    eval_values=lambda n: {"loss": round(loss + 0.3 / n, 4), "perplexity": round(math.exp(loss + 0.3 / n), 4)})
    info = json.loads((path / "run.json").read_text())
    info.update(task="causal-lm-sft", labels=[], best_metric={"name": "eval_loss", "value": loss})
    info["metrics"] = {"eval_loss": loss, "perplexity": perplexity}
    info["evaluation"] = {}
    (path / "run.json").write_text(json.dumps(info, indent=2))
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


# ------------------------------------------------------------------------------------------ sweeps
EVAL_ROWS = 200


def write_predictions(path: Path, accuracy: float, *, seed: int, labels: tuple[str, str] = ("negative", "positive"),
                      n: int = EVAL_ROWS) -> None:
    """predictions.jsonl of a text-classification run on ``n`` eval examples, ``accuracy`` of them right (which
    ones depends on ``seed``), so compare's paired tests have real disagreements to count."""
    import random

    wrong = set(random.Random(seed).sample(range(n), n - round(accuracy * n)))
    records = []
    for i in range(n):
        gold = labels[i % 2]
        predicted = labels[1 - i % 2] if i in wrong else gold
        records.append({"id": i, "input": f"eval sentence number {i}", "gold": gold, "predicted": predicted,
                        "correct": predicted == gold, "scores": {predicted: 0.9, labels[labels.index(predicted) - 1]: 0.1}})
    (path / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


# The canned sweep's trials: (params, outcome, accuracy). Trial 1 is the best, trial 2 the runner-up, trial 3 was
# pruned at its first evaluation, trial 4 is training and trial 5 waits in the queue.
SWEEP_TRIALS = (
    ({"lr": 1e-5, "batch_size": 16}, "completed", 0.85),
    ({"lr": 3e-5, "batch_size": 32}, "completed", 0.915),
    ({"lr": 1e-4, "batch_size": 16}, "completed", 0.895),
    ({"lr": 3e-4, "batch_size": 32}, "pruned", 0.62),
    ({"lr": 2e-4, "batch_size": 16}, "running", None),
    ({"lr": 5e-5, "batch_size": 32}, "queued", None),
)


def make_sweep(ws: Path, name: str = "lr-sweep", *, live_pid: int, trials=SWEEP_TRIALS, planned: int = 8,
               status: str = "running", age_s: float = 3 * 3600) -> dict[str, Any]:
    """A sweep as ``SweepStore.create`` and the queue runner leave it: sweeps/<id>/sweep.json written by hand, a
    real Optuna journal study told each finished trial's value (``ask``/``tell``), and one canned run per trial
    (run.json with its ``sweep`` field, metrics, predictions). Returns ``{"id": SWEEP_ID, "runs": [RUN_ID by trial
    number]}``. ``live_pid``: the pid a running trial's worker has (a live process, not this one)."""
    import time

    import optuna

    from workbench.core.sweeps import Param, SweepStore

    created = NOW - age_s
    sweep_id = dt.datetime.fromtimestamp(created, dt.timezone.utc).strftime("%Y%m%d-%H%M%S") + "-" + name
    params = [Param("lr", low=1e-5, high=3e-4, log=True), Param("batch_size", values=(16, 32))]
    record: dict[str, Any] = {
        "id": sweep_id, "name": name, "created": iso(created), "status": status, "task": "text-classification",
        "config": config(), "params": [p.to_dict() for p in params], "search": "random", "trials_planned": planned,
        "pruner": "median", "metric": "accuracy", "direction": "maximize", "seed": 0, "trials": [], "error": None,
        "finished": None}
    (ws / "sweeps" / sweep_id).mkdir(parents=True)
    store = SweepStore(ws)
    study = store.study(record)
    distributions = {p.name: p.distribution() for p in params}
    run_ids = []
    for number, (values, outcome, accuracy) in enumerate(trials):
        study.enqueue_trial(values)
        trial = study.ask(distributions)
        assert trial.number == number and trial.params == values
        age = age_s - 600 - 900 * number
        run_name = f"{name}-t{number}"
        if outcome == "completed":
            path = make_run(ws, run_name, status="completed", age_s=age, steps=90, max_steps=90,
                            final={"accuracy": accuracy, "macro_f1": round(accuracy - 0.001, 4),
                                   "eval_loss": round(1.2 - accuracy, 4)})
            write_predictions(path, accuracy, seed=number)
            trial.report(accuracy, 3)
            study.tell(trial, accuracy)
        elif outcome == "pruned":
            path = make_run(ws, run_name, status="completed", age_s=age, steps=30, max_steps=90,
                            final={"accuracy": accuracy, "macro_f1": accuracy, "eval_loss": 0.61})
            trial.report(accuracy, 1)
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif outcome == "running":
            path = make_run(ws, run_name, status="running", age_s=age, steps=45, max_steps=90, pid=live_pid,
                            heartbeat=time.time())
        else:
            path = make_run(ws, run_name, status="queued", age_s=age, steps=0, max_steps=90)
        info = json.loads((path / "run.json").read_text())
        info["config"].update(values, name=run_name)
        info["sweep"] = {"id": sweep_id, "trial": number, "params": values, "metric": "accuracy"}
        if outcome == "pruned":
            info["pruned"] = {"evaluation": 1, "step": 30, "epoch": 1.0, "value": accuracy}
        if outcome == "queued":
            info.update(queued=iso(created), started=None, pid=None, progress={})
        (path / "run.json").write_text(json.dumps(info, indent=2))
        record["trials"].append({"number": number, "run_id": path.name, "params": values})
        run_ids.append(path.name)
    (ws / "sweeps" / sweep_id / "sweep.json").write_text(json.dumps(record, indent=2))
    queue = [{"kind": "run", "id": run_ids[n], "added": iso(created)} for n, (_, o, _) in enumerate(trials)
             if o == "queued"]
    if status == "running":
        queue.append({"kind": "sweep", "id": sweep_id, "added": iso(created)})
    queue_file = ws / "queue" / "queue.json"
    state = json.loads(queue_file.read_text()) if queue_file.exists() else {"entries": [], "paused": False, "parallel": 1}
    state["entries"] += queue
    queue_file.parent.mkdir(exist_ok=True)
    queue_file.write_text(json.dumps(state))
    return {"id": sweep_id, "runs": run_ids}
