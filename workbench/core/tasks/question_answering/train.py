"""Extractive QA training pieces: the span head, passages cut into windows with the answer's token positions.

A window that does not hold the whole answer is labelled with the [CLS] token (position 0) for both start
and end, as in BERT's SQuAD recipe, so the model learns to score such windows low; evaluation never picks
a span outside the passage (``squad.best_spans``).
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.core.errors import WorkbenchError
from workbench.core.tasks.question_answering.squad import answer_positions, check_window_settings, make_windows, window_tokenizer

# The transformers class a finished run's model is loaded as (evaluation, the Playground, export, bench).
AUTO_CLASS = "AutoModelForQuestionAnswering"
DEFAULT_STRIDE = 128


def build_model(path: str, data, cfg):
    """A span (start/end logits) head on the pretrained encoder."""
    from transformers import AutoModelForQuestionAnswering

    from workbench.core.training.devices import model_load_kwargs

    return AutoModelForQuestionAnswering.from_pretrained(path, **model_load_kwargs(cfg))


DEFAULT_MAX_LENGTH = 384


@dataclass(frozen=True)
class WindowSettings:
    """What windows need of a run's config (a RunConfig has the same two fields)."""

    max_length: int
    doc_stride: int

    @classmethod
    def of_run(cls, config: dict) -> "WindowSettings":
        """From run.json's config (written after the task's defaults were applied)."""
        stride = config.get("doc_stride")
        return cls(int(config.get("max_length") or DEFAULT_MAX_LENGTH), DEFAULT_STRIDE if stride is None else int(stride))


def windows_for(tokenizer, questions, contexts, cfg):
    """The windows of ``questions``/``contexts`` at the run's ``max_length`` and ``doc_stride``."""
    if not getattr(tokenizer, "is_fast", False):
        raise WorkbenchError("question answering needs a fast tokenizer (character offsets); this model has only a slow one.")
    problem = check_window_settings(cfg.max_length, cfg.doc_stride)
    if problem:
        raise WorkbenchError(problem)
    tok = window_tokenizer(tokenizer, max_length=cfg.max_length, stride=cfg.doc_stride)
    return make_windows(tok, list(questions), list(contexts))


def tokenize(dataset, tokenizer, data, cfg):
    """Questions → windows (unpadded) with ``start_positions``/``end_positions`` of the first gold answer; an
    example becomes as many rows as its passage needs windows."""
    from datasets import Dataset

    windows = windows_for(tokenizer, dataset["question"], dataset["context"], cfg)
    texts, starts = dataset["answer_texts"], dataset["answer_starts"]
    start_positions, end_positions = [], []
    for w, example in enumerate(windows.example):
        first = int(starts[example][0])
        s, e = answer_positions(windows.offsets[w], first, first + len(texts[example][0]))
        start_positions.append(s)
        end_positions.append(e)
    columns = {**windows.columns(["input_ids", "attention_mask"]), "start_positions": start_positions,
               "end_positions": end_positions}
    if "token_type_ids" in tokenizer.model_input_names:
        columns["token_type_ids"] = windows.token_type_ids
    return Dataset.from_dict(columns)


def collator(tokenizer, *, pad_to_multiple_of: int | None = None):
    """Dynamic padding of the windows (the positions are one number per window)."""
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)
