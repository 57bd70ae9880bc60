"""Token classification evaluation: entity-level seqeval metrics (conlleval-compatible: micro
precision/recall/F1 and per-type scores), word-tag prediction and per-sentence records."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from workbench.core.errors import WorkbenchError
from workbench.core.models import load_run_model
from workbench.core.tasks.token_classification.spans import split_tag, tags_to_spans
from workbench.core.tasks.token_classification.data import normalise_sentences
from workbench.core.tasks.token_classification.train import AUTO_CLASS, IGNORE, encode_words, uses_case_types
from workbench.core.tasks import run_setting


# --------------------------------------------------------------------------------------- metrics
def ner_report(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Entity-level micro precision/recall/F1 and per-type scores (seqeval, conlleval mode), token accuracy."""
    from seqeval.metrics import accuracy_score, classification_report, f1_score, precision_score, recall_score

    gold, pred = [list(g) for g in gold], [list(p) for p in pred]
    per = classification_report(gold, pred, output_dict=True, zero_division=0)
    types = sorted(k for k in per if k not in ("micro avg", "macro avg", "weighted avg"))
    return {
        "f1": float(f1_score(gold, pred, zero_division=0)),
        "precision": float(precision_score(gold, pred, zero_division=0)),
        "recall": float(recall_score(gold, pred, zero_division=0)),
        "token_accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
        "per_class": {t: {"precision": float(per[t]["precision"]), "recall": float(per[t]["recall"]),
                          "f1": float(per[t]["f1-score"]), "support": int(per[t]["support"])} for t in types},
        "entity_types": types,
    }


def metrics_hook(data):
    """The Trainer's ``compute_metrics``: word-level tags from the first piece of each word."""
    labels = list(data.schema.labels)

    def compute_metrics(eval_pred) -> dict[str, float]:
        logits, label_ids = eval_pred.predictions, eval_pred.label_ids
        if isinstance(logits, tuple):
            logits = logits[0]
        pred_ids = np.asarray(logits).argmax(-1)
        gold, pred = [], []
        for p_row, g_row in zip(pred_ids, np.asarray(label_ids)):
            keep = g_row != IGNORE
            gold.append([labels[i] for i in g_row[keep]])
            pred.append([labels[i] for i in p_row[keep]])
        report = ner_report(gold, pred)
        out = {k: report[k] for k in ("f1", "precision", "recall", "token_accuracy")}
        out.update({f"f1_{t}": v["f1"] for t, v in report["per_class"].items()})
        return out

    return compute_metrics


# --------------------------------------------------------------------------------------- prediction
def predict_word_tags(model, tokenizer, sentences: Sequence[Sequence[str]], *, max_length: int,
                      batch_size: int = 64) -> list[list[str]]:
    """One predicted tag per word, in input order (length-sorted batches). A word cut off by truncation is
    predicted ``O``."""
    import torch

    id2label = {int(k): v for k, v in model.config.id2label.items()}
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    out: list[list[str]] = [[] for _ in sentences]
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = encode_words(tokenizer, [sentences[i] for i in idx], max_length=max_length,
                               case_types=uses_case_types(model), padding=True, return_tensors="pt")
            ids = model(**enc.to(model.device)).logits.argmax(-1).cpu().numpy()
            for row, i in enumerate(idx):
                tags = ["O"] * len(sentences[i])
                previous = None
                for pos, word in enumerate(enc.word_ids(row)):
                    if word is not None and word != previous:
                        tags[word] = id2label[int(ids[row, pos])]
                    previous = word
                out[i] = tags
    return out


class TorchTagger:
    """A run's PyTorch model behind the same ``predict(texts)`` as the ONNX ``OnnxTagger`` (for the Playground)."""

    def __init__(self, model, tokenizer, max_length: int = 128):
        self.model, self.tokenizer, self.max_length = model.eval(), tokenizer, max_length
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]

    @classmethod
    def from_run(cls, run) -> "TorchTagger":
        model, tokenizer = load_run_model(run, AUTO_CLASS)
        return cls(model, tokenizer, int(run_setting(run, "max_length")))

    def tag_words(self, sentences, batch_size: int = 32) -> list[dict[str, Any]]:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(sentences), batch_size):
                batch = [list(s) for s in sentences[start:start + batch_size]]
                enc = encode_words(self.tokenizer, batch, max_length=self.max_length,
                                   case_types=uses_case_types(self.model), padding=True, return_tensors="pt")
                probs = torch.softmax(self.model(**enc).logits.float(), -1).numpy()
                for row, words in enumerate(batch):
                    tags, scores, previous = ["O"] * len(words), [1.0] * len(words), None
                    for pos, word in enumerate(enc.word_ids(row)):
                        if word is not None and word != previous:
                            best = int(probs[row, pos].argmax())
                            tags[word], scores[word] = self.labels[best], float(probs[row, pos, best])
                        previous = word
                    out.append({"tags": tags, "scores": scores})
        return out

    def predict(self, texts, batch_size: int = 32) -> list[dict[str, Any]]:
        from workbench.core.tasks.token_classification.predict import predict_texts

        return predict_texts(self.tag_words, texts, batch_size)


def prediction_records(sentences, gold, pred) -> list[dict[str, Any]]:
    """One record per sentence. ``gold``/``predicted`` hold the tags joined by spaces, so the generic
    comparison code (exact-match correctness, McNemar) works on them unchanged."""
    records = []
    for i, (tokens, g, p) in enumerate(zip(sentences, gold, pred)):
        tokens, g, p = list(tokens), list(g), list(p)
        records.append({
            "id": i,
            "input": " ".join(tokens),
            "tokens": tokens,
            "gold": " ".join(g),
            "predicted": " ".join(p),
            "gold_tags": g,
            "predicted_tags": p,
            "gold_spans": tags_to_spans(g, tokens),
            "predicted_spans": tags_to_spans(p, tokens),
            "correct": g == p,
        })
    return records


def final_evaluation(model, tokenizer, data, cfg) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The full report and one record per eval sentence, in input order, from our own predict loop (the
    Trainer's eval loader may reorder by length)."""
    sentences, gold = list(data.eval["tokens"]), list(data.eval["tags"])
    pred = predict_word_tags(model, tokenizer, sentences, max_length=cfg.max_length, batch_size=cfg.eval_batch_size)
    report = ner_report(gold, pred)
    report["labels"] = list(data.schema.labels)
    report["sentence_accuracy"] = float(np.mean([g == p for g, p in zip(gold, pred)])) if gold else 0.0
    report["tag_scheme"] = getattr(data, "tag_scheme", "IOB2")
    return report, prediction_records(sentences, gold, pred)


def evaluate_run(run, data: str, *, text_column: str | None = None, label_column: str | None = None,
                 batch_size: int = 64) -> dict[str, Any]:
    """``sft-workbench eval`` for an NER run: entity metrics of the run's model on any tagged data set."""
    from workbench.core.datasets import read_source

    if not (run.model_dir / "config.json").is_file():
        raise WorkbenchError(f"run {run.name} has no final model (status: {run.status}).")
    raw = read_source(data)
    df = raw.get("dev", raw.get("test", raw.get("train")))
    norm, iob1, skipped = normalise_sentences(df, token_column=text_column, tag_column=label_column, split="eval",
                                              source=str(data))
    model, tokenizer = load_run_model(run, AUTO_CLASS)
    known = {split_tag(l)[1] for l in model.config.id2label.values()}
    unseen = sorted({split_tag(t)[1] for tags in norm["tags"] for t in tags if t != "O"} - known)
    if unseen:
        raise WorkbenchError(f"{data} has entity type(s) the model was not trained on: {', '.join(map(repr, unseen[:5]))}.")
    sentences, gold = norm["tokens"].tolist(), norm["tags"].tolist()
    pred = predict_word_tags(model, tokenizer, sentences, max_length=int(run_setting(run, "max_length")), batch_size=batch_size)
    report = ner_report(gold, pred)
    report.update(task="token-classification", rows=len(sentences), data=str(data), run=run.id,
                  skipped=skipped.to_dict() if skipped is not None else None,
                  tag_scheme="IOB1 (converted to IOB2)" if iob1 else "IOB2",
                  sentence_accuracy=float(np.mean([g == p for g, p in zip(gold, pred)])))
    return report
