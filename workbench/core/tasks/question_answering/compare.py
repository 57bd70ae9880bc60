"""How ``compare`` treats extractive QA runs: exact match and F1 rows; per-question F1 paired by a sign-flip
permutation test and a bootstrap, exact match by McNemar's test."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.core.compare.by_task import Row, TaskCompare, id_problem, malformed, no_special_note
from workbench.core.compare.data import Loaded, PairTest, num
from workbench.core.compare.render import verdict_text
from workbench.core.compare.stats import mcnemar_exact, paired_mean_stats
from workbench.core.runs import Run

QA_ROWS: tuple[Row, ...] = (("exact_match", "exact match", "higher"), ("f1", "F1", "higher"))


def qa_record_problem(name: str, rec: dict[str, Any]) -> str | None:
    """Why one per-question record (id, gold, predicted, exact_match, f1) cannot be used, or None."""
    if not isinstance(rec["gold"], str) or not isinstance(rec["predicted"], str):
        return malformed(name, "a gold or predicted answer that is not text")
    f1, em = num(rec["f1"]), num(rec["exact_match"])
    if f1 is None or em is None or not 0 <= f1 <= 1 or em not in (0.0, 1.0):
        return malformed(name, "an F1 outside [0, 1] or an exact match that is not 0 or 1")
    return malformed(name, id_problem(rec))


def qa_class_labels(run: Run) -> list[Any]:
    """None: answers are spans, not classes."""
    return []


def qa_evaluation(loaded: Loaded, recorded: dict[str, Any]) -> dict[str, Any] | None:
    """No per-class scores for spans."""
    return None


def qa_pair(x: Loaded, y: Loaded, a: int, b: int, label_a: str, label_b: str, *,
            n_boot: int, seed: int, alpha: float) -> PairTest:
    """Mean F1 of two runs on the same questions: a sign-flip permutation test and a paired bootstrap of the
    per-question F1 differences (the mean is over questions, as SQuAD's F1 is); exact match by McNemar."""
    keys = list(x.records)
    fa = np.array([float(x.records[k]["f1"]) for k in keys])
    fb = np.array([float(y.records[k]["f1"]) for k in keys])
    ea = np.array([float(x.records[k]["exact_match"]) == 1.0 for k in keys])
    eb = np.array([float(y.records[k]["exact_match"]) == 1.0 for k in keys])
    diff, low, high, p = paired_mean_stats(fa, fb, n_boot=n_boot, seed=seed, confidence=1.0 - alpha)
    a_only, b_only = int(np.sum(ea & ~eb)), int(np.sum(~ea & eb))
    significant = bool(p < alpha and (low > 0 or high < 0))
    test = PairTest(a, b, verdict="", n=len(keys), both_right=int(np.sum(ea & eb)), a_only=a_only, b_only=b_only,
                    both_wrong=int(np.sum(~ea & ~eb)), accuracy_a=float(ea.mean()), accuracy_b=float(eb.mean()),
                    diff_pt=diff * 100, ci_low_pt=low * 100, ci_high_pt=high * 100, p_value=p, significant=significant,
                    winner=(b if diff > 0 else a) if significant else None, measure="qa_f1",
                    f1_a=float(fa.mean()), f1_b=float(fb.mean()), p_exact_match=mcnemar_exact(a_only, b_only))
    test.verdict = verdict_text(test, label_a, label_b, confidence=1.0 - alpha)
    return test


COMPARE = TaskCompare(
    predictions="labels", record_fields=("id", "gold", "predicted", "exact_match", "f1"), record_problem=qa_record_problem,
    missing_note=no_special_note, main_metric="f1", rows=QA_ROWS, rows_shown="with-the-task",
    first=False, curves=("exact_match", "f1"), rows_from_eval_events=True, class_labels=qa_class_labels,
    evaluation=qa_evaluation, pair=qa_pair,
    settings={"qa_test": "sign-flip permutation test of per-question F1 differences; McNemar exact test of exact match (QA runs)",
              "qa_interval": "paired percentile bootstrap of questions for the mean F1 difference (QA runs)"})
