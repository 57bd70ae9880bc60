"""Evaluate a finished run's model on a data set: metrics plus one prediction record per example."""

from __future__ import annotations

from typing import Any

from workbench.core.datasets import infer_schema, normalise, read_source
from workbench.core.errors import WorkbenchError
from workbench.core.runs import Run


def load_run_model(run: Run):
    """The run's final model and tokenizer (safetensors only; no remote code)."""
    if not (run.model_dir / "config.json").is_file():
        raise WorkbenchError(f"run {run.name} has no final model (status: {run.status}).")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(run.model_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(run.model_dir), use_safetensors=True)
    model.eval()
    return model, tokenizer


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
    from workbench.core.tasks import get_task

    task = get_task(run.task)
    if hasattr(task, "evaluate_run"):  # tasks other than text classification evaluate their own way
        return task.evaluate_run(run, data, text_column=text_column, label_column=label_column, batch_size=batch_size)
    raw = read_source(data)
    df = raw.get("dev", raw.get("test", raw.get("train")))
    run_data = run.info.get("data") or {}
    text_column = text_column or (run_data.get("text_column") if run_data.get("text_column") in df.columns else None)
    label_column = label_column or (run_data.get("label_column") if run_data.get("label_column") in df.columns else None)
    schema = infer_schema(df, text_column, label_column, source=str(data))
    norm = normalise(df, schema, split="eval", source=str(data))
    model, tokenizer = load_run_model(run)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    unseen = sorted(set(norm["label"]) - set(labels))
    if unseen:
        raise WorkbenchError(f"{data} has label(s) the model was not trained on: {', '.join(map(repr, unseen[:5]))}.")
    texts, gold = norm["text"].tolist(), norm["label"].tolist()
    logits = predict_logits(model, tokenizer, texts, max_length=int(run.config.get("max_length", 128)), batch_size=batch_size)
    label2id = {l: i for i, l in enumerate(labels)}
    report = task.classification_report([label2id[g] for g in gold], logits.argmax(-1).tolist(), labels)
    report["rows"] = len(texts)
    report["data"] = str(data)
    report["run"] = run.id
    return report
