"""Text classification data: the text and label columns of a table, normalised labels, a stratified dev
split, and what ``datasets inspect`` shows."""

from __future__ import annotations

from collections import Counter
from typing import Any

from workbench.core.datasets import BadRows, LoadedData, Schema, percentiles, read_source, suggest
from workbench.core.errors import WorkbenchError, shown, shown_list

TASK_NAME = "text-classification"


TEXT_NAMES = ("text", "sentence", "sentence1", "content", "review", "document", "input", "query", "utterance", "comment", "tweet", "body")


LABEL_NAMES = ("label", "labels", "class", "category", "target", "sentiment", "intent", "topic", "y")


MAX_LABELS = 200


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
    if task not in (None, "auto", TASK_NAME):
        raise WorkbenchError(f"this is {TASK_NAME} data, not {task}.")
    for given, what in ((text_column, "text"), (label_column, "label")):
        if given is not None and given not in columns:
            raise WorkbenchError(f"{what} column {given!r} not found; columns are: {shown_list(columns)}{suggest(given, columns)}.")
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
    return Schema(TASK_NAME, text_column, label_column, [])


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


_LIST_LABEL = object()  # a label cell holding a list or an object (not one value): a row that cannot be used


def _label_or_list(value: Any) -> Any:
    try:
        return _label_text(value)
    except WorkbenchError:
        return _LIST_LABEL


def normalise(df, schema: Schema, *, split: str, source: str, strict: bool = False):
    """``(DataFrame, skipped)``: ``text``/``label`` columns as strings, and the rows left out because they cannot
    be used (an empty or NaN label, a list for a label), which the shared rule (``datasets.BadRows``) skips when
    they are few and refuses, naming them, when they are more (``skipped`` is None when there were none)."""
    import pandas as pd

    for col in (schema.text_column, schema.label_column):
        if col not in df.columns:
            raise WorkbenchError(f"{source} ({split}) has no column {col!r}; columns are: {shown_list(map(str, df.columns))}{suggest(col, list(map(str, df.columns)))}.")
    texts = df[schema.text_column]
    if not all(isinstance(v, str) or v is None or (isinstance(v, float) and v != v) for v in texts):
        texts = texts.map(lambda v: v if isinstance(v, str) else ("" if v is None or (isinstance(v, float) and v != v) else str(v)))
    else:
        texts = texts.fillna("")
    labels = df[schema.label_column].map(_label_or_list)
    listed = labels.map(lambda v: v is _LIST_LABEL).to_numpy(dtype=bool)
    empty = labels.isna().to_numpy(dtype=bool)
    bad = BadRows(source, split)
    column = shown(schema.label_column, 40)
    for i in (listed | empty).nonzero()[0]:
        bad.add(int(i) + 1, f"empty or NaN label in column {column!r}" if empty[i]
                else "label values must be single values, not lists or objects")
    skipped = bad.settle(len(df), strict=strict)
    if skipped is not None:
        keep = ~(listed | empty)
        texts, labels = texts[keep], labels[keep]
    numeric = labels.map(_is_number)
    if numeric.any() and not numeric.all():
        examples = [labels[numeric].iloc[0], labels[~numeric].iloc[0]]
        raise WorkbenchError(
            f"{source} ({split}): column {schema.label_column!r} mixes numeric and text labels "
            f"(e.g. {examples[0]!r} and {examples[1]!r}); use one kind."
        )
    return pd.DataFrame({"text": texts.astype(str).tolist(), "label": labels.astype(str).tolist()}), skipped


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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


def load_data(raw: dict[str, Any], *, data: str, eval_data: str | None = None, text_column: str | None = None,
              label_column: str | None = None, dev_fraction: float = 0.1, seed: int = 42,
              strict: bool = False) -> LoadedData:
    """Infer the schema, normalise and split ``raw`` (split name → DataFrame); every problem is one WorkbenchError.
    Rows that cannot be used are skipped when few (``strict``: refused); the dev split is held out after that."""
    from datasets import Dataset

    schema = infer_schema(raw["train"], text_column, label_column, source=str(data))
    train, skipped_train = normalise(raw["train"], schema, split="train", source=str(data), strict=strict)
    sources = {"train": str(data)}
    origin = "file"
    skipped_dev = None
    if eval_data:
        eval_raw = read_source(eval_data)
        eval_df = eval_raw.get("dev", eval_raw.get("test", eval_raw.get("train")))
        dev, skipped_dev = normalise(eval_df, schema, split="eval", source=str(eval_data), strict=strict)
        sources["dev"] = str(eval_data)
    elif "dev" in raw:
        dev, skipped_dev = normalise(raw["dev"], schema, split="dev", source=str(data), strict=strict)
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
    return LoadedData(splits, schema, sources, origin, skipped={"train": skipped_train, "dev": skipped_dev})


def inspect(raw: dict[str, Any], path: str, *, text_column: str | None = None, label_column: str | None = None,
            tokenizer=None, max_length: int = 128, sample: int = 20000, strict: bool = False) -> dict[str, Any]:
    """Everything ``datasets inspect`` shows for labelled texts: rows, labels, token lengths, warnings."""
    first = raw.get("train", next(iter(raw.values())))
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
    if tokenizer is not None:
        report["max_length"] = max_length
    warnings: list[str] = report["warnings"]
    normalised = {}
    for split, df in raw.items():
        norm, skipped = normalise(df, schema, split=split, source=str(path), strict=strict)
        normalised[split] = norm
        counts = Counter(norm["label"])
        if skipped is not None:
            warnings.append(skipped.note + ".")
        info: dict[str, Any] = {
            "rows": len(norm),
            "skipped": skipped.to_dict() if skipped is not None else None,
            "label_counts": {k: counts[k] for k in sort_labels(counts)},
            "empty_texts": int((norm["text"].str.strip() == "").sum()),
            "duplicates": int(norm["text"].duplicated().sum()),
            "char_length": percentiles(norm["text"].str.len().tolist()),
        }
        if tokenizer is not None:
            texts = norm["text"].tolist()
            sampled = texts if len(texts) <= sample else norm["text"].sample(sample, random_state=0).tolist()
            lengths = [len(ids) for ids in tokenizer(sampled, add_special_tokens=True, truncation=False)["input_ids"]]
            over = sum(1 for n in lengths if n > max_length)
            info["token_length"] = percentiles(lengths)
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
