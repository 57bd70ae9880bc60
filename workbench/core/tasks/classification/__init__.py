"""Text classification: one label per text (sentiment, intent, topic).

``data`` (columns, labels, stratified dev split, inspect), ``train`` (model, tokenisation, Trainer metrics),
``evaluate`` (logits, scikit-learn report, prediction records), ``export`` (ONNX validation and model card),
``predict`` (the torch-free ``OnnxClassifier``), ``report`` (tables the CLI and the UI show). Importing this
package imports none of them.
"""

from __future__ import annotations

from typing import Any, Sequence

from workbench.core.tasks.base import Capabilities, ExportGate, Headline, Metrics, Task


class TextClassification(Task):
    name = "text-classification"
    title = "text classification"
    metrics = Metrics("accuracy", True, ("accuracy", "macro_f1"))
    headline = Headline(("accuracy", "macro_f1"), ("accuracy", "macro-F1"), (4, 4))
    capabilities = Capabilities(playground="classify")
    export_gate = ExportGate(default=1.0, unit="accuracy points")

    def recognises(self, columns: Sequence[str]) -> bool:
        return True  # any table with a text and a label column; the registry tries this task last

    def load_data(self, raw, *, data, eval_data, text_column, label_column, dev_fraction, seed):
        from workbench.core.tasks.classification.data import load_data

        return load_data(raw, data=data, eval_data=eval_data, text_column=text_column, label_column=label_column,
                         dev_fraction=dev_fraction, seed=seed)

    def inspect(self, raw, path, *, text_column, label_column, tokenizer, max_length, sample):
        from workbench.core.tasks.classification.data import inspect

        return inspect(raw, path, text_column=text_column, label_column=label_column, tokenizer=tokenizer,
                       max_length=max_length, sample=sample)

    def build_model(self, path, data, cfg):
        from workbench.core.tasks.classification.train import build_model

        return build_model(path, data, cfg)

    def tokenize(self, dataset, tokenizer, data, cfg):
        from workbench.core.tasks.classification.train import tokenize

        return tokenize(dataset, tokenizer, data, cfg)

    def collator(self, tokenizer, *, pad_to_multiple_of=None):
        from workbench.core.tasks.classification.train import collator

        return collator(tokenizer, pad_to_multiple_of=pad_to_multiple_of)

    def compute_metrics(self, data):
        from workbench.core.tasks.classification.train import compute_metrics

        return compute_metrics

    def final_evaluation(self, model, tokenizer, data, cfg):
        from workbench.core.tasks.classification.evaluate import final_evaluation

        return final_evaluation(model, tokenizer, data, cfg)

    def evaluate(self, run, data, *, text_column=None, label_column=None, batch_size=64) -> dict[str, Any]:
        from workbench.core.tasks.classification.evaluate import evaluate_run

        return evaluate_run(run, data, text_column=text_column, label_column=label_column, batch_size=batch_size)

    def export(self, run, *, target, int8, opset, data, max_int8_drop, progress=None):
        from workbench.core.tasks.classification.export import export

        return export(run, target=target, int8=int8, opset=opset, data=data, max_int8_drop=max_int8_drop,
                      progress=progress)

    def open_predictor(self, export_dir, *, int8=False, threads=None):
        from workbench.core.tasks.classification.predict import OnnxClassifier

        return OnnxClassifier(export_dir, int8=int8, threads=threads)

    def open_run_predictor(self, run):
        from workbench.core.tasks.classification.evaluate import TorchClassifier

        return TorchClassifier.from_run(run)

    def bench(self, export_dir, manifest, settings, *, progress=None):
        from workbench.core.bench import bench_encoder

        return bench_encoder(export_dir, manifest, settings, auto_class="AutoModelForSequenceClassification", progress=progress)

    def comparison(self):
        from workbench.core.tasks.classification.compare import COMPARE

        return COMPARE

    def eval_report(self, report, *, title):
        from workbench.core.tasks.classification.report import eval_report

        return eval_report(report, title=title)

    def export_report(self, manifest):
        from workbench.core.tasks.classification.report import export_report

        return export_report(manifest)


    def prediction_line(self, row, text, prediction):
        from workbench.core.tasks.classification.report import prediction_line

        return prediction_line(row, text, prediction)

    def predictions_table(self, texts, predictions, predictor):
        from workbench.core.tasks.classification.report import predictions_table

        return predictions_table(texts, predictions, predictor.labels)

    def bench_report(self, result):
        from workbench.core.report import encoder_bench_report

        return encoder_bench_report(result)


TASK = TextClassification()
