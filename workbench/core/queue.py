"""The run queue of one workspace: runs wait as ``queued`` in the run store, in an order kept here, and one
detached runner per workspace (``workbench.core.training.queue_runner``) starts them, one per device.

Layout, beside ``runs/``::

    queue/queue.json   {"entries": [...], "paused": false, "parallel": 1}   (replaced atomically)
    queue/.lock        flock held for every read-modify-write of queue.json (CLI, TUI and runner)
    queue/runner.lock  flock held by the runner for its whole life: at most one runner per workspace
    queue/runner.json  the runner's pid, host, start time and heartbeat (what ``queue list`` shows)
    queue/runner.log   the runner's output

An entry is ``{"kind": "run", "id": RUN_ID}`` or ``{"kind": "sweep", "id": SWEEP_ID}``; a sweep entry stands
for its trials still to come (the runner asks the sweep for one when the entry's turn comes). A started run's
entry gains ``started`` (time), ``attempts`` and ``devices``; it leaves the queue when its run has ended.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from workbench.core.errors import WorkbenchError
from workbench.core.runs import QUEUED, STOPPED, Run, RunStore, atomic_write_json, now_iso, parse_iso
from workbench.paths import Workspace

QUEUE_DIR = "queue"
QUEUE_FILE = "queue.json"
RUNNER_LOCK = "runner.lock"
RUNNER_FILE = "runner.json"
RUNNER_LOG = "runner.log"


@dataclass
class QueueState:
    entries: list[dict[str, Any]] = field(default_factory=list)
    paused: bool = False
    parallel: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"entries": self.entries, "paused": self.paused, "parallel": self.parallel}

    @classmethod
    def from_dict(cls, data: Any) -> "QueueState":
        if not isinstance(data, dict):
            return cls()
        entries = [e for e in data.get("entries") or [] if isinstance(e, dict) and e.get("kind") in ("run", "sweep")
                   and isinstance(e.get("id"), str)]
        parallel = data.get("parallel")
        return cls(entries=entries, paused=bool(data.get("paused")),
                   parallel=parallel if isinstance(parallel, int) and parallel >= 1 else 1)

    def index(self, kind: str, ident: str) -> int | None:
        return next((i for i, e in enumerate(self.entries) if e["kind"] == kind and e["id"] == ident), None)

    @property
    def waiting(self) -> list[dict[str, Any]]:
        """Entries not started yet, in the order they will start."""
        return [e for e in self.entries if not e.get("started")]

    @property
    def started(self) -> list[dict[str, Any]]:
        return [e for e in self.entries if e.get("started")]


class RunQueue:
    """The queue file of a workspace, and the runner's liveness."""

    def __init__(self, workspace: Workspace | str | os.PathLike | None = None):
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
        self.store = RunStore(self.workspace)

    @property
    def dir(self) -> Path:
        return self.workspace.root / QUEUE_DIR

    @property
    def log_path(self) -> Path:
        return self.dir / RUNNER_LOG

    # --- the file -----------------------------------------------------------------------------------
    def read(self) -> QueueState:
        try:
            return QueueState.from_dict(json.loads((self.dir / QUEUE_FILE).read_text(encoding="utf-8")))
        except FileNotFoundError:
            return QueueState()
        except (OSError, ValueError):  # a torn or hand-edited file: an empty queue, never a traceback
            return QueueState()

    @contextlib.contextmanager
    def editing(self) -> Iterator[QueueState]:
        """Read, let the caller change, write back: all under the queue's lock."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self.read()
            yield state
            atomic_write_json(self.dir / QUEUE_FILE, state.to_dict())

    # --- what users do --------------------------------------------------------------------------------
    def add_run(self, run: Run) -> int:
        """Put a created (queued) run at the end of the queue; its position among the waiting entries (1 = next)."""
        with self.editing() as state:
            if state.index("run", run.id) is None:
                state.entries.append({"kind": "run", "id": run.id, "added": now_iso()})
            return len(state.waiting)

    def add_sweep(self, sweep_id: str) -> None:
        with self.editing() as state:
            if state.index("sweep", sweep_id) is None:
                state.entries.append({"kind": "sweep", "id": sweep_id, "added": now_iso()})

    def remove(self, ref: str) -> dict[str, Any]:
        """Take a waiting run (id, prefix or name) or sweep out of the queue; a run that never started is marked
        stopped. A started run is stopped like any other (`runs stop`), not here."""
        with self.editing() as state:
            entry = self._find(state, ref)
            if entry.get("started"):
                raise WorkbenchError(f"{entry['id']} has already started; stop it with `sft-workbench runs stop {entry['id']}`.")
            state.entries.remove(entry)
            if entry["kind"] == "run":
                self._cancel(entry["id"], "taken out of the queue before it started")
            return entry

    def clear(self) -> list[dict[str, Any]]:
        """Empty the queue of everything waiting (started runs carry on)."""
        with self.editing() as state:
            removed = state.waiting
            state.entries = state.started
            for entry in removed:
                if entry["kind"] == "run":
                    self._cancel(entry["id"], "taken out of the queue before it started (queue cleared)")
            return removed

    def move(self, ref: str, position: int) -> int:
        """Move a waiting entry to ``position`` (1 = next to start) among the waiting ones; returns where it went."""
        with self.editing() as state:
            entry = self._find(state, ref)
            if entry.get("started"):
                raise WorkbenchError(f"{entry['id']} has already started; only waiting runs can be moved.")
            waiting = [e for e in state.waiting if e is not entry]
            position = max(1, min(int(position), len(waiting) + 1))
            waiting.insert(position - 1, entry)
            state.entries = state.started + waiting
            return position

    def set_paused(self, paused: bool) -> None:
        """A paused queue starts nothing new; what runs carries on."""
        with self.editing() as state:
            state.paused = paused

    def set_parallel(self, parallel: int) -> None:
        if parallel < 1:
            raise WorkbenchError(f"--parallel must be at least 1, not {parallel}.")
        with self.editing() as state:
            state.parallel = parallel

    def _find(self, state: QueueState, ref: str) -> dict[str, Any]:
        for entry in state.entries:
            if entry["id"] == ref:
                return entry
        matches = [e for e in state.entries if e["id"].startswith(ref)]
        if not matches and ref:
            try:  # a run name
                run_id = self.store.get(ref).id
                matches = [e for e in state.entries if e["kind"] == "run" and e["id"] == run_id]
            except WorkbenchError:
                pass
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise WorkbenchError(f"{ref!r} matches {len(matches)} queue entries; give more of the id.")
        raise WorkbenchError(f"{ref!r} is not in the queue (see `sft-workbench queue list`).")

    def _cancel(self, run_id: str, why: str) -> None:
        from workbench.core.runs import RunWriter

        try:
            writer = RunWriter(self.store.root / run_id)
        except WorkbenchError:
            return  # already started by a runner that got there first, or gone
        try:
            if writer.info.get("status") == QUEUED:
                writer.update(status=STOPPED, finished=now_iso(), error=why, queued=None)
        finally:
            writer.close()

    # --- reading ----------------------------------------------------------------------------------
    def positions(self) -> dict[str, int]:
        """Waiting runs by id → position (1 = next to start). A sweep's trials to come are not runs yet."""
        return {e["id"]: i for i, e in enumerate(self.read().waiting, 1) if e["kind"] == "run"}

    def runner(self) -> dict[str, Any] | None:
        """The live runner's record (pid, host, started, heartbeat), or None when no runner holds the lock."""
        if not runner_lock_held(self.dir):
            return None
        try:
            info = json.loads((self.dir / RUNNER_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {}
        return info if isinstance(info, dict) else {}

    def describe(self) -> dict[str, Any]:
        """The documented JSON shape of ``queue list --json``."""
        state = self.read()
        rows = []
        waiting = 0
        for entry in state.entries:
            row = {"kind": entry["kind"], "id": entry["id"], "position": None, "status": None, "name": None,
                   "attempts": entry.get("attempts", 0), "devices": entry.get("devices")}
            if not entry.get("started"):
                waiting += 1
                row["position"] = waiting
            if entry["kind"] == "run":
                try:
                    run = self.store.get(entry["id"])
                    row.update(status=run.status, name=run.name)
                except WorkbenchError:
                    row["status"] = "missing"
            else:
                row.update(status="sweep", name=entry["id"])
            rows.append(row)
        runner = self.runner()
        return {"paused": state.paused, "parallel": state.parallel, "entries": rows,
                "runner": {"pid": runner.get("pid"), "started": runner.get("started"),
                           "heartbeat": runner.get("heartbeat")} if runner is not None else None}

    # --- the runner ------------------------------------------------------------------------------------
    def ensure_runner(self) -> int | None:
        """Start a detached runner unless one runs or there is nothing to do; its pid, or None when none was started.

        Two processes may both start one: the runner lock lets exactly one of them go on (the other exits at once).
        """
        state = self.read()
        if not state.entries or runner_lock_held(self.dir):
            return None
        self.dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "workbench.core.training.queue_runner", str(self.workspace.root)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=str(self.workspace.root), env=env, close_fds=True)
        return proc.pid


def stop_run(store: RunStore, ref: str | Run) -> tuple[Run, bool]:
    """What `runs stop` (and the screens' stop keys) do: a run waiting in the queue leaves it, marked stopped, and
    never starts; any other active run is asked to stop (it saves a checkpoint). Returns the run and whether it was
    taken out of the queue."""
    run = ref if isinstance(ref, Run) else store.get(ref)
    if run.status == QUEUED and run.info.get("queued") and not run.info.get("pid"):
        RunQueue(store.workspace).remove(run.id)
        return store.get(run.id), True
    return store.request_stop(run), False


def runner_lock_held(queue_dir: Path) -> bool:
    """Whether a runner holds ``runner.lock`` (a flock dies with its process: no stale lock after a crash)."""
    path = queue_dir / RUNNER_LOCK
    if not path.exists():
        return False
    try:
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    return True
                raise
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def acquire_runner_lock(queue_dir: Path):
    """The runner lock's open file (keep it open for the runner's life), or None when another runner holds it."""
    queue_dir.mkdir(parents=True, exist_ok=True)
    fh = open(queue_dir / RUNNER_LOCK, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        fh.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return None
        raise
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


def entry_age(entry: dict[str, Any]) -> float:
    started = parse_iso(entry.get("started"))
    return time.time() - started if started else float("inf")
