"""Token classification data: sentences of words with one IOB tag each, from CoNLL files or tables with
token and tag list columns. IOB1 is converted to IOB2 on load, so the model always learns (and predicts) IOB2."""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

import numpy as np

from workbench.core.datasets import IOB_TAG_RE
from workbench.core.errors import WorkbenchError, shown, shown_list
from workbench.core.tasks.token_classification.spans import iob1_to_iob2, split_tag, tags_to_spans


TOKEN_COLUMNS = ("tokens", "words")


TAG_COLUMNS = ("tags", "ner_tags", "labels")


# --------------------------------------------------------------------------------------- loading
def _column(df, given: str | None, names: Sequence[str], what: str, source: str) -> str:
    columns = [str(c) for c in df.columns]
    if given:
        if given not in columns:
            raise WorkbenchError(f"{what} column {given!r} not found in {source}; columns are: {shown_list(columns)}.")
        return given
    lower = {c.lower(): c for c in columns}
    for name in names:
        if name in lower:
            return lower[name]
    raise WorkbenchError(f"{source} has no {what} column ({' or '.join(names)}); columns are: {shown_list(columns)}.")


def _as_list(value: Any) -> list | None:
    if isinstance(value, np.ndarray):  # Parquet list columns arrive as arrays
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return list(value)
    return None


def _problem(toks, tags, tok_col: str, tag_col: str) -> str | None:
    """Why a sentence cannot be used (lists of words and IOB tags, one tag per word), or None."""
    if toks is None or tags is None:
        return f"{tok_col!r} and {tag_col!r} must be lists (one entry per word)"
    if not toks:
        return "an empty sentence (no tokens)"
    if len(toks) != len(tags):
        return f"{len(toks)} tokens but {len(tags)} tags"
    if any(isinstance(t, (int, float)) and not isinstance(t, bool) for t in tags):
        return "tags are numbers; give tag names such as B-PER, I-PER and O"
    bad = next((t for t in (str(t).strip() for t in tags) if not IOB_TAG_RE.match(t)), None)
    if bad is not None:
        return f"{shown(bad, 40)!r} is not an IOB tag (O, B-TYPE or I-TYPE)"
    return None


def normalise_sentences(df, *, token_column: str | None, tag_column: str | None, split: str, source: str,
                        strict: bool = False):
    """``tokens``/``tags`` list columns with IOB2 tags; returns ``(DataFrame, converted_from_iob1, skipped)``.
    Sentences that cannot be used (ragged, empty, tags that are not IOB) are skipped when few, by the shared
    rule (``datasets.BadRows``; ``skipped`` is None when none were), and refused, naming them, when more."""
    import pandas as pd

    from workbench.core.datasets import BadRows

    tok_col = _column(df, token_column, TOKEN_COLUMNS, "token", source)
    tag_col = _column(df, tag_column, TAG_COLUMNS, "tag", source)
    all_tokens, all_tags, converted = [], [], False
    bad = BadRows(source, split)
    for row, (toks, tags) in enumerate(zip(df[tok_col], df[tag_col]), 1):
        toks, tags = _as_list(toks), _as_list(tags)
        problem = _problem(toks, tags, tok_col, tag_col)
        if problem is not None:
            bad.add(row, problem)
            continue
        tags = [str(t).strip() for t in tags]
        iob2 = iob1_to_iob2(tags)
        converted = converted or iob2 != tags
        all_tokens.append([str(t) for t in toks])
        all_tags.append(iob2)
    skipped = bad.settle(len(df), strict=strict)
    if not all_tokens:
        raise WorkbenchError(f"{source} ({split}) has no sentences.")
    return pd.DataFrame({"tokens": all_tokens, "tags": all_tags}), converted, skipped


def label_set(tag_lists) -> list[str]:
    """``O`` first, then ``B-``/``I-`` of every entity type seen (both, so the model can always continue an entity)."""
    types = sorted({split_tag(t)[1] for tags in tag_lists for t in tags if t != "O"})
    return ["O"] + [f"{p}-{kind}" for kind in types for p in ("B", "I")]


def load_data(raw: dict[str, Any], *, data: str, eval_data: str | None = None, text_column: str | None = None,
              label_column: str | None = None, dev_fraction: float = 0.1, seed: int = 42, strict: bool = False):
    """Splits with ``tokens`` and ``tags`` columns; the dev split is the eval file, the folder's dev file,
    or a seeded random ``dev_fraction`` of train."""
    from datasets import Dataset

    from workbench.core.datasets import LoadedData, Schema, read_source

    kw = dict(token_column=text_column, tag_column=label_column, strict=strict)
    train, iob1, skipped_train = normalise_sentences(raw["train"], split="train", source=str(data), **kw)
    sources = {"train": str(data)}
    origin = "file"
    skipped_dev = None
    if eval_data:
        eval_raw = read_source(eval_data)
        eval_df = eval_raw.get("dev", eval_raw.get("test", eval_raw.get("train")))
        dev, dev_iob1, skipped_dev = normalise_sentences(eval_df, split="eval", source=str(eval_data), **kw)
        sources["dev"] = str(eval_data)
    elif "dev" in raw:
        dev, dev_iob1, skipped_dev = normalise_sentences(raw["dev"], split="dev", source=str(data), **kw)
        sources["dev"] = str(data)
    else:
        if len(train) < 2:
            raise WorkbenchError(f"{data}: {len(train)} sentence(s) are too few to hold out a dev split; at least 2 are "
                                 "needed (one to train on, one to evaluate), or give evaluation data (--eval-data).")
        n_dev = max(1, int(round(len(train) * dev_fraction)))
        order = np.random.default_rng(seed).permutation(len(train))
        dev = train.iloc[np.sort(order[:n_dev])].reset_index(drop=True)
        train = train.iloc[np.sort(order[n_dev:])].reset_index(drop=True)
        dev_iob1 = False
        origin = "held-out from train"
        sources["dev"] = f"{data} (random {dev_fraction:.0%} of train, seed {seed})"
    labels = label_set(train["tags"])
    if labels == ["O"]:
        raise WorkbenchError(f"{data}: the training data has no entities (every tag is O).")
    unseen = sorted({split_tag(t)[1] for tags in dev["tags"] for t in tags if t != "O"} - {split_tag(l)[1] for l in labels})
    if unseen:
        raise WorkbenchError(f"{sources['dev']}: the evaluation data has entity type(s) never seen in training: "
                             f"{', '.join(map(repr, unseen[:5]))}.")
    schema = Schema("token-classification", "tokens", "tags", labels)
    splits = {"train": Dataset.from_pandas(train, preserve_index=False), "dev": Dataset.from_pandas(dev, preserve_index=False)}
    loaded = LoadedData(splits, schema, sources, origin, skipped={"train": skipped_train, "dev": skipped_dev})
    loaded.tag_scheme = "IOB1 (converted to IOB2)" if (iob1 or dev_iob1) else "IOB2"
    return loaded


# --------------------------------------------------------------------------------------- inspect
def entity_counts(tag_lists) -> dict[str, int]:
    """Entities per type (IOB2 spans)."""
    counts: Counter[str] = Counter()
    for tags in tag_lists:
        counts.update(span["type"] for span in tags_to_spans(tags))
    return {k: counts[k] for k in sorted(counts)}


def inspect(raw: dict[str, Any], path: str, *, text_column: str | None = None, label_column: str | None = None,
            tokenizer=None, max_length: int = 128, sample: int | None = None, strict: bool = False) -> dict[str, Any]:
    """``datasets inspect`` for tagged data: sentences, words, entity counts per type, word-piece lengths (of
    every sentence: tagged data sets are small enough that ``sample`` is not needed)."""
    from workbench.core.datasets import percentiles

    report: dict[str, Any] = {"path": str(path), "task": "token-classification", "splits": {}, "warnings": [],
                              "columns": {c: str(t) for c, t in next(iter(raw.values())).dtypes.items()}}
    warnings = report["warnings"]
    all_tags = []
    schemes = set()
    for split, df in raw.items():
        norm, iob1, skipped = normalise_sentences(df, token_column=text_column, tag_column=label_column, split=split,
                                                  source=str(path), strict=strict)
        if skipped is not None:
            warnings.append(skipped.note + ".")
        schemes.add("IOB1" if iob1 else "IOB2")
        report.setdefault("text_column", "tokens")
        report.setdefault("label_column", "tags")
        all_tags.extend(norm["tags"])
        counts = entity_counts(norm["tags"])
        info: dict[str, Any] = {
            "rows": len(norm),
            "skipped": skipped.to_dict() if skipped is not None else None,
            "words": int(sum(len(t) for t in norm["tokens"])),
            "label_counts": counts,  # entities per type: what the label charts show for NER
            "entities": int(sum(counts.values())),
            "sentences_without_entities": int(sum(all(t == "O" for t in tags) for tags in norm["tags"])),
            "word_length": percentiles([len(t) for t in norm["tokens"]]),
            "empty_texts": 0,
            "duplicates": int(norm["tokens"].map(tuple).duplicated().sum()),
            "char_length": percentiles([sum(map(len, t)) + len(t) - 1 for t in norm["tokens"]]),
        }
        if tokenizer is not None:
            enc = tokenizer(norm["tokens"].tolist(), is_split_into_words=True, truncation=False)["input_ids"]
            lengths = [len(ids) for ids in enc]
            over = sum(1 for n in lengths if n > max_length)
            info["token_length"] = percentiles(lengths)
            info["token_lengths"] = lengths[:5000]
            info["over_max_length"] = over
            if over:
                warnings.append(f"{split}: {over} sentence(s) are longer than max_length {max_length} word pieces; "
                                f"their last words are predicted O.")
        if info["duplicates"]:
            warnings.append(f"{split}: {info['duplicates']} duplicate sentence(s).")
        report["splits"][split] = info
    if "IOB1" in schemes:
        warnings.append("tags are IOB1; they are converted to IOB2 for training.")
    report["tag_scheme"] = "IOB1" if "IOB1" in schemes else "IOB2"
    report["labels"] = label_set(all_tags)
    report["entity_types"] = sorted({split_tag(l)[1] for l in report["labels"] if l != "O"})
    if "train" in report["splits"] and "dev" in report["splits"]:
        unseen = sorted(set(report["splits"]["dev"]["label_counts"]) - set(report["splits"]["train"]["label_counts"]))
        if unseen:
            warnings.append(f"dev: entity type(s) not in train: {', '.join(unseen[:5])}.")
    return report
