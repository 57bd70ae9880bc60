"""How ``compare`` treats text classification runs: accuracy and macro-F1 rows, McNemar's exact test."""

from __future__ import annotations

from typing import Any

from workbench.core.compare.by_task import (Row, TaskCompare, accuracy_pair, labelled_record_problem, no_special_note,
                                            recorded_with_confusion, run_class_labels)
from workbench.core.compare.data import Loaded

CLASSIFICATION_ROWS: tuple[Row, ...] = (("accuracy", "accuracy", "higher"), ("macro_f1", "macro-F1", "higher"))


def classification_evaluation(loaded: Loaded, recorded: dict[str, Any]) -> dict[str, Any] | None:
    """Per-class scores and confusion matrix: run.json's (``recorded``), else computed from the predictions."""
    evaluation = recorded_with_confusion(recorded)
    if evaluation is not None:
        return evaluation
    if not loaded.records or loaded.kind != "labels":
        return None
    from workbench.core.tasks.classification.evaluate import classification_report

    recs = list(loaded.records.values())
    labels = list(loaded.run.info.get("labels") or [])
    labels += sorted({str(r["gold"]) for r in recs} | {str(r["predicted"]) for r in recs} - set(labels))
    index = {label: i for i, label in enumerate(labels)}
    return classification_report([index[str(r["gold"])] for r in recs], [index[str(r["predicted"])] for r in recs], labels)


COMPARE = TaskCompare(
    predictions="labels", record_fields=("id", "gold", "predicted"), record_problem=labelled_record_problem,
    missing_note=no_special_note, main_metric="accuracy", rows=CLASSIFICATION_ROWS, rows_shown="unless-another-task",
    first=True, curves=("accuracy", "macro_f1"), rows_from_eval_events=True, class_labels=run_class_labels,
    evaluation=classification_evaluation, pair=accuracy_pair,
    settings={"test": "McNemar exact (two-sided binomial on discordant pairs)",
              "interval": "paired percentile bootstrap of the accuracy difference"})
