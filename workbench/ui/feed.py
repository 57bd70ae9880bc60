"""Following one run directory from a thread: new metric events, run.json changes and stdout.log lines.

The UI reads runs only through the run store's files (see DESIGN.md). ``RunFeed.poll()`` does the
blocking reads and returns plain data; the Monitor calls it from a thread worker and hands the result
to the UI thread in a message. No Textual here, so it is unit-tested directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.runs import LOG_FILE, METRICS_FILE, RUN_FILE, MetricsTail, Run, read_run_json

# On attach, show only the end of a long log; the whole file is a key press away in a pager.
LOG_INITIAL_BYTES = 32 * 1024


@dataclass
class FeedUpdate:
    events: list[dict[str, Any]] = field(default_factory=list)
    reset: bool = False              # metrics.jsonl was rewritten (a resume): rebuild from ``events``
    info: dict[str, Any] | None = None  # run.json, when it changed since the last poll
    status: str | None = None        # the effective status (may change without run.json changing)
    log_lines: list[str] = field(default_factory=list)
    log_reset: bool = False
    vanished: bool = False           # the run directory is gone
    problem: str | None = None       # run.json unreadable (e.g. corrupt); shown in place

    @property
    def empty(self) -> bool:
        return not (self.events or self.reset or self.info is not None or self.log_lines or self.log_reset
                    or self.vanished or self.problem)


class TextTail:
    """Complete new lines of a growing text file, by byte offset (starting near the end of a big file)."""

    def __init__(self, path: Path, initial_bytes: int = LOG_INITIAL_BYTES):
        self.path = path
        self.offset: int | None = None
        self.initial_bytes = initial_bytes
        self._partial = b""
        self._inode: int | None = None
        self._skip_partial_first = False

    def read_new(self) -> tuple[list[str], bool]:
        """(new lines, whether the file was replaced or truncated since the last call)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return [], False
        reset = False
        if self.offset is None:
            self.offset = max(0, st.st_size - self.initial_bytes)
            self._skip_partial_first = self.offset > 0
        elif st.st_ino != self._inode or st.st_size < self.offset:
            self.offset, self._partial, reset = 0, b"", True
            self._skip_partial_first = False
        self._inode = st.st_ino
        if st.st_size == self.offset:
            return [], reset
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read(st.st_size - self.offset)
        self.offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        if self._skip_partial_first and lines:
            lines = lines[1:]  # started mid-file: the first line is a fragment
        self._skip_partial_first = False
        # Progress bars redraw a line with carriage returns; what a terminal would show is the last part.
        return [ln.decode("utf-8", errors="replace").rstrip("\r").rsplit("\r", 1)[-1] for ln in lines], reset


class RunFeed:
    """Polls one run directory. Not thread-safe: one thread owns it."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir)
        self.metrics = MetricsTail(self.path / METRICS_FILE)
        self.log = TextTail(self.path / LOG_FILE)
        self._metrics_inode: int | None = None
        self._info_stamp: tuple[int, int] | None = None
        self.info: dict[str, Any] = {}

    def _metrics_replaced(self) -> bool:
        """The worker rewrites metrics.jsonl atomically on resume (a new inode). MetricsTail notices only
        a file that shrank, which misses a rewrite that has already grown past the old offset."""
        try:
            inode = os.stat(self.path / METRICS_FILE).st_ino
        except FileNotFoundError:
            return False
        replaced = self._metrics_inode is not None and inode != self._metrics_inode
        self._metrics_inode = inode
        return replaced

    def poll(self) -> FeedUpdate:
        update = FeedUpdate()
        if not self.path.is_dir():
            update.vanished = True
            return update
        try:
            st = os.stat(self.path / RUN_FILE)
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp != self._info_stamp:
                self.info = read_run_json(self.path)
                self._info_stamp = stamp
                update.info = self.info
        except FileNotFoundError:
            if not self.path.is_dir():
                update.vanished = True
                return update
            update.problem = f"{RUN_FILE} is missing from {self.path.name}."
        except WorkbenchError as exc:
            update.problem = str(exc)
        if self._metrics_replaced():
            self.metrics = MetricsTail(self.path / METRICS_FILE)
            update.reset = True
        update.events = self.metrics.read_new()
        update.reset = update.reset or self.metrics.reset
        update.log_lines, update.log_reset = self.log.read_new()
        if self.info:
            update.status = Run(self.path, self.info).status
        return update
