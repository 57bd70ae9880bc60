"""What the comparison asks of a task: a ``TaskCompare`` (``Task.comparison()``, defined in each task package's
``compare`` module), and the task-free pieces several of them are built from (record checks, exact-match
counts, the accuracy test). Nothing in ``workbench.core.compare`` looks at a task's name.

A ``TaskCompare`` says what a run's predictions.jsonl holds and how to check its records, which metric rows
and curves the task adds, where its per-class scores come from, and how two of its runs are paired and tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from workbench.core.compare.data import Loaded, PairTest
from workbench.core.compare.render import verdict_text
from workbench.core.compare.stats import mcnemar_exact, paired_bootstrap_ci
from workbench.core.runs import Run

Row = tuple[str, str, str]  # a metrics-table row: (key, label, which direction is better: "higher" | "lower")


# ------------------------------------------------------------------------------------------ shared by tasks
_SCALAR = (str, int, float, bool)


def id_problem(rec: dict[str, Any]) -> str | None:
    if not isinstance(rec.get("id"), (str, int)) or isinstance(rec.get("id"), bool):
        return "an id that is not a number or text"
    return None


def malformed(name: str, why: str | None) -> str | None:
    return f"{name}'s predictions.jsonl has a malformed record ({why})." if why else None


def _span_ok(span: Any) -> bool:
    return (isinstance(span, dict) and isinstance(span.get("type"), str)
            and all(isinstance(span.get(k), int) and not isinstance(span.get(k), bool) for k in ("start", "end")))


def _label_problem(rec: dict[str, Any]) -> str | None:
    if not isinstance(rec.get("gold"), _SCALAR) or not isinstance(rec.get("predicted"), _SCALAR):
        return "a gold or predicted value that is not a single label"
    if rec.get("scores") is not None and not (isinstance(rec["scores"], dict)
                                              and all(isinstance(k, str) for k in rec["scores"])):
        return "scores that are not an object of label: score"
    for key in ("gold_spans", "predicted_spans"):
        if rec.get(key) is not None and not (isinstance(rec[key], list) and all(_span_ok(s) for s in rec[key])):
            return f"{key} that are not a list of {{type, start, end}} spans"
    return None


def labelled_record_problem(name: str, rec: dict[str, Any]) -> str | None:
    """Why one labelled predictions.jsonl record (id, gold, predicted, optional scores and spans) is not what
    the final evaluation writes, or None. ``rec`` has every field of ``TaskCompare.record_fields``."""
    return malformed(name, id_problem(rec) or _label_problem(rec))


def no_special_note(run: Run) -> str | None:
    """No task-specific reason for missing predictions: the comparison says which status the run has."""
    return None


def run_class_labels(run: Run) -> list[Any]:
    """The class labels run.json lists (text classification: the label set the model was trained on)."""
    return list(run.info.get("labels") or [])


def _confusion_ok(matrix: Any, labels: Any) -> bool:
    return (isinstance(labels, list) and isinstance(matrix, list) and len(matrix) == len(labels)
            and all(isinstance(row, list) and len(row) == len(labels)
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in row) for row in matrix))


def recorded_with_confusion(recorded: dict[str, Any]) -> dict[str, Any] | None:
    """run.json's evaluation when it has per-class scores, labels and a well-formed confusion matrix."""
    if (recorded.get("per_class") and recorded.get("labels")
            and _confusion_ok(recorded.get("confusion_matrix"), recorded.get("labels"))):
        return recorded
    return None


def exact_matches(x: Loaded, y: Loaded) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """The shared example ids and, per example, whether each run's predicted label equals the gold one."""
    keys = list(x.records)
    ca = np.array([x.records[k]["predicted"] == x.records[k]["gold"] for k in keys], dtype=bool)
    cb = np.array([y.records[k]["predicted"] == y.records[k]["gold"] for k in keys], dtype=bool)
    return keys, ca, cb


def labelled_test(a: int, b: int, keys: list[Any], ca: np.ndarray, cb: np.ndarray, diff: float, low: float,
                   high: float, p: float, label_a: str, label_b: str, *, alpha: float, measure: str,
                   f1_a: float | None = None, f1_b: float | None = None) -> PairTest:
    """A ``PairTest`` of labelled predictions: right/wrong counts from ``ca``/``cb``, the measure's difference
    and interval (fractions, reported in points) and p, and its verdict."""
    a_only, b_only = int(np.sum(ca & ~cb)), int(np.sum(~ca & cb))
    significant = bool(p < alpha and (low > 0 or high < 0))
    test = PairTest(a, b, verdict="", n=len(keys), both_right=int(np.sum(ca & cb)), a_only=a_only, b_only=b_only,
                    both_wrong=int(np.sum(~ca & ~cb)), accuracy_a=float(ca.mean()), accuracy_b=float(cb.mean()),
                    diff_pt=diff * 100, ci_low_pt=low * 100, ci_high_pt=high * 100, p_value=p,
                    significant=significant, winner=(b if diff > 0 else a) if significant else None,
                    measure=measure, f1_a=f1_a, f1_b=f1_b)
    test.verdict = verdict_text(test, label_a, label_b, confidence=1.0 - alpha)
    return test


def accuracy_pair(x: Loaded, y: Loaded, a: int, b: int, label_a: str, label_b: str, *,
                  n_boot: int, seed: int, alpha: float) -> PairTest:
    """Accuracy of two runs' labelled predictions on the same examples: McNemar's exact test and a paired
    bootstrap interval. The test for text classification, and for any pair of runs of different tasks."""
    keys, ca, cb = exact_matches(x, y)
    p = mcnemar_exact(int(np.sum(ca & ~cb)), int(np.sum(~ca & cb)))
    low, high = paired_bootstrap_ci(ca, cb, n_boot=n_boot, seed=seed, confidence=1.0 - alpha)
    diff = float(cb.mean() - ca.mean())
    return labelled_test(a, b, keys, ca, cb, diff, low, high, p, label_a, label_b, alpha=alpha, measure="accuracy")


# ------------------------------------------------------------------------------------------ the group
PairFn = Callable[..., PairTest]  # (x, y, a, b, label_a, label_b, *, n_boot, seed, alpha) -> PairTest


@dataclass(frozen=True, eq=False)  # compared by identity: ``for_pair`` asks whether two runs share a group
class TaskCompare:
    """How the comparison treats one task's runs.

    Rows and curves: the metrics table is this task's ``rows`` (before the shared eval loss, train time,
    samples/s and parameters rows when ``first``, after them otherwise), and the curves likewise get
    ``eval_<key>`` for each of ``curves``. ``rows_shown`` says when the rows appear:

    - "unless-another-task": always, except when every compared run is of one other task;
    - "with-a-value": each row when some compared run (of any task) has a value for it;
    - "with-the-task": when some compared run is of this task.
    """

    predictions: str  # what predictions.jsonl holds per example: "labels" (gold/predicted) or "loss" (loss/tokens)
    record_fields: tuple[str, ...]  # the fields every record must have
    record_problem: Callable[[str, dict[str, Any]], str | None]  # (run name, record) -> why it cannot be used
    missing_note: Callable[[Run], str | None]  # a task's own reason for a run without predictions, or None
    main_metric: str  # the headline row when every compared run is of this task
    rows: tuple[Row, ...]
    rows_shown: str
    first: bool
    curves: tuple[str, ...]
    rows_from_eval_events: bool  # a run without final metrics takes these rows from its latest eval event
    class_labels: Callable[[Run], list[Any]]  # the run's classes beyond those its evaluation names
    evaluation: Callable[[Loaded, dict[str, Any]], dict[str, Any] | None]  # (run, run.json's checked evaluation)
    pair: PairFn  # the paired test of two runs of this task on the same examples
    settings: dict[str, str] = field(default_factory=dict)  # how its tests work, for ``Comparison.settings``


def for_task(task: str | None) -> TaskCompare:
    """The group for runs of ``task``; a run of a task this version does not know is read as text classification."""
    from workbench.core.tasks import task_or_default

    return task_or_default(task).comparison()


def all_groups() -> tuple[TaskCompare, ...]:
    """Every registered task's group, in registry order (the metrics table's order)."""
    from workbench.core.tasks import task_names

    return tuple(dict.fromkeys(for_task(name) for name in task_names()))


def for_pair(task_a: str, task_b: str) -> TaskCompare:
    """The group whose ``pair`` tests a run of ``task_a`` against one of ``task_b``: their task's when they
    share one, else text classification's (runs of two tasks can only be compared on their labels)."""
    group = for_task(task_a)
    return group if group is for_task(task_b) else for_task(None)
