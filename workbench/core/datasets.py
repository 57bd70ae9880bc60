"""Data set files: read files or folders of any supported format into DataFrames per split; knows no task.

A *source* is a file (CSV, TSV, JSON, JSONL, Parquet) or a folder. A folder is either a
``save_to_disk`` data set or holds split files named ``train.*``, ``dev.*``/``validation.*``/``valid.*``/
``val.*`` and ``test.*``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from workbench.core.errors import WorkbenchError, first_line, shown
from workbench.paths import expand_user


FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


# CoNLL-style column files (token … tag per line) for token classification; conll2003 ships them as .txt.
FORMATS.update({".conll": "conll", ".iob": "conll", ".bio": "conll", ".txt": "conll"})


SPLIT_ALIASES = {
    "train": ("train", "training"),
    "dev": ("dev", "validation", "valid", "val", "eval"),
    "test": ("test", "testing"),
}


@dataclass
class Schema:
    task: str
    text_column: str
    label_column: str
    labels: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "text_column": self.text_column, "label_column": self.label_column, "labels": self.labels}


@dataclass
class LoadedData:
    """Splits as 🤗 Datasets with normalised ``text`` (str) and ``label`` (str) columns."""

    splits: dict[str, Any]
    schema: Schema
    sources: dict[str, str] = field(default_factory=dict)
    eval_split_origin: str = "file"  # "file" or "held-out from train"
    # Rows left out because they cannot be used (see BadRows), per split of this object ("train", "dev"); a dev
    # split held out of train has none of its own (train's skipped rows were dropped before the split).
    skipped: dict[str, "SkippedRows"] = field(default_factory=dict)
    # Source/target data for causal-LM SFT: "summarisation" or "translation", the language pair (source, target)
    # when known, and the instruction each source was given.
    kind: str | None = None
    languages: tuple[str, str] | None = None
    instruction: str | None = None

    def __post_init__(self) -> None:
        self.skipped = {split: record for split, record in self.skipped.items() if record is not None}

    @property
    def train(self):
        return self.splits["train"]

    @property
    def eval(self):
        return self.splits.get("dev")

    def fingerprint(self, split: str) -> str:
        ds = self.splits[split]
        if set(ds.column_names) == {"text", "label"}:
            return fingerprint_rows(ds["text"], ds["label"])
        # Other tasks (token lists, chat messages): a canonical JSON line per row.
        h = hashlib.sha256()
        for row in ds:
            h.update(json.dumps(row, ensure_ascii=False, sort_keys=True).encode("utf-8", "surrogatepass"))
            h.update(b"\x1e")
        return h.hexdigest()[:16]

    def skipped_record(self, split: str) -> dict[str, Any] | None:
        """What run.json records under ``data.<split>.skipped``: the skipped rows of ``split``, or None."""
        record = self.skipped.get(split)
        return record.to_dict() if record is not None else None

    def skip_notes(self) -> list[str]:
        """One line per split with skipped rows ("skipped 2 of 2,017 rows in train (rows 415, 1630: …)")."""
        return [record.note for record in self.skipped.values() if record is not None]


# --------------------------------------------------------------------------------------- bad rows
# The one rule every task applies to rows that cannot be used (an empty label or output, a ragged sentence, an
# answer not in its passage): they are skipped, and counted, when they are at most SKIP_FRACTION of the split
# they are in; more, and the data set is refused with the first of them named. Strict loading refuses any.
# The bound is a fraction, not also an absolute cap: what a few bad rows cost a fine-tune is their share of
# the data, and every skip is printed and recorded with its count, so a large set is not quietly thinned.
SKIP_FRACTION = 0.01
SHOWN_ROWS = 5          # rows named in a note or an error
RECORDED_ROWS = 100     # row numbers kept in run.json and `datasets inspect --json` (the count is always whole)


@dataclass
class SkippedRows:
    """The rows of one split that were skipped: how many of how many, the first row numbers, why."""

    split: str
    total: int
    count: int
    rows: list[Any]                  # the first RECORDED_ROWS locations (1-based data-row numbers, or labels)
    reasons: dict[str, int]          # reason → rows
    note: str                        # the line training and `datasets inspect` print

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "of": self.total, "rows": list(self.rows), "reasons": dict(self.reasons),
                "note": self.note}


def _rows_text(locations: list[Any]) -> str:
    """``row 7`` / ``rows 3, 9`` for data-row numbers; other locations (``question q1 (article 2, …)``) as given."""
    # No thousands separators in row numbers: "rows 415, 1630" would read as three rows with them.
    if all(isinstance(where, int) for where in locations):
        return ("row " if len(locations) == 1 else "rows ") + ", ".join(map(str, locations))
    return ", ".join(f"row {where}" if isinstance(where, int) else str(where) for where in locations)


class BadRows:
    """Collects the rows of one split that cannot be used, then applies the shared rule (:meth:`settle`).

    ``where`` is the row as a user finds it in the file: the 1-based data-row number (the first row after a
    CSV's header is row 1; a JSON list's first object and a JSON-lines file's first line are row 1), or for
    nested formats a label such as ``question 5733be28 (article 3, paragraph 2)``. ``unit`` names the rows in
    messages ("rows", "questions").
    """

    def __init__(self, source: str, split: str, *, unit: str = "rows"):
        self.source, self.split, self.unit = source, split, unit
        self.bad: list[tuple[Any, str]] = []

    def __len__(self) -> int:
        return len(self.bad)

    def add(self, where: Any, reason: str) -> None:
        self.bad.append((where, reason))

    def _described(self) -> str:
        """The first SHOWN_ROWS bad rows grouped by reason: ``rows 415, 1630: the output is empty; row 9: …``."""
        groups: dict[str, list[Any]] = {}
        for where, reason in self.bad[:SHOWN_ROWS]:
            groups.setdefault(reason, []).append(where)
        text = "; ".join(f"{_rows_text(locations)}: {reason}" for reason, locations in groups.items())
        more = len(self.bad) - SHOWN_ROWS
        return text + (f"; and {more:,} more" if more > 0 else "")

    def settle(self, total: int, *, strict: bool = False) -> SkippedRows | None:
        """None when every one of the split's ``total`` rows can be used; the record of the skipped rows when
        they are at most :data:`SKIP_FRACTION` of them; otherwise (or with ``strict``, for any) one
        WorkbenchError naming the first of them."""
        count = len(self.bad)
        if not count:
            return None
        them = "it" if count == 1 else "them"
        head = (f"{self.source}: {count:,} of {total:,} {self.unit} in {self.split} cannot be used "
                f"({self._described()})")
        if strict:
            raise WorkbenchError(f"{head}, and strict data checking (--strict) skips none: fix or remove {them}.")
        limit = int(total * SKIP_FRACTION + 1e-9)
        if count > limit:
            raise WorkbenchError(f"{head}; at most {SKIP_FRACTION:.0%} of a split is skipped ({limit:,} {self.unit} "
                                 f"here): fix or remove {them}.")
        reasons: dict[str, int] = {}
        for _, reason in self.bad:
            reasons[reason] = reasons.get(reason, 0) + 1
        note = f"skipped {count:,} of {total:,} {self.unit} in {self.split} ({self._described()})"
        return SkippedRows(self.split, total, count, [where for where, _ in self.bad[:RECORDED_ROWS]], reasons, note)


# --------------------------------------------------------------------------------------- files
def detect_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise WorkbenchError(
            f"{path.name}: unknown data format {path.suffix or '(no extension)'!r}; use CSV, TSV, JSON, JSONL or Parquet."
        )
    return fmt


def is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and any((path / n).is_file() for n in ("dataset_dict.json", "dataset_info.json", "state.json"))


def find_split_files(folder: Path) -> dict[str, Path]:
    """Map split name → file for a folder of split files."""
    found: dict[str, Path] = {}
    for child in sorted(folder.iterdir()):
        if not child.is_file() or child.suffix.lower() not in FORMATS:
            continue
        stem = child.stem.lower()
        for split, aliases in SPLIT_ALIASES.items():
            if stem in aliases or any(stem.startswith(a + "_") or stem.startswith(a + "-") or stem.endswith("_" + a) or stem.endswith("-" + a) for a in aliases):
                if split in found:
                    raise WorkbenchError(f"{folder}: both {found[split].name} and {child.name} look like the {split} split.")
                found[split] = child
                break
    return {split: found[split] for split in SPLIT_ALIASES if split in found}


def _check_readable(path: Path) -> None:
    try:
        if not path.exists():
            raise WorkbenchError(f"data not found: {shown(path, 200)}")
        is_file = path.is_file()
        if is_file:
            if path.stat().st_size == 0:
                raise WorkbenchError(f"{path.name} is empty.")
            with open(path, "rb") as fh:
                head = fh.read(8192)
    except ValueError:  # a NUL character in the path
        raise WorkbenchError(f"data not found: {shown(path, 200)} (the path contains a NUL character).") from None
    except OSError as exc:  # a name too long, a folder without permission...
        raise WorkbenchError(f"cannot read data {shown(path, 200)}: {exc.strerror or first_line(exc)}.") from None
    if is_file and path.suffix.lower() not in (".parquet", ".pq"):
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise WorkbenchError(f"{path.name} is UTF-16 text; re-save it as UTF-8.")
        if b"\x00" in head:
            raise WorkbenchError(f"{path.name} looks like a binary file, not {detect_format(path).upper()} text.")


def read_table(path: Path):
    """Read one file into a pandas DataFrame with clear errors for malformed input."""
    import pandas as pd

    path = Path(path)
    _check_readable(path)
    fmt = detect_format(path)
    try:
        if fmt in ("csv", "tsv"):
            import warnings

            with warnings.catch_warnings():
                # A row with more fields than the header would silently drop data: make it an error.
                warnings.simplefilter("error", pd.errors.ParserWarning)
                df = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", dtype=str, keep_default_na=False,
                                 encoding="utf-8-sig", quoting=3 if fmt == "tsv" else 0, index_col=False)
        elif fmt == "jsonl":
            df = pd.read_json(path, lines=True, dtype=False, encoding="utf-8-sig")
        elif fmt == "json":
            text = path.read_text(encoding="utf-8-sig")
            try:
                obj = json.loads(text)
            except json.JSONDecodeError:
                # Many ".json" files are really JSON lines.
                df = pd.read_json(path, lines=True, dtype=False, encoding="utf-8-sig")
            else:
                if isinstance(obj, dict):
                    obj = next((v for v in obj.values() if isinstance(v, list)), None) if "data" not in obj else obj["data"]
                if not isinstance(obj, list) or not all(isinstance(r, dict) for r in obj):
                    raise WorkbenchError(f"{path.name}: expected a JSON list of objects (one per example).")
                df = pd.DataFrame.from_records(obj)
        elif fmt == "conll":
            df = read_conll(path)
        else:
            df = pd.read_parquet(path)
    except WorkbenchError:
        raise
    except UnicodeDecodeError as exc:
        raise WorkbenchError(f"{path.name} is not UTF-8 text (bad byte at position {exc.start}); re-save it as UTF-8.") from None
    except pd.errors.EmptyDataError:
        raise WorkbenchError(f"{path.name} has no rows.") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        detail = shown((str(exc).strip().splitlines() or [type(exc).__name__])[-1], 200)
        raise WorkbenchError(f"{path.name} is not well-formed {fmt.upper()}: {detail}") from None
    except ValueError as exc:
        raise WorkbenchError(f"{path.name} is not well-formed {fmt.upper()}: {first_line(exc)}") from None
    except Exception as exc:  # pyarrow errors on broken parquet and the like
        raise WorkbenchError(f"cannot read {path.name} as {fmt.upper()}: {first_line(exc)}") from None
    df.columns = [str(c) for c in df.columns]
    if len(df) == 0:
        raise WorkbenchError(f"{path.name} has no rows.")
    return df


# Parallel text (translation): one sentence a line, a file per language, named <split>.<language code>.
LANGUAGE_CODES = frozenset({"ar", "bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "he", "hi", "hu", "id",
                            "it", "ja", "ko", "lt", "lv", "nl", "no", "pl", "pt", "ro", "ru", "sk", "sl", "sv", "th",
                            "tr", "uk", "vi", "zh"})


def parallel_siblings(path: Path) -> list[Path]:
    """The files of one parallel corpus a file belongs to: ``train.en`` → [train.de, train.en] (sorted), or []
    when ``path`` is not a ``<name>.<language code>`` file with at least one sibling in another language."""
    lang = path.suffix.lower().lstrip(".")
    if lang not in LANGUAGE_CODES or not path.is_file():
        return []
    found = sorted(p for p in path.parent.glob(f"{glob_escape(path.stem)}.*")
                   if p.is_file() and p.suffix.lower().lstrip(".") in LANGUAGE_CODES)
    return found if len(found) >= 2 else []


def glob_escape(text: str) -> str:
    import glob

    return glob.escape(text)


def read_parallel(files: list[Path]):
    """Aligned parallel text files as a DataFrame with one column per language (named by the file suffix). The
    files must have the same number of lines; an error names each count otherwise."""
    import pandas as pd

    columns: dict[str, list[str]] = {}
    for path in files:
        _check_readable(path)
        try:
            with open(path, encoding="utf-8-sig") as fh:
                columns[path.suffix.lower().lstrip(".")] = fh.read().splitlines()
        except UnicodeDecodeError:
            raise WorkbenchError(f"{path.name} is not UTF-8 text.") from None
    counts = {f.name: len(columns[f.suffix.lower().lstrip(".")]) for f in files}
    if len(set(counts.values())) > 1:
        raise WorkbenchError("parallel files must have one sentence a line and the same number of lines: "
                             + ", ".join(f"{name} has {n:,}" for name, n in counts.items()) + ".")
    return pd.DataFrame(columns)


def find_parallel_splits(folder: Path) -> dict[str, list[Path]]:
    """A folder of parallel text (``train.en`` + ``train.de``, ``dev.*``/``val.*``, ``test.*``): split → files."""
    out: dict[str, list[Path]] = {}
    for child in sorted(folder.iterdir()):
        siblings = parallel_siblings(child)
        if not siblings:
            continue
        stem = child.stem.lower()
        split = next((s for s, aliases in SPLIT_ALIASES.items() if stem in aliases), None)
        if split is not None:
            out.setdefault(split, siblings)
    return {split: out[split] for split in SPLIT_ALIASES if split in out}


def read_source(path: str | Path) -> dict[str, Any]:
    """Read a source into ``{split: DataFrame}`` (a lone file is the ``train`` split; a parallel text file reads
    with its siblings in the other languages)."""
    path = expand_user(path)
    _check_readable(path)
    if path.is_file():
        siblings = parallel_siblings(path)
        if siblings:
            return {"train": read_parallel(siblings)}
        return {"train": read_table(path)}
    if is_saved_dataset(path):
        from datasets import DatasetDict, load_from_disk

        try:
            ds = load_from_disk(str(path))
        except Exception as exc:
            raise WorkbenchError(f"cannot load saved data set {path}: {first_line(exc)}") from None
        if not isinstance(ds, DatasetDict):
            return {"train": ds.to_pandas()}
        out = {}
        for name, split in ds.items():
            canon = next((s for s, aliases in SPLIT_ALIASES.items() if name.lower() in aliases), name)
            out[canon] = split.to_pandas()
        return out
    parallel = find_parallel_splits(path)
    if parallel:
        return {split: read_parallel(files) for split, files in parallel.items()}
    files = find_split_files(path)
    if not files:
        raise WorkbenchError(f"{path} holds no train/dev/test data files (CSV, TSV, JSON, JSONL or Parquet).")
    return {split: read_table(f) for split, f in files.items()}


DOCSTART = "-DOCSTART-"


IOB_TAG_RE = re.compile(r"^(O|[BI]-\S+)$")


def read_conll(path: str | Path):
    """A CoNLL column file (``token … tag`` per line, blank line between sentences) as a DataFrame with
    ``tokens`` and ``tags`` list columns. ``-DOCSTART-`` lines are skipped; the last column is the tag."""
    import pandas as pd

    path = Path(path)
    sentences: list[tuple[list[str], list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    width = None
    try:
        with open(path, encoding="utf-8-sig") as fh:  # a UTF-8 BOM is not part of the first token
            for lineno, line in enumerate(fh, 1):
                fields = line.split()
                if not fields:
                    if tokens:
                        sentences.append((tokens, tags))
                        tokens, tags = [], []
                    continue
                if fields[0] == DOCSTART:
                    continue
                if len(fields) < 2:
                    raise WorkbenchError(f"{path.name} line {lineno}: {fields[0]!r} has no tag; each line needs a token and a tag column.")
                if width is None:
                    width = len(fields)
                elif len(fields) != width:
                    raise WorkbenchError(f"{path.name} line {lineno} has {len(fields)} columns, the lines before it {width}.")
                if not IOB_TAG_RE.match(fields[-1]):
                    raise WorkbenchError(f"{path.name} line {lineno}: {fields[-1]!r} is not an IOB tag (O, B-TYPE or I-TYPE).")
                tokens.append(fields[0])
                tags.append(fields[-1])
    except UnicodeDecodeError as exc:
        raise WorkbenchError(f"{path.name} is not UTF-8 text (bad byte at position {exc.start}); re-save it as UTF-8.") from None
    if tokens:
        sentences.append((tokens, tags))
    if not sentences:
        raise WorkbenchError(f"{path.name} has no sentences.")
    return pd.DataFrame({"tokens": [s[0] for s in sentences], "tags": [s[1] for s in sentences]})


# --------------------------------------------------------------------------------------- schema
def suggest(name: str, columns: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, columns, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def fingerprint_rows(texts: Sequence[str], labels: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t, y in zip(texts, labels):
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
        h.update(str(y).encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------- inspect
def percentiles(values: Sequence[int]) -> dict[str, float]:
    import numpy as np

    if not len(values):
        return {}
    arr = np.asarray(values)
    out = {f"p{p}": float(np.percentile(arr, p)) for p in (50, 90, 95, 99)}
    out.update(mean=float(arr.mean()), max=int(arr.max()), min=int(arr.min()))
    return out


def inspect_tokenizer(model: str, task: str | None = None):
    """The tokenizer for token-length statistics (``default``: the task's embedded model), and its display name."""
    from transformers import AutoTokenizer

    from workbench.core.models import resolve_model

    resolved = resolve_model(model, task)
    return AutoTokenizer.from_pretrained(resolved.path), resolved.display_name
