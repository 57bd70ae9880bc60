"""Text classification training pieces: the model, tokenisation and the Trainer's metrics."""

from __future__ import annotations


# The transformers class a finished run's model is loaded as (evaluation, the Playground, export, bench).
AUTO_CLASS = "AutoModelForSequenceClassification"


def build_model(path: str, data, cfg):
    """A sequence-classification head on the pretrained encoder, with id2label/label2id in its config."""
    from transformers import AutoModelForSequenceClassification

    from workbench.core.training.devices import model_load_kwargs

    from workbench.core.pooling import first_pooled, mean_pooled, wants_mean
    from workbench.core.tasks.classification.first_token import first_token_only

    labels = data.schema.labels
    model = AutoModelForSequenceClassification.from_pretrained(
        path,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        # Master weights stay fp32 whatever the checkpoint holds; bf16/fp16 come from autocast.
        **model_load_kwargs(cfg),
    )
    # The mean of the last layer (workbench.core.pooling) where asked for and readable; else the pooler, whose last
    # layer computes the first token only: the same logits, 14% fewer matrix products per step (first_token.py).
    if not (wants_mean(cfg) and mean_pooled(model)):
        first_pooled(model)
        first_token_only(model)
    return model


def collator(tokenizer, *, pad_to_multiple_of: int | None = None):
    """Dynamic padding: each batch is padded to its own longest example."""
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)


def tokenize(dataset, tokenizer, data, cfg):
    """Tokenise without padding (the collator pads each batch dynamically) and map labels to ids."""
    label2id = {label: i for i, label in enumerate(data.schema.labels)}
    max_length = cfg.max_length

    def encode(batch):
        enc = tokenizer(batch["text"], truncation=True, max_length=max_length)
        enc["labels"] = [label2id[y] for y in batch["label"]]
        return enc

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names, desc=None)


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
