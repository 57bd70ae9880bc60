"""Extractive QA data: SQuAD-format JSON (``data[].paragraphs[].{context, qas[]}``, as published) or flat rows
(CSV/JSONL/Parquet with ``question``, ``context`` and ``answers`` as ``{text, answer_start}``, or ``answer`` and
``answer_start`` columns), normalised to one row per question with every gold answer.

Rows that cannot be used (an empty question or passage, an answer that is not at its offset) follow the rule every
task shares (``datasets.BadRows``): skipped and counted when they are at most 1% of a split, otherwise refused
with the rows named (``strict``: any is refused). Unanswerable questions (SQuAD 2.0's ``is_impossible``) are refused: this task trains and scores
SQuAD v1.1-style extractive answers only.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Sequence

import numpy as np

from workbench.core.errors import WorkbenchError, shown, shown_list

QUESTION_COLUMNS = ("question", "query")
CONTEXT_COLUMNS = ("context", "passage", "paragraph")
ID_COLUMNS = ("id", "qid", "question_id")
COLUMNS = ("id", "title", "question", "context", "answer_texts", "answer_starts")


def recognises(columns: Sequence[str]) -> bool:
    cols = {c.lower() for c in columns}
    return "paragraphs" in cols or (bool(cols & set(QUESTION_COLUMNS)) and bool(cols & set(CONTEXT_COLUMNS)))


# --------------------------------------------------------------------------------------- normalising
def _pick(columns: Sequence[str], given: str | None, names: Sequence[str]) -> str | None:
    if given:
        return given if given in columns else None
    lower = {c.lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def _as_list(value: Any) -> list | None:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return list(value)
    return None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value.strip())


def _answers_of(value: Any) -> tuple[list[str], list[int]] | None:
    """Answers as given in a flat row: ``{"text": [...], "answer_start": [...]}`` (Hugging Face datasets) or
    a list of ``{"text", "answer_start"}`` (SQuAD JSON); None when the value is neither."""
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value)  # a CSV cell holding JSON
        except ValueError:
            return None
    if isinstance(value, dict):
        texts, starts = _as_list(value.get("text")), _as_list(value.get("answer_start"))
        if texts is None and isinstance(value.get("text"), str):
            texts, starts = [value["text"]], [value.get("answer_start")]
        if texts is None or starts is None or len(texts) != len(starts):
            return None
        return [str(t) for t in texts], starts
    items = _as_list(value)
    if items is not None and all(isinstance(a, dict) for a in items):
        return [str(a.get("text", "")) for a in items], [a.get("answer_start") for a in items]
    return None


class _Rows:
    """Collects normalised questions and the problems of the rows that cannot be used."""

    def __init__(self, source: str, split: str):
        from workbench.core.datasets import BadRows

        self.source, self.split = source, split
        self.rows: dict[str, list] = {c: [] for c in COLUMNS}
        self.problems = BadRows(source, split, unit="questions")
        self.unanswerable: list[str] = []
        self.seen = 0

    def add(self, where: Any, qid: Any, title: str, question: Any, context: Any, texts: list, starts: list,
            impossible: bool = False) -> None:
        self.seen += 1
        if impossible or not texts:
            self.unanswerable.append(where if isinstance(where, str) else f"row {where}")
            return
        if _missing(question):
            self.problems.add(where, "the question is empty")
            return
        if _missing(context):
            self.problems.add(where, "the passage (context) is empty")
            return
        context, question = str(context), str(question)
        clean_starts = []
        for text, start in zip(texts, starts):
            if isinstance(start, float) and start.is_integer():
                start = int(start)
            if isinstance(start, str) and start.strip().lstrip("-").isdigit():
                start = int(start)
            if not isinstance(start, (int, np.integer)) or isinstance(start, bool):
                self.problems.add(where, f"answer_start {shown(repr(start), 40)} is not a character offset")
                return
            start = int(start)
            if not text.strip():
                self.problems.add(where, "an answer is empty")
                return
            if context[start:start + len(text)] != text:
                found = context[max(0, start):start + len(text)]
                self.problems.add(where, f"the answer {shown(repr(text), 60)} is not at offset {start} "
                                         f"of the passage (it holds {shown(repr(found), 60)})")
                return
            clean_starts.append(start)
        self.rows["id"].append(str(qid) if not _missing(qid) else f"{self.split}-{self.seen}")
        self.rows["title"].append(title)
        self.rows["question"].append(question)
        self.rows["context"].append(context)
        self.rows["answer_texts"].append(list(texts))
        self.rows["answer_starts"].append(clean_starts)

    def frame(self, strict: bool = False):
        """The normalised DataFrame and the skipped rows (None when none), or a WorkbenchError naming the rows."""
        import pandas as pd

        where = f"{self.source} ({self.split})"
        if self.unanswerable:
            raise WorkbenchError(
                f"{where} has {len(self.unanswerable)} unanswerable question(s) (SQuAD 2.0 style, e.g. "
                f"{', '.join(self.unanswerable[:3])}); question answering here trains on answerable, SQuAD v1.1-style "
                "questions only: remove them or give each an answer.")
        skipped = self.problems.settle(self.seen, strict=strict)
        if not self.rows["question"]:
            raise WorkbenchError(f"{where} has no questions.")
        df = pd.DataFrame(self.rows)
        duplicated = df["id"].duplicated()
        if duplicated.any():
            raise WorkbenchError(f"{where}: question id {df['id'][duplicated].iloc[0]!r} appears more than once.")
        return df, skipped


def normalise(df, *, question_column: str | None = None, context_column: str | None = None, split: str,
              source: str, strict: bool = False):
    """One row per question (``id, title, question, context, answer_texts, answer_starts``) and the unusable rows
    skipped (``datasets.SkippedRows``, None when none were; ``strict``: any is refused)."""
    columns = [str(c) for c in df.columns]
    rows = _Rows(source, split)
    if "paragraphs" in {c.lower() for c in columns}:
        paragraphs_col = next(c for c in columns if c.lower() == "paragraphs")
        title_col = next((c for c in columns if c.lower() == "title"), None)
        for a, (paragraphs, title) in enumerate(zip(df[paragraphs_col], df[title_col] if title_col else [""] * len(df)), 1):
            paragraphs = _as_list(paragraphs)
            if paragraphs is None:
                raise WorkbenchError(f"{source} ({split}) article {a}: 'paragraphs' is not a list of {{context, qas}}.")
            for p, para in enumerate(paragraphs, 1):
                if not isinstance(para, dict) or not isinstance(para.get("qas"), list):
                    raise WorkbenchError(f"{source} ({split}) article {a} paragraph {p}: expected {{context, qas: [...]}}.")
                for q, qa in enumerate(para["qas"], 1):
                    if not isinstance(qa, dict):
                        raise WorkbenchError(f"{source} ({split}) article {a} paragraph {p} question {q} is not an object.")
                    answers = _answers_of(qa.get("answers") or [])
                    texts, starts = answers if answers is not None else ([], [])
                    where = f"question {qa.get('id', q)!s} (article {a}, paragraph {p})"
                    rows.add(where, qa.get("id"), str(title or ""), qa.get("question"), para.get("context"), texts, starts,
                             impossible=bool(qa.get("is_impossible", False)))
        return rows.frame(strict)

    q_col = _pick(columns, question_column, QUESTION_COLUMNS)
    c_col = _pick(columns, context_column, CONTEXT_COLUMNS)
    for what, col, given, names in (("question", q_col, question_column, QUESTION_COLUMNS),
                                    ("context", c_col, context_column, CONTEXT_COLUMNS)):
        if col is None:
            asked = f"column {given!r}" if given else f"{what} column ({' or '.join(names)})"
            raise WorkbenchError(f"{source} ({split}) has no {asked}; columns are: {shown_list(columns)}.")
    lower = {c.lower(): c for c in columns}
    id_col = next((lower[n] for n in ID_COLUMNS if n in lower), None)
    title_col = lower.get("title")
    answers_col = lower.get("answers")
    text_col = lower.get("answer") or lower.get("answer_text")
    start_col = lower.get("answer_start")
    if answers_col is None and (text_col is None or start_col is None):
        raise WorkbenchError(f"{source} ({split}) has no answers: give an 'answers' column ({{text, answer_start}}) or "
                             f"'answer' and 'answer_start' columns; columns are: {shown_list(columns)}.")
    impossible_col = lower.get("is_impossible")
    for r, rec in enumerate(df.to_dict("records"), 1):
        if answers_col is not None:
            answers = _answers_of(rec[answers_col])
            if answers is None:
                rows.seen += 1
                rows.problems.add(r, "'answers' is not {text: [...], answer_start: [...]} or a list of {text, answer_start}")
                continue
            texts, starts = answers
        else:
            texts = [] if _missing(rec[text_col]) else [str(rec[text_col])]
            starts = [rec[start_col]]
        impossible = bool(rec.get(impossible_col)) if impossible_col else False
        rows.add(r, rec.get(id_col) if id_col else None, str(rec.get(title_col) or "") if title_col else "",
                 rec[q_col], rec[c_col], texts, starts, impossible=impossible)
    return rows.frame(strict)


def split_by_passage(df, fraction: float, seed: int):
    """``(train, dev)``: a seeded ``fraction`` of the *passages* held out with all their questions (holding out
    questions alone would let the model see the passage of a dev question during training)."""
    contexts = df["context"].drop_duplicates().tolist()
    order = np.random.default_rng(seed).permutation(len(contexts))
    n_dev = max(1, int(round(len(contexts) * fraction)))
    held = {contexts[i] for i in order[:n_dev]}
    mask = df["context"].isin(held).to_numpy()
    return df[~mask].reset_index(drop=True), df[mask].reset_index(drop=True)


def load_data(raw: dict[str, Any], *, data: str, eval_data: str | None = None, text_column: str | None = None,
              label_column: str | None = None, dev_fraction: float = 0.1, seed: int = 42, strict: bool = False):
    """Train and dev questions; the dev split is the eval file, the folder's dev file, or a seeded
    ``dev_fraction`` of train's passages. ``text_column`` names the question column, ``label_column`` the
    passage (context) column when they are not inferred."""
    from datasets import Dataset

    from workbench.core.datasets import LoadedData, Schema, read_source

    kw = dict(question_column=text_column, context_column=label_column, strict=strict)
    train, skipped_train = normalise(raw["train"], split="train", source=str(data), **kw)
    sources, origin = {"train": str(data)}, "file"
    skipped_dev = None
    if eval_data:
        eval_raw = read_source(eval_data)
        dev, skipped_dev = normalise(eval_raw.get("dev", eval_raw.get("test", eval_raw.get("train"))), split="eval",
                                     source=str(eval_data), **kw)
        sources["dev"] = str(eval_data)
    elif "dev" in raw:
        dev, skipped_dev = normalise(raw["dev"], split="dev", source=str(data), **kw)
        sources["dev"] = str(data)
    else:
        if train["context"].nunique() < 2:
            raise WorkbenchError(f"{data}: the questions share {train['context'].nunique()} passage; at least 2 passages "
                                 "are needed to hold out a dev split (or give evaluation data, --eval-data).")
        train, dev = split_by_passage(train, dev_fraction, seed)
        origin = "held-out from train"
        sources["dev"] = f"{data} (random {dev_fraction:.0%} of train's passages, seed {seed})"
    schema = Schema("question-answering", "question", "answers", [])
    splits = {"train": Dataset.from_pandas(train, preserve_index=False), "dev": Dataset.from_pandas(dev, preserve_index=False)}
    return LoadedData(splits, schema, sources, origin, skipped={"train": skipped_train, "dev": skipped_dev})


# --------------------------------------------------------------------------------------- inspect
ANSWER_LENGTH_BINS = ((1, 1, "1"), (2, 2, "2"), (3, 3, "3"), (4, 5, "4-5"), (6, 10, "6-10"), (11, None, "11+"))


def answer_length_counts(golds) -> dict[str, int]:
    """First gold answers by length in words, in bins."""
    counts = dict.fromkeys((name for _, _, name in ANSWER_LENGTH_BINS), 0)
    for g in golds:
        n = len(g[0].split())
        name = next(name for lo, hi, name in ANSWER_LENGTH_BINS if n >= lo and (hi is None or n <= hi))
        counts[name] += 1
    return counts


def inspect(raw: dict[str, Any], path: str, *, text_column: str | None = None, label_column: str | None = None,
            tokenizer=None, max_length: int = 384, sample: int | None = None, stride: int = 128,
            strict: bool = False) -> dict[str, Any]:
    """``datasets inspect`` for QA data: questions, passages, gold answers per question, answer lengths, and with
    a tokenizer the passage token lengths and how many questions need more than one window."""
    from workbench.core.datasets import percentiles
    from workbench.core.tasks.question_answering.squad import check_window_settings, make_windows, window_tokenizer

    report: dict[str, Any] = {"path": str(path), "task": "question-answering", "splits": {}, "warnings": [],
                              "columns": {c: str(t) for c, t in next(iter(raw.values())).dtypes.items()},
                              "text_column": "question", "label_column": "context", "labels": [],
                              "max_length": max_length, "doc_stride": stride}
    warnings = report["warnings"]
    problem = check_window_settings(max_length, stride) if tokenizer is not None else None
    if problem and not check_window_settings(max_length, max_length // 4):
        warnings.append(f"doc_stride {stride} does not fit max_length {max_length}; windows counted with doc_stride "
                        f"{max_length // 4}.")
        stride, problem = max_length // 4, None
        report["doc_stride"] = stride
    if problem:
        warnings.append(problem)
    for split, df in raw.items():
        norm, skipped = normalise(df, question_column=text_column, context_column=label_column, split=split,
                                  source=str(path), strict=strict)
        golds = norm["answer_texts"]
        info: dict[str, Any] = {
            "rows": len(norm),
            "questions": len(norm),
            "passages": int(norm["context"].nunique()),
            "skipped": skipped.to_dict() if skipped is not None else None,
            "answers_per_question": dict(sorted(Counter(len(g) for g in golds).items())),
            "answer_words": percentiles([len(g[0].split()) for g in golds]),
            "passage_chars": percentiles(norm["context"].drop_duplicates().str.len().tolist()),
            "question_words": percentiles([len(q.split()) for q in norm["question"]]),
            "empty_texts": 0,
            "duplicates": int(norm.duplicated(subset=["question", "context"]).sum()),
            # What the Datasets screen charts for QA: gold answers by length in words.
            "label_counts": answer_length_counts(golds),
        }
        if skipped is not None:
            warnings.append(skipped.note + ".")
        if tokenizer is not None and not problem:
            n = len(norm) if not sample else min(len(norm), int(sample))
            rows = norm.iloc[np.random.default_rng(0).permutation(len(norm))[:n]] if n < len(norm) else norm
            tok = window_tokenizer(tokenizer, max_length=max_length, stride=stride)
            passages = rows["context"].drop_duplicates().tolist()
            passage_tokens = [len(e.ids) for e in tok.plain.encode_batch(passages, add_special_tokens=False)]
            windows = make_windows(tok, rows["question"].tolist(), rows["context"].tolist())
            lengths = [len(ids) for ids in windows.input_ids]
            several = sum(1 for k in windows.per_example if k > 1)
            info.update(passage_tokens=percentiles(passage_tokens), token_length=percentiles(lengths),
                        token_lengths=lengths[:5000], windows=len(windows), multi_window=several,
                        over_max_length=several, sampled=n if n < len(norm) else None,
                        questions_cut=windows.questions_cut)
            if several:
                warnings.append(f"{split}: {several} of {n} question(s) need more than one window at max_length "
                                f"{max_length} (doc_stride {stride}); {len(windows)} windows in all.")
        report["splits"][split] = info
    return report
