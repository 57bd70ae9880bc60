"""Extractive QA evaluation: the official SQuAD v1.1 exact match and F1 over the best span of every question
(windows and span search from ``squad``, shared with the ONNX reader), per-question records, and the
PyTorch reader the Playground uses before a run is exported."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from workbench.core.errors import WorkbenchError
from workbench.core.models import load_run_model
from workbench.core.tasks.question_answering import squad
from workbench.core.tasks.question_answering.train import AUTO_CLASS, WindowSettings, windows_for

EXCERPT_CHARS = 160


def score_answers(predicted: Sequence[str], golds: Sequence[Sequence[str]]) -> dict[str, float]:
    """``exact_match`` and ``f1`` as fractions (the official figures divided by 100)."""
    scores = squad.squad_scores(predicted, golds)
    return {"exact_match": scores["exact_match"] / 100, "f1": scores["f1"] / 100}


def metrics_hook(data, tokenizer, cfg):
    """The Trainer's ``compute_metrics``: the eval windows' start/end logits (Trainer order: the eval split's
    windows as ``tokenize`` made them) → best spans → exact match and F1 of every eval question."""
    questions, contexts = list(data.eval["question"]), list(data.eval["context"])
    golds = list(data.eval["answer_texts"])
    windows = windows_for(tokenizer, questions, contexts, cfg)

    def compute_metrics(eval_pred) -> dict[str, float]:
        start, end = eval_pred.predictions[:2]
        spans = squad.best_spans(np.asarray(start), np.asarray(end), windows, contexts)
        return score_answers([s["text"] for s in spans], golds)

    return compute_metrics


def torch_batch_runner(model):
    """``run_batch`` (see ``squad.window_logits``) for a PyTorch QA model."""
    import torch

    device = next(model.parameters()).device

    def run(feed):
        with torch.inference_mode():
            out = model(**{k: torch.from_numpy(v).to(device) for k, v in feed.items()})
        return out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()

    return run


def model_inputs(model, tokenizer) -> list[str]:
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in tokenizer.model_input_names and getattr(model.config, "type_vocab_size", 0):
        names.append("token_type_ids")
    return names


def predict_spans(model, tokenizer, questions, contexts, cfg, *, batch_size: int = 64) -> list[dict[str, Any]]:
    """The best span of every question (length-sorted batches), in input order."""
    model.eval()
    windows = windows_for(tokenizer, questions, contexts, cfg)
    starts, ends = squad.window_logits(torch_batch_runner(model), windows, input_names=model_inputs(model, tokenizer),
                                       pad_id=int(tokenizer.pad_token_id or 0), batch_size=batch_size)
    return squad.best_spans(starts, ends, windows, contexts)


def excerpt(context: str, start: int, end: int, width: int = EXCERPT_CHARS) -> str:
    """The passage around ``[start, end)``, about ``width`` characters, with … where it was cut."""
    pad = max(0, (width - (end - start)) // 2)
    a, b = max(0, start - pad), min(len(context), end + pad)
    return ("…" if a > 0 else "") + " ".join(context[a:b].split()) + ("…" if b < len(context) else "")


def prediction_records(ids, questions, contexts, golds, gold_starts, spans) -> list[dict[str, Any]]:
    """One record per question: the gold answers, the predicted text and its score, EM and F1. ``gold`` holds
    the gold answers joined by " | " and ``correct`` is the exact match, so the shared comparison code (the
    disagreement browser) reads them as it reads labels."""
    records = []
    for qid, q, c, g, gs, span in zip(ids, questions, contexts, golds, gold_starts, spans):
        em, f1 = squad.best_over_golds(span["text"], g)
        first = int(gs[0])
        records.append({
            "id": str(qid), "input": f"{q}  ‖  {excerpt(c, first, first + len(g[0]))}", "question": q,
            "gold": " | ".join(dict.fromkeys(g)), "golds": list(g), "predicted": span["text"],
            "start": span["start"], "end": span["end"], "score": round(float(span["score"]), 6),
            "exact_match": em, "f1": round(f1, 6), "correct": bool(em),
        })
    return records


def final_evaluation(model, tokenizer, data, cfg) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The full report and one record per eval question, in input order."""
    ev = data.eval
    questions, contexts, golds = list(ev["question"]), list(ev["context"]), list(ev["answer_texts"])
    spans = predict_spans(model, tokenizer, questions, contexts, cfg, batch_size=cfg.eval_batch_size)
    report = _report([s["text"] for s in spans], golds, contexts)
    report.update(max_length=cfg.max_length, doc_stride=cfg.doc_stride)
    return report, prediction_records(ev["id"], questions, contexts, golds, ev["answer_starts"], spans)


def _report(predicted, golds, contexts) -> dict[str, Any]:
    scores = score_answers(predicted, golds)
    return {**scores, "questions": len(predicted), "passages": len(set(contexts)),
            "empty_answers": sum(1 for p in predicted if not p)}


def evaluate_run(run, data: str, *, text_column: str | None = None, label_column: str | None = None,
                 batch_size: int = 64) -> dict[str, Any]:
    """``sft-workbench eval`` for a QA run: exact match and F1 of the run's model on any QA data set."""
    from workbench.core.datasets import read_source
    from workbench.core.tasks.question_answering.data import normalise

    if not (run.model_dir / "config.json").is_file():
        raise WorkbenchError(f"run {run.name} has no final model (status: {run.status}).")
    raw = read_source(data)
    df, skipped = normalise(raw.get("dev", raw.get("test", raw.get("train"))), question_column=text_column,
                            context_column=label_column, split="eval", source=str(data))
    model, tokenizer = load_run_model(run, AUTO_CLASS)
    questions, contexts, golds = df["question"].tolist(), df["context"].tolist(), df["answer_texts"].tolist()
    spans = predict_spans(model, tokenizer, questions, contexts, WindowSettings.of_run(run.config), batch_size=batch_size)
    report = _report([s["text"] for s in spans], golds, contexts)
    report.update(task="question-answering", rows=len(df), skipped=skipped.to_dict() if skipped is not None else None,
                  data=str(data), run=run.id)
    return report


class TorchReader:
    """A run's PyTorch model behind the same ``predict`` as the ONNX ``OnnxReader`` (for the Playground)."""

    def __init__(self, model, tokenizer, config: dict[str, Any]):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.settings = WindowSettings.of_run(config)
        self.labels: list[str] = []
        self._tok = squad.window_tokenizer(tokenizer, max_length=self.settings.max_length, stride=self.settings.doc_stride)

    @classmethod
    def from_run(cls, run) -> "TorchReader":
        model, tokenizer = load_run_model(run, AUTO_CLASS)
        return cls(model, tokenizer, run.config)

    def predict(self, items, batch_size: int = 32) -> list[dict[str, Any]]:
        """``items``: ``{"question", "context"}`` mappings (or ``(question, context)`` pairs) → answers."""
        from workbench.core.tasks.question_answering.predict import split_items

        questions, contexts = split_items(items)
        return squad.answer(torch_batch_runner(self.model), self._tok, questions, contexts,
                            input_names=model_inputs(self.model, self.tokenizer),
                            pad_id=int(self.tokenizer.pad_token_id or 0), batch_size=batch_size)
