"""Extractive QA's shared core, torch-free (tokenizers + numpy): the official SQuAD v1.1 scores, passages cut
into overlapping windows, and the span search over a window's start/end logits.

Training, evaluation, export validation, the Playground and the torch-free ``OnnxReader`` all go through
:func:`make_windows` and :func:`best_spans`, so an answer is found the same way whatever runs the model.

Windows are made with the ``tokenizers`` library (a transformers fast tokenizer's ``backend_tokenizer``, or
the export's ``tokenizer.json``): the question first, then as much of the passage as fits in ``max_length``,
truncating only the passage, each next window starting ``stride`` tokens before the previous one ended (the
Hugging Face ``run_qa.py`` convention: ``doc_stride`` is the overlap).
"""

from __future__ import annotations

import collections
import re
import string
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

# Defaults of the original BERT SQuAD recipe (and transformers' run_qa.py).
MAX_ANSWER_TOKENS = 30
MAX_QUESTION_TOKENS = 64
N_BEST = 20


# --------------------------------------------------------------------------------------- official scores
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower case, no punctuation, no articles (a, an, the), single spaces: the official SQuAD v1.1
    ``evaluate-v1.1.py`` normalisation."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCTUATION)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str) -> float:
    """Token-overlap F1 of the normalised strings (official v1.1: 0 when either side has no tokens)."""
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def best_over_golds(prediction: str, golds: Sequence[str]) -> tuple[float, float]:
    """``(EM, F1)`` of one prediction: the best over the gold answers, as the official script scores it."""
    return (max(exact_match(prediction, g) for g in golds), max(f1(prediction, g) for g in golds))


def squad_scores(predictions: Sequence[str], golds: Sequence[Sequence[str]]) -> dict[str, float]:
    """Corpus ``exact_match`` and ``f1`` in percent (the official script's scale)."""
    if not predictions:
        return {"exact_match": 0.0, "f1": 0.0}
    scores = np.array([best_over_golds(p, g) for p, g in zip(predictions, golds)], dtype=np.float64)
    return {"exact_match": float(100 * scores[:, 0].mean()), "f1": float(100 * scores[:, 1].mean())}


# --------------------------------------------------------------------------------------- windows
@dataclass
class Windows:
    """Model inputs for a batch of (question, passage) examples, one row per window (unpadded lists), and what
    maps a window's tokens back to its example's passage."""

    input_ids: list[list[int]]
    attention_mask: list[list[int]]
    token_type_ids: list[list[int]]
    example: list[int]                       # the example each window belongs to (index into the batch)
    offsets: list[list[tuple[int, int] | None]]  # per token: (start, end) characters in the passage; None off it
    questions_cut: int = 0                    # questions longer than question_room(), cut to fit
    per_example: list[int] = field(default_factory=list)  # windows each example has

    def __len__(self) -> int:
        return len(self.input_ids)

    def columns(self, names: Sequence[str]) -> dict[str, list[list[int]]]:
        table = {"input_ids": self.input_ids, "attention_mask": self.attention_mask,
                 "token_type_ids": self.token_type_ids}
        return {n: table[n] for n in names}


@dataclass(frozen=True)
class WindowTokenizer:
    """What :func:`make_windows` encodes with: ``pair`` truncates only the passage into windows of ``max_length``
    overlapping by ``stride``; ``plain`` (no truncation) measures questions."""

    pair: Any
    plain: Any
    max_length: int
    stride: int


def window_tokenizer(tokenizer, *, max_length: int, stride: int) -> WindowTokenizer:
    """Copies of ``tokenizer`` (a ``tokenizers.Tokenizer`` or a transformers fast tokenizer) set up for windows,
    made once per reader or data set (the copies are what costs)."""
    from tokenizers import Tokenizer

    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    pair, plain = Tokenizer.from_str(backend.to_str()), Tokenizer.from_str(backend.to_str())
    for tok in (pair, plain):
        tok.no_padding()
        tok.no_truncation()
    pair.enable_truncation(max_length, stride=stride, strategy="only_second")
    return WindowTokenizer(pair, plain, max_length, stride)


MIN_QUESTION_TOKENS = 8


def question_room(max_length: int, stride: int) -> int:
    """The most question tokens a window can hold so that its passage part still exceeds ``stride`` (a window
    is [CLS] question [SEP] passage [SEP]; longer questions are cut)."""
    return min(MAX_QUESTION_TOKENS, max_length - stride - 4)


def check_window_settings(max_length: int, stride: int) -> str | None:
    """Why ``max_length``/``stride`` cannot cut passages into windows, or None."""
    if not isinstance(stride, int) or stride < 0:
        return f"doc_stride must be a non-negative whole number, got {stride!r}."
    room = question_room(max_length, stride)
    if room < MIN_QUESTION_TOKENS:
        return (f"doc_stride {stride} is too large for max_length {max_length}: a window must hold a question of at least "
                f"{MIN_QUESTION_TOKENS} tokens and more than doc_stride passage tokens (doc_stride at most "
                f"{max(0, max_length - MIN_QUESTION_TOKENS - 4)}).")
    return None


def _cut_question(plain, question: str, room: int) -> tuple[str, bool]:
    """``question`` without leading spaces and cut to ``room`` tokens (a very long question would leave no room
    for the passage)."""
    question = question.lstrip()
    offsets = plain.encode(question, add_special_tokens=False).offsets
    if len(offsets) <= room:
        return question, False
    return question[:offsets[room - 1][1]], True


def make_windows(tok: WindowTokenizer, questions: Sequence[str], contexts: Sequence[str]) -> Windows:
    """Every window of every example (``tok`` from :func:`window_tokenizer`), examples in order."""
    room = question_room(tok.max_length, tok.stride)
    cut = [_cut_question(tok.plain, q, room) for q in questions]
    encodings = tok.pair.encode_batch([(q, c) for (q, _), c in zip(cut, contexts)])
    out = Windows([], [], [], [], [], questions_cut=sum(c for _, c in cut))
    for i, enc in enumerate(encodings):
        windows = [enc, *enc.overflowing]
        out.per_example.append(len(windows))
        for w in windows:
            out.input_ids.append(list(w.ids))
            out.attention_mask.append(list(w.attention_mask))
            out.token_type_ids.append(list(w.type_ids))
            out.example.append(i)
            out.offsets.append([o if s == 1 else None for o, s in zip(w.offsets, w.sequence_ids)])
    return out


def answer_positions(offsets: Sequence[tuple[int, int] | None], start_char: int, end_char: int) -> tuple[int, int]:
    """The first and last token of a window holding the characters ``[start_char, end_char)`` of its passage,
    or ``(0, 0)`` (the [CLS] token: "not in this window") when the answer is not wholly inside it."""
    inside = [k for k, o in enumerate(offsets) if o is not None]
    if not inside or offsets[inside[0]][0] > start_char or offsets[inside[-1]][1] < end_char:
        return 0, 0
    start = next(k for k in inside if offsets[k][1] > start_char)
    end = next(k for k in reversed(inside) if offsets[k][0] < end_char)
    return (start, end) if start <= end else (0, 0)


# --------------------------------------------------------------------------------------- span search
def window_candidates(start_logits: np.ndarray, end_logits: np.ndarray, offsets: Sequence[tuple[int, int] | None], *,
                      max_answer_tokens: int = MAX_ANSWER_TOKENS, n_best: int = N_BEST) -> list[tuple[float, int, int]]:
    """The ``n_best`` highest-scoring spans of one window: ``(start_logit + end_logit, start_char, end_char)``,
    over every start ≤ end inside the passage at most ``max_answer_tokens`` tokens long (all pairs, not only
    the top logits of each end)."""
    n = min(len(offsets), len(start_logits))
    valid = np.array([o is not None for o in offsets[:n]], dtype=bool)
    if not valid.any():
        return []
    s = np.where(valid, np.asarray(start_logits[:n], dtype=np.float64), -np.inf)
    e = np.where(valid, np.asarray(end_logits[:n], dtype=np.float64), -np.inf)
    width = min(max_answer_tokens, n)
    band = np.full((n, width), -np.inf)          # band[i, d]: span from token i to token i + d
    for d in range(width):
        band[: n - d, d] = s[: n - d] + e[d:]
    flat = band.ravel()
    k = min(n_best, int(np.isfinite(flat).sum()))
    if k == 0:
        return []
    top = np.argpartition(-flat, k - 1)[:k]
    out = []
    for index in top[np.argsort(-flat[top])]:
        i, d = divmod(int(index), width)
        out.append((float(flat[index]), offsets[i][0], offsets[i + d][1]))
    return out


def best_spans(start_logits: Sequence[np.ndarray], end_logits: Sequence[np.ndarray], windows: Windows,
               contexts: Sequence[str], *, max_answer_tokens: int = MAX_ANSWER_TOKENS,
               n_best: int = N_BEST) -> list[dict[str, Any]]:
    """Per example (in order): the best answer over all its windows, ``{"text", "start", "end", "score",
    "logit", "n_best"}``. ``score`` is the answer's probability among the example's n-best spans (softmax of
    their logit sums, as run_qa.py reports); ``n_best`` lists the alternatives the same way. An example whose
    windows hold no passage token (an empty passage) gets an empty answer with score 0."""
    per: list[list[tuple[float, int, int]]] = [[] for _ in contexts]
    for w, example in enumerate(windows.example):
        per[example].extend(window_candidates(start_logits[w], end_logits[w], windows.offsets[w],
                                              max_answer_tokens=max_answer_tokens, n_best=n_best))
    results = []
    for context, cands in zip(contexts, per):
        if not cands:
            results.append({"text": "", "start": 0, "end": 0, "score": 0.0, "logit": None, "n_best": []})
            continue
        seen, unique = set(), []
        for logit, a, b in sorted(cands, key=lambda c: -c[0]):
            if (a, b) not in seen:  # the same span seen from two overlapping windows
                seen.add((a, b))
                unique.append((logit, a, b))
            if len(unique) == n_best:
                break
        logits = np.array([c[0] for c in unique])
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        n_best_list = [{"text": context[a:b], "start": a, "end": b, "score": float(p), "logit": float(l)}
                       for (l, a, b), p in zip(unique, probs)]
        results.append({**n_best_list[0], "n_best": n_best_list})
    return results


# --------------------------------------------------------------------------------------- answering
def pad_batch(rows: Sequence[Sequence[int]], value: int) -> np.ndarray:
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), value, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def window_logits(run_batch, windows: Windows, *, input_names: Sequence[str], pad_id: int,
                  batch_size: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Start and end logits of every window (trimmed to its real tokens), in window order. ``run_batch(feed)``
    maps padded int64 arrays (``input_names`` of the model) to ``(start, end)`` arrays; batches are taken in
    length order, so little is padded."""
    order = sorted(range(len(windows)), key=lambda w: len(windows.input_ids[w]))
    starts: list[Any] = [None] * len(windows)
    ends: list[Any] = [None] * len(windows)
    columns = windows.columns(input_names)
    for b in range(0, len(order), max(1, int(batch_size))):
        idx = order[b:b + batch_size]
        feed = {name: pad_batch([columns[name][w] for w in idx], pad_id if name == "input_ids" else 0)
                for name in input_names}
        s, e = run_batch(feed)
        for row, w in enumerate(idx):
            n = len(windows.input_ids[w])
            starts[w], ends[w] = np.asarray(s[row, :n], dtype=np.float32), np.asarray(e[row, :n], dtype=np.float32)
    return starts, ends


def answer(run_batch, tok, questions: Sequence[str], contexts: Sequence[str], *, input_names: Sequence[str],
           pad_id: int, batch_size: int = 32, max_answer_tokens: int = MAX_ANSWER_TOKENS,
           n_best: int = N_BEST) -> list[dict[str, Any]]:
    """Answers to ``questions`` about ``contexts`` with any engine (``run_batch``, see :func:`window_logits`):
    windows, logits, span search. Per example ``{"question", "context", "answer", "start", "end", "score",
    "windows", "n_best"}``."""
    questions = [q if isinstance(q, str) else str(q) for q in questions]
    contexts = [c if isinstance(c, str) else str(c) for c in contexts]
    windows = make_windows(tok, questions, contexts)
    starts, ends = window_logits(run_batch, windows, input_names=input_names, pad_id=pad_id, batch_size=batch_size)
    spans = best_spans(starts, ends, windows, contexts, max_answer_tokens=max_answer_tokens, n_best=n_best)
    return [{"question": q, "context": c, "answer": s["text"], "start": s["start"], "end": s["end"],
             "score": round(s["score"], 6), "windows": k, "n_best": s["n_best"]}
            for q, c, s, k in zip(questions, contexts, spans, windows.per_example)]


def check_inputs(questions: Sequence[Any], contexts: Sequence[Any]) -> None:
    """One clear error for an empty question or passage (what ``predict`` and the Playground are given)."""
    from workbench.core.errors import WorkbenchError

    if len(questions) != len(contexts):
        raise WorkbenchError(f"{len(questions)} question(s) but {len(contexts)} passage(s).")
    for i, (q, c) in enumerate(zip(questions, contexts), 1):
        if not isinstance(q, str) or not q.strip():
            raise WorkbenchError(f"question {i} is empty: ask something about the passage.")
        if not isinstance(c, str) or not c.strip():
            raise WorkbenchError(f"the passage of question {i} is empty: give the text the answer is to be found in.")
