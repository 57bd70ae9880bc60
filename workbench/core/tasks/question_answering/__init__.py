"""Extractive question answering (SQuAD-style): given a question and a passage, point at the answer span.

``data`` (SQuAD JSON and flat rows, unusable rows skipped or refused, the dev split held out by passage,
inspect), ``squad`` (the official EM/F1, windows over long passages, the span search; torch-free and shared by
every engine), ``train`` (the span head, answer positions per window), ``evaluate`` (scores, per-question
records, the PyTorch reader), ``export`` (ONNX start/end logits validated on EM/F1), ``predict`` (the torch-free
``OnnxReader``), ``compare`` and ``report``. Importing this package imports none of them.
"""

from __future__ import annotations

from typing import Any, Sequence

from workbench.core.tasks.base import Capabilities, ExportGate, Headline, Metrics, Words
from workbench.core.tasks.encoder import EncoderTask


class QuestionAnswering(EncoderTask):
    name = "question-answering"
    title = "extractive question answering"
    metrics = Metrics("f1", True, ("exact_match", "f1"))
    headline = Headline(("f1", "exact_match"), ("F1", "EM"), (4, 4))
    peft_task_type = "QUESTION_ANS"
    capabilities = Capabilities(
        playground="answer", eval_curves=("exact_match",), private_loss=None,
        private_refusal=("a long passage is cut into several windows, so one question is several training examples and a "
                         "per-example guarantee would not protect it"))
    metric_labels = {"f1": "F1", "exact_match": "exact match"}
    words = Words(examples="questions", label="answer", counts="Answer words", per_label_score="F1")
    # max_length and doc_stride as in BERT's SQuAD recipe (384/128). lr: measured with benchmarks/squad.py.
    defaults = {"lr": 1e-4, "max_length": 384}
    export_gate = ExportGate(default=1.0, unit="F1 points")
    prediction_header = "row\tanswer\tscore\tquestion"
    example_input = '--question "Who wrote Faust?" --context-file passage.txt'

    def recognises(self, columns: Sequence[str]) -> bool:
        from workbench.core.tasks.question_answering.data import recognises

        return recognises(columns)

    def check_model(self, resolved, cfg) -> None:
        """Refuse window settings that leave no room for a passage (before a run directory exists)."""
        from workbench.core.errors import WorkbenchError
        from workbench.core.tasks.question_answering.squad import check_window_settings

        problem = check_window_settings(cfg.max_length, cfg.doc_stride)
        if problem:
            raise WorkbenchError(problem)

    def compute_metrics(self, data, tokenizer, cfg):
        from workbench.core.tasks.question_answering.evaluate import metrics_hook

        return metrics_hook(data, tokenizer, cfg)

    def evaluate(self, run, data, *, text_column=None, label_column=None, batch_size=64) -> dict[str, Any]:
        from workbench.core.tasks.question_answering.evaluate import evaluate_run

        return evaluate_run(run, data, text_column=text_column, label_column=label_column, batch_size=batch_size)

    def export(self, run, *, target, int8, opset, data, max_int8_drop, progress=None):
        from workbench.core.tasks.question_answering.export import export_qa_run

        return export_qa_run(run, target=target, int8=int8, opset=opset, data=data, max_int8_drop=max_int8_drop,
                             progress=progress)

    def open_predictor(self, export_dir, *, int8=False, threads=None):
        from workbench.core.tasks.question_answering.predict import OnnxReader

        return OnnxReader(export_dir, int8=int8, threads=threads)

    def open_run_predictor(self, run):
        from workbench.core.tasks.question_answering.evaluate import TorchReader

        return TorchReader.from_run(run)


TASK = QuestionAnswering()
