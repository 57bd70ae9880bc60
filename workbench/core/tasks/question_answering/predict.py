"""Torch-free extractive QA on an export directory: onnxruntime + tokenizers + numpy, nothing else.

The graph returns ``start_logits`` and ``end_logits`` (``[batch, sequence]``) per window; windows and the span
search are ``workbench.core.tasks.question_answering.squad``'s, the same code evaluation uses.

    from workbench.core.tasks.question_answering.predict import OnnxReader

    reader = OnnxReader("exports/my-qa-run")
    reader.predict([{"question": "Who wrote Faust?", "context": "Faust is a tragic play by Goethe."}])
    # [{'question': ..., 'context': ..., 'answer': 'Goethe', 'start': 26, 'end': 32, 'score': 0.93, ...}]
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from workbench.core.errors import WorkbenchError
from workbench.core.inference import DEFAULT_BATCH_SIZE, OnnxEncoder, read_manifest
from workbench.core.tasks.question_answering import squad
from workbench.paths import expand_user

QUESTION_NAMES = ("question", "query")
CONTEXT_NAMES = ("context", "passage", "paragraph")


def split_items(items) -> tuple[list[str], list[str]]:
    """``{"question", "context"}`` mappings or ``(question, context)`` pairs → two lists, checked."""
    if isinstance(items, dict):
        items = [items]
    questions, contexts = [], []
    for item in items:
        if isinstance(item, dict):
            questions.append(item.get("question"))
            contexts.append(item.get("context"))
        else:
            q, c = item
            questions.append(q)
            contexts.append(c)
    squad.check_inputs(questions, contexts)
    return questions, contexts


class OnnxReader(OnnxEncoder):
    """An extractive QA model served from an export directory; arguments: see ``OnnxEncoder``."""

    has_labels = False

    def __init__(self, export_dir, *args: Any, **kwargs: Any):
        task = read_manifest(export_dir).get("task")
        if task != "question-answering":
            raise WorkbenchError(f"export {Path(export_dir).name} is a {task} model, not question answering.")
        super().__init__(export_dir, *args, **kwargs)
        decoding = self.manifest.get("decoding") or {}
        self.doc_stride = int(decoding.get("doc_stride", 128))
        self.max_answer_tokens = int(decoding.get("max_answer_tokens", squad.MAX_ANSWER_TOKENS))
        self.pad_id = int((self.manifest.get("tokenizer") or {}).get("pad_id") or 0)
        self._tok = squad.window_tokenizer(self.tokenizer, max_length=self.max_length, stride=self.doc_stride)
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run_batch(self, feed: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        start, end = self.session.run(self.output_names[:2], feed)
        return start, end

    def window_logits(self, windows: squad.Windows, batch_size: int = DEFAULT_BATCH_SIZE):
        """Start and end logits of every window (trimmed to its tokens), in window order."""
        return squad.window_logits(self.run_batch, windows, input_names=self.input_names, pad_id=self.pad_id,
                                   batch_size=batch_size)

    def predict(self, items, batch_size: int = DEFAULT_BATCH_SIZE) -> list[dict[str, Any]]:
        """``items``: ``{"question", "context"}`` mappings (or pairs) → per item ``{"question", "context",
        "answer", "start", "end", "score", "windows", "n_best"}``: character offsets into the passage and the
        answer's probability among its n-best spans."""
        questions, contexts = split_items(items)
        return squad.answer(self.run_batch, self._tok, questions, contexts, input_names=self.input_names,
                            pad_id=self.pad_id, batch_size=batch_size, max_answer_tokens=self.max_answer_tokens)


# ----------------------------------------------------------------------------------- files
def _column(columns: Sequence[str], given: str | None, names: Sequence[str], what: str, source: str) -> str:
    if given:
        if given not in columns:
            raise WorkbenchError(f"{source}: no column {given!r}; columns are: {', '.join(columns)}.")
        return given
    lower = {c.lower(): c for c in columns}
    found = next((lower[n] for n in names if n in lower), None)
    if found is None:
        raise WorkbenchError(f"{source} has no {what} column ({' or '.join(names)}); columns are: {', '.join(columns)}.")
    return found


def iter_questions(path: str | os.PathLike, question_column: str | None = None,
                   context_column: str | None = None) -> Iterator[dict[str, str]]:
    """``{"question", "context"}`` rows of a CSV/TSV (header row) or JSONL file, one at a time."""
    path = expand_user(path)
    if not path.is_file():
        raise WorkbenchError(f"file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".jsonl", ".ndjson"):
        raise WorkbenchError(f"{path.name}: unsupported file type {suffix or '(none)'!r} for questions; use .csv, .tsv or .jsonl "
                             "with question and context columns.")
    try:
        with open(path, encoding="utf-8", newline="" if suffix in (".csv", ".tsv") else None) as fh:
            if suffix in (".csv", ".tsv"):
                reader = csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ",")
                columns = list(reader.fieldnames or [])
                q = _column(columns, question_column, QUESTION_NAMES, "question", path.name)
                c = _column(columns, context_column, CONTEXT_NAMES, "context", path.name)
                for row in reader:
                    yield {"question": row.get(q) or "", "context": row.get(c) or ""}
                return
            q = c = None
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    raise WorkbenchError(f"{path.name} line {lineno} is not valid JSON.") from None
                if not isinstance(obj, dict):
                    raise WorkbenchError(f"{path.name} line {lineno} is not a JSON object.")
                if q is None:
                    q = _column(list(obj), question_column, QUESTION_NAMES, "question", path.name)
                    c = _column(list(obj), context_column, CONTEXT_NAMES, "context", path.name)
                yield {"question": str(obj.get(q) or ""), "context": str(obj.get(c) or "")}
    except UnicodeDecodeError:
        raise WorkbenchError(f"{path.name} is not UTF-8 text.") from None
