"""Paged, read-only previews of data files, including ones far too large to load.

A CSV of a million rows is about 100 MB: pandas needs seconds and gigabytes just to show its first
page. ``RecordIndex`` instead scans the file once for record boundaries (vectorised with numpy, so a
million rows take well under a second), keeps only one 8-byte offset per record, and reads any page by
seeking to it. The scan is quote-aware for CSV (a newline inside a quoted field does not end a
record) and pages can be served while it is still running.

Formats that cannot be split into lines (a JSON array, Parquet, a ``save_to_disk`` folder) are loaded
whole by ``TablePreview``; they are rarely large, and pyarrow/pandas read them efficiently anyway.

Nothing here imports Textual; numpy and pandas are imported only inside the functions that need them.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from array import array
from pathlib import Path
from typing import Any, Callable

from workbench.core.datasets import find_parallel_splits, find_split_files, is_saved_dataset, parallel_siblings
from workbench.core.errors import WorkbenchError
from workbench.paths import expand_user

LINE_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
TABLE_FORMATS = {".json", ".parquet", ".pq"}
CHUNK_BYTES = 4 << 20
# Parsed cells are cut to this length: a preview row is one terminal line, and huge cells cost time.
MAX_CELL_CHARS = 500


def preview_file(path: str | Path) -> Path:
    """The file a preview of ``path`` shows: the file itself, or a folder's train (else first) split file."""
    path = expand_user(path)
    if not path.exists():
        raise WorkbenchError(f"data not found: {path}")
    if path.is_file():
        return path
    if is_saved_dataset(path) or find_parallel_splits(path):
        return path  # a saved data set or a folder of parallel text: read whole (TablePreview)
    files = find_split_files(path)
    if not files:
        raise WorkbenchError(f"{path} holds no train/dev/test data files (CSV, TSV, JSON, JSONL or Parquet).")
    return files.get("train") or next(iter(files.values()))


def open_preview(path: str | Path) -> "RecordIndex | TablePreview":
    """The right previewer for a file or folder; call ``build()`` on it (in a thread) before paging far."""
    target = preview_file(path)
    if target.is_file() and target.suffix.lower() in LINE_FORMATS:
        return RecordIndex(target)
    if target.is_file() and target.suffix.lower() == ".json" and _looks_like_json_lines(target):
        return RecordIndex(target, fmt="jsonl")
    if target.is_dir() or target.suffix.lower() in TABLE_FORMATS or parallel_siblings(target):
        return TablePreview(target)
    raise WorkbenchError(
        f"{target.name}: unknown data format {target.suffix or '(no extension)'!r}; use CSV, TSV, JSON, JSONL or Parquet."
    )


def _looks_like_json_lines(path: Path) -> bool:
    """Many ``.json`` files are JSON lines: the first line is then a complete object on its own."""
    with open(path, "rb") as fh:
        first = fh.readline(1 << 20).strip()
    if not first.startswith(b"{"):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


class _Invalid(str):
    """A JSON line that does not parse: shown as a message in the row, never taken for data."""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS] + "…"


class RecordIndex:
    """Byte offsets of the records of a CSV, TSV or JSONL file.

    ``rows`` counts data rows known so far (the header line of CSV/TSV is not a row); ``done`` turns
    true when the scan has reached the end. Thread-safe for one builder and any number of readers.
    """

    def __init__(self, path: str | Path, fmt: str | None = None):
        self.path = Path(path)
        self.fmt = fmt or LINE_FORMATS[self.path.suffix.lower()]
        try:
            self.size = self.path.stat().st_size
        except OSError as exc:
            raise WorkbenchError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        if self.size == 0:
            raise WorkbenchError(f"{self.path.name} is empty.")
        self._starts = array("q", [0])
        self._lock = threading.Lock()
        self.scanned = 0
        self.done = False
        self._columns: list[str] | None = None

    # --- building ------------------------------------------------------------------------------
    def build(self, cancelled: Callable[[], bool] = lambda: False, chunk_bytes: int = CHUNK_BYTES,
              on_chunk: Callable[[], None] | None = None) -> None:
        """Scan the whole file once. Returns early (``done`` stays false) when ``cancelled()`` is true.
        ``on_chunk`` is called after each chunk, e.g. to show the first page before the scan ends."""
        import numpy as np

        quote_aware = self.fmt == "csv"
        inside = 0  # parity of quote characters seen so far: 1 while inside a quoted field
        base = 0
        with open(self.path, "rb") as fh:
            while not cancelled():
                chunk = fh.read(chunk_bytes)
                if not chunk:
                    break
                data = np.frombuffer(chunk, dtype=np.uint8)
                newlines = np.flatnonzero(data == 10)
                if quote_aware:
                    quotes = data == 34
                    if quotes.any():
                        seen = np.cumsum(quotes, dtype=np.int32)
                        newlines = newlines[((seen[newlines] + inside) & 1) == 0]
                        inside = (inside + int(seen[-1])) & 1
                starts = newlines.astype(np.int64) + (base + 1)
                with self._lock:
                    self._starts.frombytes(starts.tobytes())
                base += len(chunk)
                self.scanned = base
                if on_chunk is not None:
                    on_chunk()
        if not cancelled():
            with self._lock:
                # A file ending in a newline has no record starting at EOF; the file may also have grown.
                while len(self._starts) > 1 and self._starts[-1] >= base:
                    self._starts.pop()
                self.size = base
                self.done = True

    @property
    def progress(self) -> float:
        return 1.0 if self.done else min(1.0, self.scanned / max(1, self.size))

    @property
    def _complete_records(self) -> int:
        # While scanning, the last start may begin a record whose end is not yet known.
        with self._lock:
            return len(self._starts) if self.done else max(0, len(self._starts) - 1)

    @property
    def has_header(self) -> bool:
        return self.fmt in ("csv", "tsv")

    @property
    def rows(self) -> int:
        return max(0, self._complete_records - (1 if self.has_header else 0))

    # --- reading ---------------------------------------------------------------------------------
    def _record_bytes(self, first: int, count: int) -> bytes:
        with self._lock:
            start = self._starts[first]
            last = first + count
            end = self._starts[last] if last < len(self._starts) else None
        with open(self.path, "rb") as fh:
            fh.seek(start)
            return fh.read() if end is None else fh.read(end - start)

    def _parse(self, raw: bytes) -> list[Any]:
        text = raw.decode("utf-8", errors="replace")
        if self.fmt == "jsonl":
            out: list[Any] = []
            for line in text.splitlines():
                if not line.strip():
                    continue
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    out.append(_Invalid(f"⚠ invalid JSON: {line[:80]}"))
            return out
        if self.fmt == "tsv":  # the loader reads TSV without quoting (csv.QUOTE_NONE), so do the same
            return list(csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
        return list(csv.reader(io.StringIO(text)))

    @property
    def columns(self) -> list[str]:
        """Column names: the CSV/TSV header, or the keys of the first JSON line(s)."""
        if not self._columns:  # not cached while empty: the first chunk may not be scanned yet
            if self.has_header:
                header = self._parse(self._record_bytes(0, 1)) if self._complete_records else []
                names = header[0] if header else []
                if names and names[0].startswith("\ufeff"):
                    names[0] = names[0][1:]
                self._columns = [str(n) for n in names]
            else:
                keys: dict[str, None] = {}
                for rec in self._parse(self._record_bytes(0, min(50, max(1, self._complete_records)))):
                    if isinstance(rec, dict):
                        keys.update(dict.fromkeys(map(str, rec)))
                self._columns = list(keys)
        return self._columns

    def read_rows(self, start: int, count: int) -> list[list[str]]:
        """Data rows ``start`` … ``start + count - 1`` (fewer at the end) as lists of cell strings."""
        start = max(0, start)
        count = max(0, min(count, self.rows - start))
        if count == 0:
            return []
        offset = 1 if self.has_header else 0
        records = self._parse(self._record_bytes(start + offset, count))
        columns = self.columns
        if self.fmt == "jsonl":
            return [[_cell(r.get(c)) for c in columns] if isinstance(r, dict) else [str(r)] for r in records]
        return [[_cell(v) for v in r] for r in records]


class TablePreview:
    """A whole-table previewer for formats that cannot be indexed by lines (JSON arrays, Parquet, saved data sets)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.fmt = "dataset" if self.path.is_dir() else self.path.suffix.lower().lstrip(".")
        self._frame = None
        self.done = False

    def build(self, cancelled: Callable[[], bool] = lambda: False, on_chunk: Callable[[], None] | None = None) -> None:
        from workbench.core.datasets import read_source, read_table

        if self.path.is_dir() or parallel_siblings(self.path):
            splits = read_source(self.path)
            self._frame = splits.get("train", next(iter(splits.values())))
        else:
            self._frame = read_table(self.path)
        self.done = True

    @property
    def progress(self) -> float:
        return 1.0 if self.done else 0.0

    @property
    def rows(self) -> int:
        return 0 if self._frame is None else len(self._frame)

    @property
    def columns(self) -> list[str]:
        return [] if self._frame is None else [str(c) for c in self._frame.columns]

    def read_rows(self, start: int, count: int) -> list[list[str]]:
        if self._frame is None:
            return []
        page = self._frame.iloc[max(0, start):max(0, start) + max(0, count)]
        return [[_cell(v) for v in row] for row in page.itertuples(index=False, name=None)]
