"""Text classification: tokenisation, metrics (scikit-learn) and per-example prediction records."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

MAIN_METRIC = "accuracy"


def tokenize(dataset, tokenizer, label2id: dict[str, int], max_length: int):
    """Tokenise without padding (the collator pads each batch dynamically) and map labels to ids."""

    def encode(batch):
        enc = tokenizer(batch["text"], truncation=True, max_length=max_length)
        enc["labels"] = [label2id[y] for y in batch["label"]]
        return enc

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names, desc=None)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


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


def compute_metrics(eval_pred) -> dict[str, float]:
    """Trainer hook: the scalar metrics logged at each evaluation."""
    from sklearn.metrics import accuracy_score, f1_score

    logits, gold = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    pred = logits.argmax(-1)
    return {
        "accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
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
