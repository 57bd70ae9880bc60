"""How ``compare`` treats token classification runs: entity F1/P/R rows, approximate randomization of entity F1."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.core.compare.by_task import (Row, TaskCompare, accuracy_pair, exact_matches, labelled_record_problem,
                                            labelled_test, no_special_note)
from workbench.core.compare.data import Loaded, PairTest
from workbench.core.compare.stats import micro_f1, paired_f1_stats
from workbench.core.runs import Run

NER_ROWS: tuple[Row, ...] = (
    ("f1", "entity F1", "higher"),
    ("precision", "entity precision", "higher"),
    ("recall", "entity recall", "higher"),
    ("token_accuracy", "token accuracy", "higher"),
)


def entity_counts(record: dict[str, Any]) -> tuple[int, int, int]:
    """``(correct, predicted, gold)`` entities of one NER prediction record: exact (type, start, end) matches."""
    key = lambda span: (span["type"], span["start"], span["end"])
    gold = {key(s) for s in record.get("gold_spans") or []}
    pred = {key(s) for s in record.get("predicted_spans") or []}
    return len(gold & pred), len(pred), len(gold)


def ner_class_labels(run: Run) -> list[Any]:
    """None: an NER run's labels are its IOB tags, not classes; its entity types come from its evaluation."""
    return []


def ner_evaluation(loaded: Loaded, recorded: dict[str, Any]) -> dict[str, Any] | None:
    """Entity-level scores per type (seqeval) from run.json; entities have no confusion matrix."""
    per = recorded.get("per_class")
    types = recorded.get("entity_types")
    types = [str(t) for t in types] if isinstance(types, list) and types else sorted(map(str, per or {}))
    return {"per_class": per, "labels": types} if per else None


def ner_pair(x: Loaded, y: Loaded, a: int, b: int, label_a: str, label_b: str, *,
             n_boot: int, seed: int, alpha: float) -> PairTest:
    """Entity micro F1, what NER runs are trained and reported on, from the records' spans: approximate
    randomization over sentences for p and a paired bootstrap of sentences for the interval; the sentence
    exact-match counts are kept as context. Records without spans fall back to ``accuracy_pair``."""
    if not all(all("gold_spans" in r and "predicted_spans" in r for r in side.records.values()) for side in (x, y)):
        return accuracy_pair(x, y, a, b, label_a, label_b, n_boot=n_boot, seed=seed, alpha=alpha)
    keys, ca, cb = exact_matches(x, y)
    counts_a = [entity_counts(x.records[k]) for k in keys]
    counts_b = [entity_counts(y.records[k]) for k in keys]
    diff, low, high, p = paired_f1_stats(counts_a, counts_b, n_boot=n_boot, seed=seed, confidence=1.0 - alpha)
    f1_a, f1_b = (float(micro_f1(np.asarray(c, dtype=np.float64).sum(0))) for c in (counts_a, counts_b))
    return labelled_test(a, b, keys, ca, cb, diff, low, high, p, label_a, label_b, alpha=alpha, measure="entity_f1",
                          f1_a=f1_a, f1_b=f1_b)


COMPARE = TaskCompare(
    predictions="labels", record_fields=("id", "gold", "predicted"), record_problem=labelled_record_problem,
    missing_note=no_special_note, main_metric="f1", rows=NER_ROWS, rows_shown="with-the-task",
    first=False, curves=("f1",), rows_from_eval_events=True, class_labels=ner_class_labels,
    evaluation=ner_evaluation, pair=ner_pair,
    settings={"ner_test": "approximate randomization of entity micro F1, swapping sentences (NER runs)",
              "ner_interval": "paired percentile bootstrap of sentences for the entity F1 difference (NER runs)"})
