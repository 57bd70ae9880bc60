"""The run store: one directory per run, written only by its training process, read by everyone.

Layout (see DESIGN.md)::

    runs/<run_id>/run.json  metrics.jsonl  stdout.log  checkpoints/  model/  predictions.jsonl  stop  lock

``run.json`` is replaced atomically. ``metrics.jsonl`` is append-only; readers skip a partial last line.
A run's *effective* status is derived from the stored status, the worker's pid and the heartbeat, so a
killed worker reads as ``crashed`` rather than ``running`` forever.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import math
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from workbench.core.errors import WorkbenchError, shown
from workbench.core.tasks.names import DEFAULT_TASK
from workbench.paths import Workspace

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
LOG_FILE = "stdout.log"
STOP_FILE = "stop"
LOCK_FILE = "lock"
PREDICTIONS_FILE = "predictions.jsonl"
MODEL_DIR = "model"
CHECKPOINTS_DIR = "checkpoints"
# Written (atomically, after fsyncing the files) once a checkpoint is whole; resume trusts nothing else.
CHECKPOINT_COMPLETE = ".complete"

# Statuses as stored by the worker, and the derived ones. BROKEN is never stored: a run directory whose
# run.json cannot be read (missing, torn, not JSON, fields of the wrong type) is listed with that status.
QUEUED, RUNNING, COMPLETED, STOPPED, FAILED, CRASHED = "queued", "running", "completed", "stopped", "failed", "crashed"
BROKEN = "broken"
ACTIVE = (QUEUED, RUNNING)
FINISHED = (COMPLETED, STOPPED, FAILED, CRASHED)

HEARTBEAT_INTERVAL_S = 5.0
# A worker that has not beaten for this long is dead even if its pid was reused by another process.
HEARTBEAT_STALE_S = 120.0
# A queued run whose worker never started within this time is crashed.
QUEUE_STALE_S = 180.0

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_NAME_LEN = 80


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid run name, or None. Names become directory names, so no separators."""
    if not isinstance(name, str) or not name:
        return "run name must not be empty."
    if "\x00" in name:
        return "run name must not contain a NUL character."
    if "/" in name or "\\" in name or ".." in name:
        return f"run name {name!r} must not contain '/', '\\' or '..'."
    if len(name) > MAX_NAME_LEN:
        return f"run name is {len(name)} characters long; the limit is {MAX_NAME_LEN}."
    if not _NAME_RE.match(name):
        return f"run name {name!r} may use only letters, digits, '.', '-' and '_' (and must start with a letter or digit)."
    return None


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def parse_iso(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return _dt.datetime.fromisoformat(text).timestamp()
    except (ValueError, TypeError, OverflowError, OSError):  # a torn or hand-edited time: treat as unknown
        return None


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def mark_complete(folder: Path) -> None:
    """fsync every file in ``folder``, then write the completion marker atomically."""
    for child in folder.iterdir():
        if child.is_file():
            with open(child, "rb") as fh:
                os.fsync(fh.fileno())
    atomic_write_text(folder / CHECKPOINT_COMPLETE, now_iso() + "\n")


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def pid_alive(pid: int | None) -> bool:
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: a pid beyond any the kernel hands out
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def new_run_id(slug: str) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{slug}"


def slugify(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return (slug[:limit].strip("-")) or "run"


@dataclass
class Run:
    """A view of one run directory. ``info`` is the parsed run.json."""

    path: Path
    info: dict[str, Any] = field(default_factory=dict)

    # --- identity -------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        # The directory is the id (what get() finds first); a run.json copied or edited by hand may say otherwise.
        return self.path.name

    @property
    def name(self) -> str:
        return self.info.get("name") or self.id

    @property
    def task(self) -> str:
        return self.info.get("task") or DEFAULT_TASK

    @property
    def config(self) -> dict[str, Any]:
        return self.info.get("config") or {}

    @property
    def metrics(self) -> dict[str, Any]:
        return self.info.get("metrics") or {}

    @property
    def model_dir(self) -> Path:
        return self.path / MODEL_DIR

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS_DIR

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def log_path(self) -> Path:
        return self.path / LOG_FILE

    @property
    def predictions_path(self) -> Path:
        return self.path / PREDICTIONS_FILE

    # --- status ---------------------------------------------------------------------------------
    @property
    def stored_status(self) -> str:
        return self.info.get("status") or QUEUED

    @property
    def status(self) -> str:
        """The effective status: a stored 'running' is only believed while the worker lives."""
        stored = self.stored_status
        if stored not in ACTIVE:
            return stored
        beat = parse_iso(self.info.get("heartbeat")) or parse_iso(self.info.get("created"))
        age = time.time() - beat if beat else float("inf")
        same_host = self.info.get("host") in (None, socket.gethostname())
        pid = self.info.get("pid")
        if stored == QUEUED and not pid:
            # A run waiting in the workspace's queue waits as long as it takes; one launched directly whose
            # worker never started is crashed.
            return QUEUED if self.info.get("queued") or age < QUEUE_STALE_S else CRASHED
        if same_host and not pid_alive(pid):
            return CRASHED
        if age > HEARTBEAT_STALE_S:
            return CRASHED
        return stored

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    def last_checkpoint(self) -> Path | None:
        """The newest complete checkpoint: one the worker marked whole after the Trainer finished writing it."""
        if not self.checkpoints_dir.is_dir():
            return None
        done = [
            p for p in self.checkpoints_dir.glob("checkpoint-*")
            if p.is_dir() and (p / CHECKPOINT_COMPLETE).is_file() and p.name.split("-")[-1].isdecimal()
        ]
        return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)

    def summary(self) -> dict[str, Any]:
        """The documented JSON shape of ``runs show --json``."""
        progress = self.info.get("progress") or {}
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "pid": self.info.get("pid"),
            "run_dir": str(self.path),
            "task": self.task,
            "model": self.config.get("model"),
            "created": self.info.get("created"),
            "started": self.info.get("started"),
            "finished": self.info.get("finished"),
            "heartbeat": self.info.get("heartbeat"),
            "step": progress.get("step"),
            "max_steps": progress.get("max_steps"),
            "epoch": progress.get("epoch"),
            "metrics": self.metrics,
            "best_metric": self.info.get("best_metric"),
            "error": self.info.get("error"),
            "labels": self.info.get("labels"),
            "data": self.info.get("data"),
            "config": self.config,
            # Differential privacy: the plan (target ε, δ, noise multiplier, sampling rate) and the ε spent.
            "privacy": self.info.get("privacy"),
            # Where the worker's time went: seconds per phase (training/timings.py), the worker's and launch's wall.
            "timings": self.info.get("timings"),
            "can_resume": self.status in (CRASHED, STOPPED, FAILED) and self.last_checkpoint() is not None,
        }

    # --- reading ----------------------------------------------------------------------------------
    def reload(self) -> "Run":
        self.info = read_run_json(self.path)
        return self

    def read_metrics(self) -> list[dict[str, Any]]:
        return MetricsTail(self.metrics_path).read_new()

    def read_predictions(self) -> list[dict[str, Any]]:
        if not self.predictions_path.is_file():
            return []
        return list(iter_jsonl(self.predictions_path))


def exit_problem(run: Run, returncode: int | None, since: float) -> str | None:
    """What a run's process exiting with ``returncode`` means when its status cannot say it: the process (a
    launcher such as torchrun, or the worker) failed before the worker recorded an end after ``since`` (a
    ``time.time()``). The message quotes the end of the run's log; None when there is nothing to add (a clean
    exit, a worker that recorded its end, or a status that already reads failed or crashed)."""
    if not returncode or run.status in (FAILED, CRASHED):
        return None
    finished = parse_iso(run.info.get("finished"))
    if finished is not None and finished >= since - 2:
        return None
    tail = run.log_path.read_text(errors="replace").strip().splitlines()[-5:] if run.log_path.exists() else []
    return (f"the training process exited with code {returncode} before recording a result "
            f"(status still {run.status}); end of {run.log_path}:\n  " + "\n  ".join(tail))


# run.json fields every reader relies on, with the types the worker writes (None is allowed for each).
_TEXT_FIELDS = ("id", "name", "task", "status", "created", "started", "finished", "heartbeat", "host", "error")
_MAPPING_FIELDS = ("config", "metrics", "progress", "best_metric", "data", "evaluation", "train_summary")
_PROGRESS_NUMBERS = ("step", "max_steps", "epoch", "num_epochs")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def shape_problem(info: dict[str, Any]) -> str | None:
    """Why a parsed run.json cannot be a run the worker wrote (a field of the wrong type), or None."""
    for key in _TEXT_FIELDS:
        if info.get(key) is not None and not isinstance(info[key], str):
            return f"field {key!r} is {type(info[key]).__name__}, not text"
    for key in _MAPPING_FIELDS:
        if info.get(key) is not None and not isinstance(info[key], dict):
            return f"field {key!r} is {type(info[key]).__name__}, not an object"
    pid = info.get("pid")
    if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool)):
        return f"field 'pid' is {type(pid).__name__}, not a whole number"
    if info.get("labels") is not None and not isinstance(info["labels"], list):
        return f"field 'labels' is {type(info['labels']).__name__}, not a list"
    for key in _PROGRESS_NUMBERS:
        value = (info.get("progress") or {}).get(key)
        if value is not None and not (_is_number(value) and math.isfinite(value)):
            return f"progress {key!r} is {shown(repr(value))}, not a number"
    return None


def read_run_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / RUN_FILE).read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise WorkbenchError(f"{shown(path.name)} is not a run: {RUN_FILE} is missing.") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise WorkbenchError(f"run {shown(path.name)} is corrupt: {RUN_FILE} is not valid JSON.") from None
    except OSError as exc:  # a run.json that is a folder, unreadable permissions...
        raise WorkbenchError(f"run {shown(path.name)} is unreadable: {RUN_FILE}: {exc.strerror or exc}.") from None
    if not isinstance(data, dict):
        raise WorkbenchError(f"run {shown(path.name)} is corrupt: {RUN_FILE} is not an object.")
    problem = shape_problem(data)
    if problem:
        raise WorkbenchError(f"run {shown(path.name)} is corrupt: {RUN_FILE} {problem}.")
    return data


def broken_summary(path: Path, reason: str) -> dict[str, Any]:
    """The ``runs show --json`` shape for a run directory that cannot be read: status ``broken``, the reason
    in ``error``, every other field empty."""
    keys = ("pid", "task", "model", "created", "started", "finished", "heartbeat", "step", "max_steps", "epoch",
            "best_metric", "labels", "data", "privacy")
    return {"id": path.name, "name": path.name, "status": BROKEN, "run_dir": str(path), "metrics": {}, "config": {},
            "error": reason, "can_resume": False, **{k: None for k in keys}}


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Complete, valid JSON lines of a file (a torn last line is skipped)."""
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            try:
                obj = json.loads(raw)
            except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
                continue
            if isinstance(obj, dict):
                yield obj


_SCALARS = (str, int, float, bool, type(None))


def valid_event(obj: Any) -> bool:
    """A metrics event as the worker writes it: an object of single values (numbers, text, true/false, null; the
    one exception is a system event's ``gpus``, a list of objects of single values), whose ``step``, ``epoch``
    and ``time`` (when present) are finite numbers. Anything else in metrics.jsonl is a corrupt line, skipped
    like one that is not JSON, so that no reader meets a list where a reading should be."""
    if not isinstance(obj, dict):
        return False
    for key, value in obj.items():
        if key == "gpus":
            if not (isinstance(value, list) and all(isinstance(g, dict) and all(isinstance(v, _SCALARS) for v in g.values())
                                                    for g in value)):
                return False
        elif not isinstance(value, _SCALARS):
            return False
    return all(obj.get(key) is None or (_is_number(obj[key]) and math.isfinite(obj[key])) for key in ("step", "epoch", "time"))


class MetricsTail:
    """Follows an append-only JSONL file by byte offset.

    ``read_new()`` returns the complete lines written since the last call and keeps a partial last line
    until its newline arrives. If the file is replaced (a resumed run rewrites it atomically without the
    steps it will redo, so a new inode) or shrinks, the reader starts again from 0 and sets ``reset``,
    also when the new file has already grown past the old read position.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = 0
        self._partial = b""
        self._identity: tuple[int, int] | None = None
        self.reset = False

    def read_new(self) -> list[dict[str, Any]]:
        self.reset = False
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return []
        size, identity = st.st_size, (st.st_dev, st.st_ino)
        if size < self.offset or (self._identity is not None and identity != self._identity):
            self.offset, self._partial, self.reset = 0, b"", True
        self._identity = identity
        if size == self.offset:
            return []
        with open(self.path, "rb") as fh:
            opened = os.fstat(fh.fileno())
            if (opened.st_dev, opened.st_ino) != identity:
                return []  # replaced between stat and open: the next call starts over
            fh.seek(self.offset)
            chunk = fh.read(size - self.offset)
        self.offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        events = []
        for line in lines:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
                continue
            if valid_event(obj):
                events.append(obj)
        return events


class RunStore:
    """The runs of one workspace."""

    def __init__(self, workspace: Workspace | str | os.PathLike | None = None):
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)

    @property
    def root(self) -> Path:
        return self.workspace.runs_dir

    def list(self) -> list[Run]:
        """Readable runs, newest first (ids sort by time). Unreadable directories are skipped."""
        return self.scan()[0]

    def broken(self) -> list[tuple[Path, str]]:
        """Run directories that ``list()`` skips because their run.json cannot be read, with the reason, by name."""
        return self.scan()[1]

    def scan(self) -> tuple[list[Run], list[tuple[Path, str]]]:
        """One pass over the run directories: ``(list(), broken())``, each run.json read once."""
        if not self.root.is_dir():
            return [], []
        runs, broken = [], []
        for path in sorted(self.root.iterdir()):
            if not path.is_dir() or path.name.startswith("."):
                continue
            try:
                runs.append(Run(path, read_run_json(path)))
            except WorkbenchError as exc:
                broken.append((path, str(exc)))
        runs.sort(key=lambda r: (r.info.get("created") or "", r.id), reverse=True)
        return runs, broken

    def get(self, ref: str) -> Run:
        """A run by id, unique id prefix, or name (the newest run of that name)."""
        if not ref or "/" in ref or "\x00" in ref or ref in (".", ".."):
            raise WorkbenchError(f"no run {ref!r} in {self.root}.")
        direct = self.root / ref
        if direct.is_dir():
            return Run(direct, read_run_json(direct))
        runs = self.list()
        by_name = [r for r in runs if r.name == ref]
        if by_name:
            return by_name[0]
        by_prefix = [r for r in runs if r.id.startswith(ref)]
        if len(by_prefix) == 1:
            return by_prefix[0]
        if len(by_prefix) > 1:
            raise WorkbenchError(f"{ref!r} matches {len(by_prefix)} runs; give more of the id.")
        raise WorkbenchError(f"no run {ref!r} in {self.root} (see `sft-workbench runs list`).")

    def create(self, config: dict[str, Any], *, name: str, task: str, extra: dict[str, Any] | None = None) -> Run:
        problem = name_problem(name)
        if problem:
            raise WorkbenchError(problem)
        self.workspace.ensure()
        run_id = new_run_id(slugify(name))
        path = self.root / run_id
        suffix = 1
        while path.exists():
            suffix += 1
            path = self.root / f"{run_id}-{suffix}"
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            raise WorkbenchError(f"cannot create run directory {path}: {exc.strerror or exc}.") from None
        info = {
            "id": path.name,
            "name": name,
            "task": task,
            "status": QUEUED,
            "created": now_iso(),
            "host": socket.gethostname(),
            "pid": None,
            "config": config,
            **(extra or {}),
        }
        atomic_write_json(path / RUN_FILE, info)
        return Run(path, info)

    # --- control ----------------------------------------------------------------------------------
    def request_stop(self, ref: str | Run) -> Run:
        run = ref if isinstance(ref, Run) else self.get(ref)
        if not run.is_active:
            raise WorkbenchError(f"run {run.name} is not running (status: {run.status}).")
        (run.path / STOP_FILE).write_text(now_iso() + "\n")
        return run

    def delete(self, ref: str | Run, *, force: bool = False) -> Run:
        run = ref if isinstance(ref, Run) else self.get(ref)
        if run.is_active:
            if not force:
                raise WorkbenchError(f"run {run.name} is still running; stop it first (or pass --force).")
            pid = run.info.get("pid")
            if pid and pid_alive(pid):
                try:
                    os.killpg(os.getpgid(pid), signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
        # Rename first so a half-deleted run never shows up in the list.
        trash = run.path.with_name(f".deleting-{run.path.name}")
        os.replace(run.path, trash)
        shutil.rmtree(trash, ignore_errors=True)
        return run


LOCK_WAIT_S = 5.0  # how long a new writer waits for a just-dead one's lock


class RunWriter:
    """What the worker (and only the worker) uses to write its run directory.

    Holds an exclusive ``flock`` on ``lock`` for its lifetime, so a second writer is refused.
    """

    def __init__(self, run_dir: Path):
        import fcntl

        self.path = Path(run_dir)
        self.info = read_run_json(self.path)
        self._lock_fh = open(self.path / LOCK_FILE, "a+")
        # A writer killed a moment ago may still hold the lock through a child that inherited it and is still
        # exiting (seen under load when resuming right after a SIGKILL): wait a few seconds before refusing.
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES) and time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                self._lock_fh.close()
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    raise WorkbenchError(f"run {self.path.name} is already being written by another process.") from None
                raise
        self._lock_fh.seek(0)
        self._lock_fh.truncate()
        self._lock_fh.write(f"{os.getpid()}\n")
        self._lock_fh.flush()
        self._metrics_fh = open(self.path / METRICS_FILE, "a", encoding="utf-8")
        self._write_lock = threading.Lock()
        self._last_write = 0.0
        self._beating = threading.Event()

    def update(self, **values: Any) -> None:
        with self._write_lock:
            self.info.update(values, heartbeat=now_iso())
            atomic_write_json(self.path / RUN_FILE, self.info)
            self._last_write = time.monotonic()

    def set_progress(self, **progress: Any) -> None:
        """Record progress in memory; written with the next heartbeat (at most every second here)."""
        self.info["progress"] = {**(self.info.get("progress") or {}), **progress}
        if time.monotonic() - self._last_write >= 1.0:
            self.update()

    def start_heartbeat(self) -> None:
        """Beat from a thread too, so long evaluations or data loading never look like a dead worker."""

        def beat() -> None:
            while not self._beating.wait(HEARTBEAT_INTERVAL_S):
                try:
                    self.update()
                except OSError:
                    pass

        threading.Thread(target=beat, name="heartbeat", daemon=True).start()

    def append_metrics(self, event: dict[str, Any]) -> None:
        event = {"time": round(time.time(), 3), **event}
        self._metrics_fh.write(json.dumps(event, default=float) + "\n")
        self._metrics_fh.flush()

    def truncate_metrics_after(self, step: int) -> None:
        """Drop events past ``step`` (a resume redoes them), rewriting the file atomically."""
        self._metrics_fh.close()
        path = self.path / METRICS_FILE
        kept = [e for e in iter_jsonl(path) if valid_event(e) and int(e.get("step") or 0) <= step] if path.exists() else []
        atomic_write_text(path, "".join(json.dumps(e) + "\n" for e in kept))
        self._metrics_fh = open(path, "a", encoding="utf-8")

    @property
    def stop_requested(self) -> bool:
        return (self.path / STOP_FILE).exists()

    def clear_stop(self) -> None:
        try:
            (self.path / STOP_FILE).unlink()
        except FileNotFoundError:
            pass

    def close(self) -> None:
        self._beating.set()
        self._metrics_fh.close()
        self._lock_fh.close()


class RankWriter:
    """What ranks other than 0 use under torchrun: the run's settings and its stop file, and no writes.

    It has ``RunWriter``'s interface so the training code is the same on every rank; rank 0 alone holds the
    lock and writes run.json, metrics.jsonl and the model.
    """

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir)
        self.info = read_run_json(self.path)

    def update(self, **values: Any) -> None:
        self.info.update(values)

    def set_progress(self, **progress: Any) -> None:
        pass

    def start_heartbeat(self) -> None:
        pass

    def append_metrics(self, event: dict[str, Any]) -> None:
        pass

    def truncate_metrics_after(self, step: int) -> None:
        pass

    @property
    def stop_requested(self) -> bool:
        return (self.path / STOP_FILE).exists()

    def clear_stop(self) -> None:
        pass

    def close(self) -> None:
        pass
