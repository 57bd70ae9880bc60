"""Token classification (NER): one IOB2 tag per word, scored on entities (seqeval, conlleval-compatible).

``data`` (CoNLL/JSONL sentences, IOB1 → IOB2, inspect), ``train`` (model, word-piece label alignment, capitals
as token types), ``evaluate`` (entity metrics, word tags, per-sentence records), ``spans`` (IOB tags ↔ entity
spans; torch-free), ``export`` (ONNX validation on entity F1 and the model card), ``predict`` (the torch-free
``OnnxTagger``), ``report`` (tables the CLI and the UI show). Importing this package imports none of them.
"""

from __future__ import annotations

from typing import Any, Sequence

from workbench.core.tasks.base import Capabilities, ExportGate, Headline, Metrics, Words
from workbench.core.tasks.encoder import EncoderTask


class TokenClassification(EncoderTask):
    name = "token-classification"
    title = "token classification"
    metrics = Metrics("f1", True, ("f1", "precision", "recall", "token_accuracy"))
    headline = Headline(("f1", "precision", "recall"), ("entity F1", "P", "R"), (4, 4, 4))
    peft_task_type = "TOKEN_CLS"
    capabilities = Capabilities(playground="tag", private_loss="token")
    words = Words(examples="sentences", label="entity type", counts="Entities", counted="entities",
                  per_label_score="F1")
    # Measured with benchmarks/conll.py on CoNLL-2003 train → test, default model, 3 epochs (before capitals as
    # token types): test entity F1 after epochs 1-3 was 0.805, 0.828, 0.847 at lr 5e-5 and 0.831, 0.862, 0.863 at
    # lr 2e-4 (README, "Token classification"). The small uncased MiniLM learns tagging faster with the larger step.
    defaults = {"lr": 2e-4}
    export_gate = ExportGate(default=1.0, unit="entity-F1 points")
    prediction_header = "row\tentities\ttext"
    example_input = '"Angela Merkel visited Paris"'

    def recognises(self, columns: Sequence[str]) -> bool:
        cols = {c.lower() for c in columns}
        return "tokens" in cols and bool(cols & {"tags", "ner_tags", "labels"})

    def compute_metrics(self, data, tokenizer, cfg):
        from workbench.core.tasks.token_classification.evaluate import metrics_hook

        return metrics_hook(data)

    def evaluate(self, run, data, *, text_column=None, label_column=None, batch_size=64) -> dict[str, Any]:
        from workbench.core.tasks.token_classification.evaluate import evaluate_run

        return evaluate_run(run, data, text_column=text_column, label_column=label_column, batch_size=batch_size)

    def export(self, run, *, target, int8, opset, data, max_int8_drop, progress=None):
        from workbench.core.tasks.token_classification.export import export_ner_run

        return export_ner_run(run, target=target, int8=int8, opset=opset, data=data, max_int8_drop=max_int8_drop,
                              progress=progress)

    def open_predictor(self, export_dir, *, int8=False, threads=None):
        from workbench.core.tasks.token_classification.predict import OnnxTagger

        return OnnxTagger(export_dir, int8=int8, threads=threads)

    def open_run_predictor(self, run):
        from workbench.core.tasks.token_classification.evaluate import TorchTagger

        return TorchTagger.from_run(run)


TASK = TokenClassification()
