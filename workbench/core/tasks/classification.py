"""Text classification: tokenisation, metrics (scikit-learn) and per-example prediction records."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from workbench.core.tasks import METRICS

# The scalar metrics stored in run.json "metrics" (the rest of the report goes to "evaluation").
MAIN_METRIC, GREATER_IS_BETTER, SCALAR_METRICS = METRICS["text-classification"]


def build_model(path: str, data, cfg):
    """A sequence-classification head on the pretrained encoder, with id2label/label2id in its config."""
    from transformers import AutoModelForSequenceClassification

    from workbench.core.training.devices import model_load_kwargs

    labels = data.schema.labels
    return AutoModelForSequenceClassification.from_pretrained(
        path,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        # Master weights stay fp32 whatever the checkpoint holds; bf16/fp16 come from autocast.
        **model_load_kwargs(cfg),
    )


def collator(tokenizer, *, pad_to_multiple_of: int | None = None):
    """Dynamic padding: each batch is padded to its own longest example."""
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)


def final_evaluation(model, tokenizer, data, cfg) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The full report and one prediction record per example of the eval split, in input order.

    Logits come from our own length-sorted loop rather than ``trainer.predict``: the Trainer's eval loader may
    group by length, which would misalign its logits with ``texts``.
    """
    from workbench.core.evaluation import predict_logits

    texts, gold, labels = list(data.eval["text"]), list(data.eval["label"]), data.schema.labels
    model.eval()
    logits = predict_logits(model, tokenizer, texts, max_length=cfg.max_length, batch_size=cfg.eval_batch_size)
    label2id = {label: i for i, label in enumerate(labels)}
    report = classification_report([label2id[g] for g in gold], logits.argmax(-1).tolist(), labels)
    return report, prediction_records(texts, gold, logits, labels)


def tokenize(dataset, tokenizer, data, cfg):
    """Tokenise without padding (the collator pads each batch dynamically) and map labels to ids."""
    label2id = {label: i for i, label in enumerate(data.schema.labels)}
    max_length = cfg.max_length

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


def metrics_hook(data):
    """The Trainer's ``compute_metrics`` for this data set."""
    return compute_metrics


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
