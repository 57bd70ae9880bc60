"""Data sets: load files or folders into 🤗 ``datasets``, infer the schema and task, check health.

A *source* is a file (CSV, TSV, JSON, JSONL, Parquet) or a folder. A folder is either a
``save_to_disk`` data set or holds split files named ``train.*``, ``dev.*``/``validation.*``/``valid.*``/
``val.*`` and ``test.*``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from workbench.core.errors import WorkbenchError, first_line, shown, shown_list
from workbench.paths import expand_user

FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
# CoNLL-style column files (token … tag per line) for token classification; conll2003 ships them as .txt.
FORMATS.update({".conll": "conll", ".iob": "conll", ".bio": "conll", ".txt": "conll"})
SPLIT_ALIASES = {
    "train": ("train", "training"),
    "dev": ("dev", "validation", "valid", "val", "eval"),
    "test": ("test", "testing"),
}
TEXT_NAMES = ("text", "sentence", "sentence1", "content", "review", "document", "input", "query", "utterance", "comment", "tweet", "body")
LABEL_NAMES = ("label", "labels", "class", "category", "target", "sentiment", "intent", "topic", "y")
MAX_LABELS = 200


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
            from workbench.core.tasks.token_classification import read_conll

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


def read_source(path: str | Path) -> dict[str, Any]:
    """Read a source into ``{split: DataFrame}`` (a lone file is the ``train`` split)."""
    path = expand_user(path)
    _check_readable(path)
    if path.is_file():
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
    files = find_split_files(path)
    if not files:
        raise WorkbenchError(f"{path} holds no train/dev/test data files (CSV, TSV, JSON, JSONL or Parquet).")
    return {split: read_table(f) for split, f in files.items()}


# --------------------------------------------------------------------------------------- schema
def _suggest(name: str, columns: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, columns, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def infer_task(columns: Sequence[str]) -> str:
    cols = {c.lower() for c in columns}
    if "tokens" in cols and cols & {"tags", "ner_tags", "labels"}:
        return "token-classification"
    if "messages" in cols or {"instruction", "output"} <= cols:
        return "causal-lm-sft"
    return "text-classification"


def _is_text_series(series) -> bool:
    sample = series.head(200)
    return len(sample) > 0 and all(isinstance(v, str) for v in sample)


def infer_schema(df, text_column: str | None = None, label_column: str | None = None, task: str = "auto",
                 *, source: str | None = None) -> Schema:
    """The text and label columns of a classification table. ``source`` (the file or folder the table came from)
    starts every error message, so the user knows which file is meant."""
    try:
        return _infer_schema(df, text_column, label_column, task)
    except WorkbenchError as exc:
        if source is None:
            raise
        raise WorkbenchError(f"{source}: {exc}") from None


def _infer_schema(df, text_column: str | None, label_column: str | None, task: str) -> Schema:
    columns = list(df.columns)
    inferred_task = infer_task(columns) if task in (None, "auto") else task
    if inferred_task != "text-classification":
        raise WorkbenchError(
            f"this data looks like {inferred_task} (columns: {shown_list(columns)}); only text-classification is supported so far."
        )
    for given, what in ((text_column, "text"), (label_column, "label")):
        if given is not None and given not in columns:
            raise WorkbenchError(f"{what} column {given!r} not found; columns are: {shown_list(columns)}{_suggest(given, columns)}.")
    if text_column and label_column and text_column == label_column:
        raise WorkbenchError("the text column and the label column must differ.")

    lower = {c.lower(): c for c in columns}
    if text_column is None:
        named = [lower[n] for n in TEXT_NAMES if n in lower and lower[n] != label_column and _is_text_series(df[lower[n]])]
        if named:
            text_column = named[0]
        else:
            candidates = [c for c in columns if c != label_column and _is_text_series(df[c])]
            if label_column is None:
                candidates = [c for c in candidates if c.lower() not in LABEL_NAMES]
            if not candidates:
                raise WorkbenchError(f"no text column found among {shown_list(columns)}; pass --text-column.")
            lengths = {c: df[c].head(2000).str.len().mean() for c in candidates}
            ranked = sorted(candidates, key=lambda c: lengths[c], reverse=True)
            if len(ranked) > 1 and lengths[ranked[1]] > 0.8 * lengths[ranked[0]] and lengths[ranked[1]] > 15:
                raise WorkbenchError(
                    f"the text column is ambiguous ({ranked[0]!r} or {ranked[1]!r}); pass --text-column."
                )
            text_column = ranked[0]

    if label_column is None:
        named = [lower[n] for n in LABEL_NAMES if n in lower and lower[n] != text_column]
        if named:
            label_column = named[0]
        else:
            n = len(df)
            candidates = []
            for c in columns:
                if c == text_column:
                    continue
                try:
                    unique = df[c].astype(str).nunique()
                except TypeError:
                    continue
                if 2 <= unique <= MAX_LABELS and unique <= max(2, n // 2):
                    candidates.append((unique, c))
            if not candidates:
                raise WorkbenchError(f"no label column found among {shown_list(columns)}; pass --label-column.")
            candidates.sort()
            if len(candidates) > 1 and candidates[0][0] == candidates[1][0]:
                raise WorkbenchError(
                    f"the label column is ambiguous ({candidates[0][1]!r} or {candidates[1][1]!r}); pass --label-column."
                )
            label_column = candidates[0][1]
    return Schema("text-classification", text_column, label_column, [])


def _label_text(value: Any) -> str | None:
    """Labels are compared as text; floats that are whole numbers become ints ("1.0" → "1")."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        if value.is_integer():
            value = int(value)
    if isinstance(value, (list, dict)):
        raise WorkbenchError("label values must be single values, not lists or objects.")
    text = str(value).strip()
    return text or None


def sort_labels(labels) -> list[str]:
    labels = list(labels)
    try:
        return [str(x) for x in sorted(labels, key=lambda v: float(v))]
    except ValueError:
        return sorted(labels)


def normalise(df, schema: Schema, *, split: str, source: str):
    """``text``/``label`` columns as strings; rows with an empty label are an error, not silently dropped."""
    import pandas as pd

    for col in (schema.text_column, schema.label_column):
        if col not in df.columns:
            raise WorkbenchError(f"{source} ({split}) has no column {col!r}; columns are: {shown_list(map(str, df.columns))}{_suggest(col, list(map(str, df.columns)))}.")
    texts = df[schema.text_column]
    if not all(isinstance(v, str) or v is None or (isinstance(v, float) and v != v) for v in texts):
        texts = texts.map(lambda v: v if isinstance(v, str) else ("" if v is None or (isinstance(v, float) and v != v) else str(v)))
    else:
        texts = texts.fillna("")
    try:
        labels = df[schema.label_column].map(_label_text)
    except WorkbenchError as exc:
        bad = next(i for i, v in enumerate(df[schema.label_column]) if isinstance(v, (list, dict)))
        raise WorkbenchError(f"{source} ({split}) row {bad + 1}: {exc}") from None
    missing = int(labels.isna().sum())
    if missing:
        first = int(labels.isna().to_numpy().nonzero()[0][0])
        raise WorkbenchError(
            f"{source} ({split}): {missing} row(s) have an empty or NaN label in column {schema.label_column!r} (first at row {first + 1})."
        )
    numeric = labels.map(_is_number)
    if numeric.any() and not numeric.all():
        examples = [labels[numeric].iloc[0], labels[~numeric].iloc[0]]
        raise WorkbenchError(
            f"{source} ({split}): column {schema.label_column!r} mixes numeric and text labels "
            f"(e.g. {examples[0]!r} and {examples[1]!r}); use one kind."
        )
    return pd.DataFrame({"text": texts.astype(str).tolist(), "label": labels.astype(str).tolist()})


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def fingerprint_rows(texts: Sequence[str], labels: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t, y in zip(texts, labels):
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
        h.update(str(y).encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()[:16]


# A held-out dev split needs, of every class, one example to train on and one to evaluate on.
MIN_PER_CLASS = 2


def check_splittable(df, source: str) -> None:
    """One clear error, saying what is needed, when ``df`` (normalised) is too small to hold a stratified dev
    split out of it: at least two classes, and :data:`MIN_PER_CLASS` examples of each."""
    counts = df["label"].value_counts()
    if len(counts) == 0:
        raise WorkbenchError(f"{source}: no training rows.")
    if len(counts) == 1:
        raise WorkbenchError(
            f"{source}: the training data has a single class ({shown(counts.index[0])!r}, {len(df)} row(s)); "
            f"classification needs at least two, and holding out a dev split needs {MIN_PER_CLASS} examples of "
            f"each ({2 * MIN_PER_CLASS} rows at least).")
    rare = [label for label, n in counts.items() if n < MIN_PER_CLASS]
    if rare:
        raise WorkbenchError(
            f"{source}: {len(rare)} of {len(counts)} classes have a single example ({shown_list(sort_labels(rare), 5)}); "
            f"holding out a stratified dev split needs at least {MIN_PER_CLASS} examples per class "
            f"({MIN_PER_CLASS * len(counts)} rows at least here): add examples, or give evaluation data (--eval-data).")


def stratified_split(df, fraction: float, seed: int, *, source: str = "data"):
    """Hold out a stratified ``fraction`` of ``df`` (normalised) as dev, seeded. The dev split has at least one
    row per class, and every class keeps at least one training example (``check_splittable`` first)."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    check_splittable(df, source)
    n_classes = df["label"].nunique()
    n_dev = max(n_classes, int(round(len(df) * fraction)))
    train, dev = train_test_split(df, test_size=n_dev, random_state=seed, stratify=df["label"])
    # Stratification rounds per class; with a large fraction a two-example class could land wholly in dev.
    missing = [label for label in dev["label"].unique() if label not in set(train["label"])]
    if missing:
        moved = dev[dev["label"].isin(missing)].drop_duplicates("label")
        train, dev = pd.concat([train, moved]), dev.drop(moved.index)
    return train.reset_index(drop=True), dev.reset_index(drop=True)


def load_for_training(data: str, eval_data: str | None = None, *, text_column: str | None = None,
                      label_column: str | None = None, task: str = "auto", dev_fraction: float = 0.1,
                      seed: int = 42) -> LoadedData:
    """Load, infer the schema, normalise and split; every problem is one WorkbenchError."""
    from datasets import Dataset

    raw = read_source(data)
    if "train" not in raw:
        raise WorkbenchError(f"{data} has no train split (found: {', '.join(raw)}).")
    resolved_task = infer_task(list(raw["train"].columns)) if task in (None, "auto") else task
    if resolved_task != "text-classification":
        from workbench.core.tasks import TASKS, get_task

        if resolved_task not in TASKS:
            raise WorkbenchError(
                f"{data}: this data looks like {resolved_task} (columns: {shown_list(map(str, raw['train'].columns))}); "
                f"supported tasks: {', '.join(TASKS)}."
            )
        return get_task(resolved_task).load_data(raw, data=data, eval_data=eval_data, text_column=text_column,
                                                  label_column=label_column, dev_fraction=dev_fraction, seed=seed)
    schema = infer_schema(raw["train"], text_column, label_column, task, source=str(data))
    train = normalise(raw["train"], schema, split="train", source=str(data))
    sources = {"train": str(data)}
    origin = "file"
    if eval_data:
        eval_raw = read_source(eval_data)
        eval_df = eval_raw.get("dev", eval_raw.get("test", eval_raw.get("train")))
        dev = normalise(eval_df, schema, split="eval", source=str(eval_data))
        sources["dev"] = str(eval_data)
    elif "dev" in raw:
        dev = normalise(raw["dev"], schema, split="dev", source=str(data))
        sources["dev"] = str(data)
    else:
        train, dev = stratified_split(train, dev_fraction, seed, source=str(data))
        origin = "held-out from train"
        sources["dev"] = f"{data} (stratified {dev_fraction:.0%} of train, seed {seed})"

    if len(train) == 0:
        raise WorkbenchError(f"{data}: no training rows left.")
    labels = sort_labels(train["label"].unique())
    if len(labels) < 2:
        raise WorkbenchError(f"{data}: the training data has a single class ({shown(labels[0])!r}); classification needs at least two.")
    unseen = sorted(set(dev["label"]) - set(labels))
    if unseen:
        names = ", ".join(repr(shown(u)) for u in unseen[:5])
        raise WorkbenchError(f"{sources['dev']}: the evaluation data has label(s) never seen in training: {names}.")
    schema.labels = labels
    splits = {"train": Dataset.from_pandas(train, preserve_index=False), "dev": Dataset.from_pandas(dev, preserve_index=False)}
    return LoadedData(splits, schema, sources, origin)


# --------------------------------------------------------------------------------------- inspect
def _percentiles(values: Sequence[int]) -> dict[str, float]:
    import numpy as np

    if not len(values):
        return {}
    arr = np.asarray(values)
    out = {f"p{p}": float(np.percentile(arr, p)) for p in (50, 90, 95, 99)}
    out.update(mean=float(arr.mean()), max=int(arr.max()), min=int(arr.min()))
    return out


def inspect_tokenizer(model: str):
    """The tokenizer for token-length statistics, and the model's display name."""
    from transformers import AutoTokenizer

    from workbench.core.models import resolve_model

    resolved = resolve_model(model)
    return AutoTokenizer.from_pretrained(resolved.path), resolved.display_name


def inspect_source(path: str | Path, *, text_column: str | None = None, label_column: str | None = None,
                   model: str | None = "default", max_length: int = 128, sample: int = 20000) -> dict[str, Any]:
    """Everything ``datasets inspect`` shows: rows, columns, labels, token lengths, warnings."""
    raw = read_source(path)
    first = raw.get("train", next(iter(raw.values())))
    if infer_task(list(first.columns)) == "token-classification":
        from workbench.core.tasks import get_task

        tokenizer = inspect_tokenizer(model)[0] if model else None
        return get_task("token-classification").inspect(raw, str(path), text_column=text_column, label_column=label_column,
                                                       tokenizer=tokenizer, max_length=max_length)
    other = infer_task(list(first.columns))
    if other != "text-classification":  # a task module with its own report (causal-lm-sft)
        from workbench.core.tasks import TASKS, get_task

        task_inspect = getattr(get_task(other), "inspect", None) if other in TASKS else None
        if task_inspect is not None:
            return task_inspect(raw, path=path, model=model, max_length=max_length, sample=sample)
    schema = infer_schema(first, text_column, label_column, source=str(path))
    report: dict[str, Any] = {
        "path": str(path),
        "task": schema.task,
        "text_column": schema.text_column,
        "label_column": schema.label_column,
        "splits": {},
        "columns": {c: str(t) for c, t in first.dtypes.items()},
        "warnings": [],
    }
    tokenizer = None
    if model:
        tokenizer, report["tokenizer"] = inspect_tokenizer(model)
        report["max_length"] = max_length
    warnings: list[str] = report["warnings"]
    normalised = {}
    for split, df in raw.items():
        norm = normalise(df, schema, split=split, source=str(path))
        normalised[split] = norm
        counts = Counter(norm["label"])
        info: dict[str, Any] = {
            "rows": len(norm),
            "label_counts": {k: counts[k] for k in sort_labels(counts)},
            "empty_texts": int((norm["text"].str.strip() == "").sum()),
            "duplicates": int(norm["text"].duplicated().sum()),
            "char_length": _percentiles(norm["text"].str.len().tolist()),
        }
        if tokenizer is not None:
            texts = norm["text"].tolist()
            sampled = texts if len(texts) <= sample else norm["text"].sample(sample, random_state=0).tolist()
            lengths = [len(ids) for ids in tokenizer(sampled, add_special_tokens=True, truncation=False)["input_ids"]]
            over = sum(1 for n in lengths if n > max_length)
            info["token_length"] = _percentiles(lengths)
            info["token_length_sampled"] = len(sampled) < len(texts)
            info["over_max_length"] = round(over * len(texts) / max(1, len(sampled)))
            info["token_lengths"] = lengths if len(lengths) <= 5000 else lengths[:5000]
            if over:
                warnings.append(f"{split}: {info['over_max_length']} row(s) ({over / len(sampled):.1%}) are longer than max_length {max_length} tokens and will be truncated.")
        if info["empty_texts"]:
            warnings.append(f"{split}: {info['empty_texts']} row(s) have an empty text.")
        if info["duplicates"]:
            conflicting = int(norm.groupby("text")["label"].nunique().gt(1).sum())
            msg = f"{split}: {info['duplicates']} duplicate text(s)"
            warnings.append(msg + (f", {conflicting} with conflicting labels." if conflicting else "."))
        if len(counts) >= 2:
            most, least = max(counts.values()), min(counts.values())
            if most >= 3 * least:
                warnings.append(f"{split}: class imbalance, largest/smallest class = {most}/{least} ({most / least:.1f}x).")
        elif len(counts) == 1:
            warnings.append(f"{split}: a single class ({next(iter(counts))!r}).")
        report["splits"][split] = info
    if "train" in normalised:
        train_texts = set(normalised["train"]["text"])
        for split in ("dev", "test"):
            if split in normalised:
                overlap = int(normalised[split]["text"].isin(train_texts).sum())
                report["splits"][split]["overlap_with_train"] = overlap
                if overlap:
                    warnings.append(f"{split}: {overlap} text(s) also appear in train (leakage inflates {split} scores).")
        if "dev" in normalised:
            unseen = sorted(set(normalised["dev"]["label"]) - set(normalised["train"]["label"]))
            if unseen:
                warnings.append(f"dev: label(s) not in train: {', '.join(unseen[:5])}.")
    report["labels"] = sort_labels({l for n in normalised.values() for l in n["label"]})
    return report
