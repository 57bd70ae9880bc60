"""Sweeps: many runs of one base config over a search space, through Optuna, run by the queue.

A sweep is a record beside the runs (``sweeps/<id>/sweep.json``) and an Optuna study in a journal file next to it
(``sweeps/<id>/study.journal``: file-based, safe across processes). Its trials are ordinary runs with a
``sweep`` field in run.json. The sweep stands in the workspace's queue; when its turn comes the queue runner asks
it for one trial (``next_trial``: Optuna's ``study.ask``, so TPE sees every finished trial), creates the run and
starts it. The worker reports each evaluation to the study and stops the run when the pruner says so
(``report_evaluation``); the runner tells the study how each trial ended (``trial_ended``).

Search: ``grid`` (every combination of the listed values, enqueued in the order written: Optuna's
``enqueue_trial``), ``random`` (Optuna's RandomSampler) and ``tpe`` (TPESampler), with values (``lr=1e-5,3e-5``) or ranges (``lr=log:1e-5..3e-4``, ``epochs=1..3``). Pruners: Optuna's
median and successive-halving pruners, fed the validation metric at every evaluation.

The value of a trial is its best validation score of the task's main metric (what the Trainer keeps as the
best checkpoint), or its lowest validation loss with ``metric="loss"``: hyper-parameters are chosen on the
validation split, never on a test set.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from workbench.core.errors import WorkbenchError, shown
from workbench.core.runs import (COMPLETED, CRASHED, FAILED, QUEUED, RUNNING, STOPPED, Run, RunStore,
                                 atomic_write_json, now_iso, parse_iso, slugify)
from workbench.core.sweep_study import SWEEP_FILE, SWEEPS_DIR, open_study, read_record
from workbench.paths import Workspace

SEARCHES = ("grid", "random", "tpe")
PRUNERS = ("median", "halving", "none")
# Sweep statuses: running (in the queue), stopped (by the user), completed (every trial ended), failed.
SWEEP_STATUSES = ("running", "stopped", "completed", "failed")
# Fields a sweep cannot vary: they say what the sweep is about, not how a run trains.
FIXED_FIELDS = frozenset({"data", "eval_data", "name", "text_column", "label_column", "task"})
LOSS_METRIC = "loss"


# ------------------------------------------------------------------------------------------ parameters
@dataclass(frozen=True)
class Param:
    """One dimension of the search: listed values, or a range (float or int, optionally log-scaled)."""

    name: str
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    def to_dict(self) -> dict[str, Any]:
        if self.values is not None:
            return {"name": self.name, "values": list(self.values)}
        return {"name": self.name, "low": self.low, "high": self.high, "log": self.log, "integer": self.integer}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Param":
        if data.get("values") is not None:
            return cls(data["name"], values=tuple(data["values"]))
        return cls(data["name"], low=data["low"], high=data["high"], log=bool(data.get("log")),
                   integer=bool(data.get("integer")))

    def describe(self) -> str:
        if self.values is not None:
            return f"{self.name} ∈ {{{', '.join(map(str, self.values))}}}"
        return f"{self.name} ∈ [{self.low:g}, {self.high:g}]{' (log)' if self.log else ''}"

    def distribution(self):
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.values is not None:
            return CategoricalDistribution(list(self.values))
        if self.integer:
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(float(self.low), float(self.high), log=self.log)


_RANGE = re.compile(r"^(?:(log):)?\s*([^.\s][^\s]*?)\s*\.\.\s*(\S+)$")


def parse_param(text: str) -> Param:
    """``lr=1e-5,3e-5`` (values), ``lr=log:1e-5..3e-4`` or ``warmup_ratio=0..0.1`` (ranges), ``epochs=1..3`` (an
    integer range for an integer field). Names are RunConfig fields, with ``-`` or ``_``."""
    from workbench.core.config import RunConfig, coerce_value, field_kind

    name, sep, spec = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name or not spec.strip():
        raise WorkbenchError(f"--param {shown(text)!r}: write NAME=V1,V2,… or NAME=LOW..HIGH (or log:LOW..HIGH).")
    if name not in RunConfig.field_names():
        raise WorkbenchError(f"--param {name}: no such setting (see `sft-workbench train --help`).")
    if name in FIXED_FIELDS:
        raise WorkbenchError(f"--param {name}: a sweep cannot vary {name}; it is part of what the sweep is about.")
    kind = field_kind(name)
    spec = spec.strip()
    match = _RANGE.match(spec)
    if match:
        if kind not in (int, float):
            raise WorkbenchError(f"--param {name}: a range needs a numeric setting; list the values instead.")
        log, lo, hi = match.group(1) is not None, coerce_value(name, match.group(2)), coerce_value(name, match.group(3))
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lo, hi)):
            raise WorkbenchError(f"--param {name}: {shown(spec)!r} is not a range of numbers.")
        if not lo < hi:
            raise WorkbenchError(f"--param {name}: the range must go from low to high, not {lo}..{hi}.")
        if log and lo <= 0:
            raise WorkbenchError(f"--param {name}: a log range needs a positive low end, not {lo}.")
        return Param(name, low=lo, high=hi, log=log, integer=kind is int)
    values = tuple(coerce_value(name, v) for v in spec.split(","))
    for value in values:
        if isinstance(value, str) and kind is not str:
            raise WorkbenchError(f"--param {name}: {shown(value)!r} is not a {kind.__name__}.")
    if len(set(map(repr, values))) != len(values):
        raise WorkbenchError(f"--param {name}: a value is listed twice.")
    return Param(name, values=values)


def check_params(params: list[Param], base, search: str) -> None:
    """Refuse a search space whose trials could not run: a setting given twice, a range in a grid, a value the
    config refuses (every grid point; for ranges, both ends)."""
    names = [p.name for p in params]
    if not params:
        raise WorkbenchError("a sweep needs at least one --param.")
    if len(set(names)) != len(names):
        raise WorkbenchError(f"--param {next(n for n in names if names.count(n) > 1)} is given twice.")
    if search == "grid" and any(p.values is None for p in params):
        bad = next(p for p in params if p.values is None)
        raise WorkbenchError(f"--search grid needs listed values; --param {bad.name} is a range (use --search random or tpe).")
    axes = [p.values if p.values is not None else (p.low, p.high) for p in params]
    for point in itertools.product(*axes):
        cfg = base.updated(**dict(zip(names, point)))
        errors = {k: v for k, v in cfg.validate().items() if k in names or k in ("lr", "epochs", "max_steps")}
        if errors:
            key, message = next(iter(errors.items()))
            raise WorkbenchError(f"--param {key}={getattr(cfg, key, '')}: {message}")


# ------------------------------------------------------------------------------------------ the record
def new_sweep_id(name: str) -> str:
    return f"{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{slugify(name)}"


class SweepStore:
    """The sweeps of one workspace."""

    def __init__(self, workspace: Workspace | str | None = None):
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
        self.runs = RunStore(self.workspace)

    @property
    def root(self) -> Path:
        return self.workspace.root / SWEEPS_DIR

    # --- reading ----------------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        """Readable sweep records, newest first."""
        if not self.root.is_dir():
            return []
        out = []
        for path in sorted(self.root.iterdir(), reverse=True):
            try:
                out.append(self._read(path))
            except WorkbenchError:
                continue
        return out

    def get(self, ref: str) -> dict[str, Any]:
        """A sweep record by id, unique id prefix or name."""
        if not ref or "/" in ref or ref in (".", ".."):
            raise WorkbenchError(f"no sweep {ref!r}.")
        if (self.root / ref).is_dir():
            return self._read(self.root / ref)
        records = self.list()
        matches = [r for r in records if r["name"] == ref] or [r for r in records if r["id"].startswith(ref)]
        if len(matches) == 1 or (matches and matches[0]["name"] == ref):
            return matches[0]
        if matches:
            raise WorkbenchError(f"{ref!r} matches {len(matches)} sweeps; give more of the id.")
        raise WorkbenchError(f"no sweep {ref!r} in {self.root} (see `sft-workbench sweep list`).")

    def _read(self, path: Path) -> dict[str, Any]:
        return read_record(path)

    @contextlib.contextmanager
    def editing(self, sweep_id: str) -> Iterator[dict[str, Any]]:
        path = self.root / sweep_id
        with open(path / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            record = self._read(path)
            yield record
            atomic_write_json(path / SWEEP_FILE, record)

    def trial_runs(self, sweep_id: str) -> list[Run]:
        record = self.get(sweep_id)
        runs = []
        for trial in record["trials"]:
            try:
                runs.append(self.runs.get(trial["run_id"]))
            except WorkbenchError:
                continue  # a trial's run deleted by hand
        return runs

    # --- the study --------------------------------------------------------------------------------
    def study(self, record: dict[str, Any], *, seed_offset: int = 0, sampling: bool = False):
        """The sweep's Optuna study (``sweep_study.open_study``)."""
        return open_study(record, self.root, seed_offset=seed_offset, sampling=sampling)

    # --- creating ---------------------------------------------------------------------------------
    def create(self, base, params: list[Param], *, search: str = "grid", trials: int | None = None,
               pruner: str = "median", metric: str | None = None, name: str | None = None, seed: int = 0) -> dict[str, Any]:
        """Check the base config (data and model, as a launch does), the search space and the settings, then write
        the record and the study and put the sweep at the end of the queue. Nothing is written on an error."""
        from workbench.core.queue import RunQueue
        from workbench.core.runs import name_problem
        from workbench.core.tasks import get_task
        from workbench.core.training.trainer import prepare

        if search not in SEARCHES:
            raise WorkbenchError(f"--search must be one of {', '.join(SEARCHES)}, not {search!r}.")
        if pruner not in PRUNERS:
            raise WorkbenchError(f"--pruner must be one of {', '.join(PRUNERS)}, not {pruner!r}.")
        if not base.data:
            raise WorkbenchError("no training data: pass --data PATH (or set data: in --config).")
        base = base.with_absolute_paths().check()
        check_params(params, base, search)
        grid_size = math.prod(len(p.values) for p in params) if search == "grid" else None
        if trials is None:
            if grid_size is None:
                raise WorkbenchError(f"--search {search} needs --trials N.")
            trials = grid_size
        if trials < 1:
            raise WorkbenchError(f"--trials must be at least 1, not {trials}.")
        if grid_size is not None and trials > grid_size:
            raise WorkbenchError(f"the grid has {grid_size} combinations; --trials {trials} would repeat some.")
        _, data = prepare(base)
        task = get_task(data.schema.task)
        if metric in (None, "", task.metrics.main):
            metric, direction = task.metrics.main, "maximize" if task.metrics.greater_is_better else "minimize"
        elif metric == LOSS_METRIC:
            direction = "minimize"
        else:
            raise WorkbenchError(f"--metric must be {task.metrics.main} (the task's main metric) or loss, not {metric!r}.")
        name = name or base.name or f"sweep-{Path(base.data.rstrip('/')).stem}"
        problem = name_problem(name)
        if problem:
            raise WorkbenchError(problem.replace("run name", "sweep name"))
        sweep_id = new_sweep_id(name)
        path = self.root / sweep_id
        suffix = 1
        while path.exists():
            suffix += 1
            path = self.root / f"{sweep_id}-{suffix}"
        path.mkdir(parents=True)
        record = {"id": path.name, "name": name, "created": now_iso(), "status": "running", "task": data.schema.task,
                  "config": base.to_dict(), "params": [p.to_dict() for p in params], "search": search,
                  "trials_planned": trials, "pruner": pruner, "metric": metric, "direction": direction, "seed": seed,
                  "trials": [], "error": None, "finished": None}
        atomic_write_json(path / SWEEP_FILE, record)
        study = self.study(record)  # creates the study in the journal
        if search == "grid":
            # Optuna's GridSampler visits its points in a shuffled order (made for many workers asking at once);
            # one runner asks here, so the grid is enqueued in the order it was written: trial 0 is the first
            # combination, and a half-done grid has done the first ones.
            for point in itertools.product(*(p.values for p in params)):
                study.enqueue_trial(dict(zip((p.name for p in params), point)))
        queue = RunQueue(self.workspace)
        queue.add_sweep(record["id"])
        queue.ensure_runner()
        return record

    # --- what the queue runner calls ----------------------------------------------------------------
    def next_trial(self, sweep_id: str) -> Run | None:
        """Ask the study for the next trial and create its run (queued, not started), or None when the sweep wants
        no more (stopped, or every planned trial asked)."""
        import optuna

        from workbench.core.config import RunConfig
        from workbench.core.training.launcher import create_run

        with self.editing(sweep_id) as record:
            if record["status"] != "running" or len(record["trials"]) >= record["trials_planned"]:
                return None
            study = self.study(record, seed_offset=len(record["trials"]), sampling=True)
            trial = study.ask({p["name"]: Param.from_dict(p).distribution() for p in record["params"]})
            params = dict(trial.params)
            cfg = RunConfig.from_dict(record["config"]).updated(**params, name=f"{record['name']}-t{trial.number}")
            try:
                run = create_run(self.runs, cfg, extra={"queued": now_iso(), "sweep": {
                    "id": sweep_id, "trial": trial.number, "params": params, "metric": record["metric"]}})
            except WorkbenchError:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                raise
            record["trials"].append({"number": trial.number, "run_id": run.id, "params": params})
            return run

    def trial_ended(self, run: Run) -> None:
        """Tell the study how a trial's run ended: its value, pruned, or failed. A stopped trial stays open (the
        sweep can be resumed)."""
        import optuna

        info = run.info.get("sweep") or {}
        record = self.get(info["id"])
        study = self.study(record)
        number = int(info["trial"])
        frozen = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
        if frozen is None or frozen.state.is_finished():
            return
        status = run.status
        if status == COMPLETED and run.info.get("pruned"):
            study.tell(number, state=optuna.trial.TrialState.PRUNED)
        elif status == COMPLETED:
            value = trial_value(run, record["metric"], record["direction"])
            if value is None:
                study.tell(number, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(number, value)
        elif status in (FAILED, CRASHED):
            study.tell(number, state=optuna.trial.TrialState.FAIL)

    def finish(self, sweep_id: str) -> None:
        with self.editing(sweep_id) as record:
            if record["status"] == "running":
                record.update(status="completed", finished=now_iso())

    def mark(self, sweep_id: str, status: str, *, error: str | None = None) -> None:
        with self.editing(sweep_id) as record:
            record.update(status=status, error=error, finished=now_iso() if status != "running" else None)

    # --- what users do ------------------------------------------------------------------------------
    def stop(self, ref: str) -> dict[str, Any]:
        """No new trials; trials running now are stopped (each saves a checkpoint), waiting ones leave the queue."""
        from workbench.core.queue import RunQueue

        record = self.get(ref)
        if record["status"] != "running":
            raise WorkbenchError(f"sweep {record['name']} is not running (status: {record['status']}).")
        self.mark(record["id"], "stopped")
        queue = RunQueue(self.workspace)
        with contextlib.suppress(WorkbenchError):
            queue.remove(record["id"])
        for run in self.trial_runs(record["id"]):
            if run.status == RUNNING:
                self.runs.request_stop(run)
            elif run.status == QUEUED:
                with contextlib.suppress(WorkbenchError):
                    queue.remove(run.id)
        return self.get(record["id"])

    def resume(self, ref: str, *, more_trials: int = 0) -> dict[str, Any]:
        """Put a stopped (or completed, with ``more_trials``) sweep back in the queue: its stopped trials resume from
        their checkpoints first, then new trials follow."""
        from workbench.core.queue import RunQueue

        record = self.get(ref)
        if more_trials < 0:
            raise WorkbenchError(f"--trials must be positive, not {more_trials}.")
        if record["status"] == "running" and not more_trials:
            raise WorkbenchError(f"sweep {record['name']} is already running.")
        if record["status"] == "completed" and not more_trials:
            raise WorkbenchError(f"sweep {record['name']} has completed; extend it with `sweep extend {record['name']} --trials N`.")
        planned = record["trials_planned"] + more_trials
        if record["search"] == "grid":
            size = math.prod(len(p["values"]) for p in record["params"])
            if planned > size:
                raise WorkbenchError(f"the grid has {size} combinations and {record['trials_planned']} are planned; "
                                     f"extend it by at most {size - record['trials_planned']}.")
        with self.editing(record["id"]) as rec:
            rec.update(status="running", finished=None, error=None, trials_planned=planned)
        queue = RunQueue(self.workspace)
        for run in self.trial_runs(record["id"]):
            if run.status == STOPPED and not run.info.get("pruned"):
                with queue.editing() as state:
                    # Its old entry may still be there (the runner has not yet seen it stop): a waiting one replaces it.
                    state.entries = [e for e in state.entries if not (e["kind"] == "run" and e["id"] == run.id)]
                    state.entries.append({"kind": "run", "id": run.id, "added": now_iso(), "resume": True})
        queue.add_sweep(record["id"])
        queue.ensure_runner()
        return self.get(record["id"])

    # --- results ----------------------------------------------------------------------------------
    def results(self, ref: str, *, compare: bool = True, seed: int = 0) -> dict[str, Any]:
        """The documented JSON shape of ``sweep show --json``: the record, its trials ranked by value (completed
        first, best first; then pruned, by their last reported value; then the rest), the best trial against the
        runner-up with compare's paired test, and Optuna's parameter importance when it can be computed."""
        record = self.get(ref)
        study = self.study(record)
        frozen = {t.number: t for t in study.get_trials(deepcopy=False)}
        maximize = record["direction"] == "maximize"
        rows = []
        for trial in record["trials"]:
            try:
                run = self.runs.get(trial["run_id"])
            except WorkbenchError:
                run = None
            ft = frozen.get(trial["number"])
            rows.append(_trial_row(trial, run, ft, record))
        order = {"completed": 0, "pruned": 1}
        rows.sort(key=lambda r: (order.get(r["status"], 2),
                                 -(r["value"] if maximize else -r["value"]) if r["value"] is not None else math.inf,
                                 r["trial"]))
        for rank, row in enumerate(rows, 1):
            row["rank"] = rank if row["status"] in ("completed", "pruned") and row["value"] is not None else None
        out = {**record, "trials": rows, "asked": len(record["trials"]),
               "counts": {s: sum(r["status"] == s for r in rows) for s in
                          ("completed", "pruned", "failed", "running", "queued", "stopped")},
               "best": rows[0] if rows and rows[0]["status"] == "completed" else None,
               "importance": _importance(study), "best_vs_runner_up": None}
        done = [r for r in rows if r["status"] == "completed"]
        if compare and len(done) >= 2:
            out["best_vs_runner_up"] = self._best_vs_runner_up(done[0], done[1], seed=seed)
        return out

    def _best_vs_runner_up(self, best: dict[str, Any], second: dict[str, Any], *, seed: int) -> dict[str, Any]:
        from workbench.core.compare import compare_runs

        runs = [self.runs.get(second["run_id"]), self.runs.get(best["run_id"])]
        pair = compare_runs(runs, seed=seed).pairs[0]  # A = the runner-up, B = the best: B − A
        data = {k: v for k, v in vars(pair).items() if k not in ("a", "b")}
        return {"best": best["run_id"], "runner_up": second["run_id"], "best_trial": best["trial"],
                "runner_up_trial": second["trial"], **data}


def trial_value(run: Run, metric: str, direction: str) -> float | None:
    """A finished trial's value: the best validation score of the main metric (the checkpoint the Trainer kept), or
    the best validation loss."""
    if metric != LOSS_METRIC:
        value = (run.info.get("best_metric") or {}).get("value")
        if value is None:
            value = run.metrics.get(metric)
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
    losses = [e["loss"] for e in run.read_metrics() if e.get("kind") == "eval" and isinstance(e.get("loss"), (int, float))]
    losses = [v for v in losses if math.isfinite(v)]
    return (min(losses) if direction == "minimize" else max(losses)) if losses else None


def _trial_row(trial: dict[str, Any], run: Run | None, frozen, record: dict[str, Any]) -> dict[str, Any]:
    status = "missing" if run is None else run.status
    pruned = run is not None and run.info.get("pruned")
    if pruned and status == COMPLETED:
        status = "pruned"
    value = None
    if frozen is not None and frozen.value is not None:
        value = float(frozen.value)
    elif pruned:
        value = (run.info.get("pruned") or {}).get("value")
    elif run is not None and status == COMPLETED:
        value = trial_value(run, record["metric"], record["direction"])
    seconds = None
    if run is not None:
        start, end = parse_iso(run.info.get("started")), parse_iso(run.info.get("finished"))
        if start and end:
            seconds = round(end - start, 1)
    progress = (run.info.get("progress") or {}) if run is not None else {}
    return {"trial": trial["number"], "run_id": trial["run_id"], "name": run.name if run else None,
            "params": trial["params"], "status": status, "value": value, "seconds": seconds,
            "epoch": progress.get("epoch"), "step": progress.get("step"),
            "pruned": (run.info.get("pruned") if run is not None else None),
            "optuna_state": frozen.state.name.lower() if frozen is not None else None}


def _importance(study) -> dict[str, Any]:
    """Optuna's parameter importance (fANOVA), or why it cannot be computed yet."""
    import optuna

    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if len(done) < 2:
        return {"values": None, "reason": f"needs at least two completed trials ({len(done)} so far)."}
    try:
        values = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError, ZeroDivisionError) as exc:
        return {"values": None, "reason": str(exc).splitlines()[0][:200]}
    return {"values": {k: round(float(v), 4) for k, v in values.items()}, "reason": None}
