"""Text classification evaluation: logits of a run's model, the metrics report (scikit-learn) and one
prediction record per example."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from workbench.core.datasets import read_source
from workbench.core.errors import WorkbenchError
from workbench.core.inference import softmax
from workbench.core.models import load_run_model
from workbench.core.runs import Run
from workbench.core.tasks.classification.data import infer_schema, normalise
from workbench.core.tasks.classification.train import AUTO_CLASS
from workbench.core.tasks import run_setting



def final_evaluation(model, tokenizer, data, cfg, logits=None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The full report and one prediction record per example of the eval split, in input order.

    ``logits``: the best model's eval logits from training (input order), when the trainer kept them; otherwise
    they come from our own length-sorted loop.
    """
    texts, gold, labels = list(data.eval["text"]), list(data.eval["label"]), data.schema.labels
    if logits is None:
        model.eval()
        logits = predict_logits(model, tokenizer, texts, max_length=cfg.max_length, batch_size=cfg.eval_batch_size)
    label2id = {label: i for i, label in enumerate(labels)}
    report = classification_report([label2id[g] for g in gold], logits.argmax(-1).tolist(), labels)
    return report, prediction_records(texts, gold, logits, labels)


def classification_report(gold: Sequence[int], pred: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    ids = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=ids, zero_division=0)
    return {
        "accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, labels=ids, average="macro", zero_division=0)),
        "per_class": {
            labels[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i in ids
        },
        "confusion_matrix": confusion_matrix(gold, pred, labels=ids).tolist(),
        "labels": list(labels),
    }


def prediction_records(texts: Sequence[str], gold: Sequence[str], logits: np.ndarray, labels: Sequence[str]) -> list[dict[str, Any]]:
    """One record per eval example: what predictions.jsonl holds and comparisons read."""
    probs = softmax(np.asarray(logits, dtype=np.float64))
    pred = probs.argmax(-1)
    return [
        {
            "id": i,
            "input": texts[i],
            "gold": gold[i],
            "predicted": labels[int(pred[i])],
            "correct": gold[i] == labels[int(pred[i])],
            "scores": {labels[j]: round(float(probs[i, j]), 6) for j in range(len(labels))},
        }
        for i in range(len(texts))
    ]


def predict_logits(model, tokenizer, texts: list[str], *, max_length: int, batch_size: int = 64):
    """Logits for ``texts``, batched by length so padding stays small; returned in input order."""
    import numpy as np
    import torch

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
            out[idx] = model(**enc.to(model.device)).logits.float().cpu().numpy()
    return out


def evaluate_run(run: Run, data: str, *, text_column: str | None = None, label_column: str | None = None,
                 batch_size: int = 64) -> dict[str, Any]:
    raw = read_source(data)
    df = raw.get("dev", raw.get("test", raw.get("train")))
    run_data = run.info.get("data") or {}
    text_column = text_column or (run_data.get("text_column") if run_data.get("text_column") in df.columns else None)
    label_column = label_column or (run_data.get("label_column") if run_data.get("label_column") in df.columns else None)
    schema = infer_schema(df, text_column, label_column, source=str(data))
    norm, skipped = normalise(df, schema, split="eval", source=str(data))
    model, tokenizer = load_run_model(run, AUTO_CLASS)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    unseen = sorted(set(norm["label"]) - set(labels))
    if unseen:
        raise WorkbenchError(f"{data} has label(s) the model was not trained on: {', '.join(map(repr, unseen[:5]))}.")
    texts, gold = norm["text"].tolist(), norm["label"].tolist()
    logits = predict_logits(model, tokenizer, texts, max_length=int(run_setting(run, "max_length")), batch_size=batch_size)
    label2id = {l: i for i, l in enumerate(labels)}
    report = classification_report([label2id[g] for g in gold], logits.argmax(-1).tolist(), labels)
    report["rows"] = len(texts)
    report["skipped"] = skipped.to_dict() if skipped is not None else None
    report["data"] = str(data)
    report["run"] = run.id
    return report


class TorchClassifier:
    """A run's PyTorch model behind the same ``predict(texts)`` as the ONNX ``OnnxClassifier`` (the Playground)."""

    def __init__(self, model, tokenizer, max_length: int = 128):
        self.model, self.tokenizer, self.max_length = model.eval(), tokenizer, max_length
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]

    @classmethod
    def from_run(cls, run: Run) -> "TorchClassifier":
        model, tokenizer = load_run_model(run, AUTO_CLASS)
        return cls(model, tokenizer, int(run_setting(run, "max_length")))

    def predict(self, texts: Sequence[str] | str, batch_size: int = 32) -> list[dict[str, Any]]:
        """One ``{"label", "scores"}`` per text; ``scores`` maps every label to its probability."""
        if isinstance(texts, str):
            texts = [texts]
        logits = predict_logits(self.model, self.tokenizer, list(texts), max_length=self.max_length, batch_size=batch_size)
        probs = softmax(logits.astype(np.float64))
        return [{"label": self.labels[int(row.argmax())], "scores": {lab: float(p) for lab, p in zip(self.labels, row)}}
                for row in probs]
