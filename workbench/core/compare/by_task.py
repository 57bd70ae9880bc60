"""What the comparison does differently per task, in one place: one group of functions per task, chosen
through ``BY_TASK`` (task name → ``TaskCompare``). Nothing else in ``workbench.core.compare`` looks at a
task's name.

Each group says what a run's predictions.jsonl holds and how to check its records, which metric rows and
curves the task adds, where its per-class scores come from, and how two of its runs are paired and tested.
The functions take the loaded runs (``Loaded``) and return plain data (dicts, lists, ``PairTest``), so a
group can move into its task package (``workbench/core/tasks/<task>/``) and ``BY_TASK`` become a Task
method without touching the rest of the comparison. The helpers in the first section are task-free and
shared by several groups: they stay in compare when the groups move.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from workbench.core.compare.data import Loaded, PairTest, num
from workbench.core.compare.render import loss_verdict_text, verdict_text
from workbench.core.compare.stats import mcnemar_exact, micro_f1, paired_bootstrap_ci, paired_f1_stats, paired_loss_stats
from workbench.core.runs import Run

Row = tuple[str, str, str]  # a metrics-table row: (key, label, which direction is better: "higher" | "lower")


# ------------------------------------------------------------------------------------------ shared by tasks
_SCALAR = (str, int, float, bool)


def _id_problem(rec: dict[str, Any]) -> str | None:
    if not isinstance(rec.get("id"), (str, int)) or isinstance(rec.get("id"), bool):
        return "an id that is not a number or text"
    return None


def _malformed(name: str, why: str | None) -> str | None:
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
    return _malformed(name, _id_problem(rec) or _label_problem(rec))


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


def _recorded_with_confusion(recorded: dict[str, Any]) -> dict[str, Any] | None:
    """run.json's evaluation when it has per-class scores, labels and a well-formed confusion matrix."""
    if (recorded.get("per_class") and recorded.get("labels")
            and _confusion_ok(recorded.get("confusion_matrix"), recorded.get("labels"))):
        return recorded
    return None


def _exact_matches(x: Loaded, y: Loaded) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """The shared example ids and, per example, whether each run's predicted label equals the gold one."""
    keys = list(x.records)
    ca = np.array([x.records[k]["predicted"] == x.records[k]["gold"] for k in keys], dtype=bool)
    cb = np.array([y.records[k]["predicted"] == y.records[k]["gold"] for k in keys], dtype=bool)
    return keys, ca, cb


def _labelled_test(a: int, b: int, keys: list[Any], ca: np.ndarray, cb: np.ndarray, diff: float, low: float,
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
    keys, ca, cb = _exact_matches(x, y)
    p = mcnemar_exact(int(np.sum(ca & ~cb)), int(np.sum(~ca & cb)))
    low, high = paired_bootstrap_ci(ca, cb, n_boot=n_boot, seed=seed, confidence=1.0 - alpha)
    diff = float(cb.mean() - ca.mean())
    return _labelled_test(a, b, keys, ca, cb, diff, low, high, p, label_a, label_b, alpha=alpha, measure="accuracy")


# ------------------------------------------------------------------------------------------ text classification
CLASSIFICATION_ROWS: tuple[Row, ...] = (("accuracy", "accuracy", "higher"), ("macro_f1", "macro-F1", "higher"))


def classification_evaluation(loaded: Loaded, recorded: dict[str, Any]) -> dict[str, Any] | None:
    """Per-class scores and confusion matrix: run.json's (``recorded``), else computed from the predictions."""
    evaluation = _recorded_with_confusion(recorded)
    if evaluation is not None:
        return evaluation
    if not loaded.records or loaded.kind != "labels":
        return None
    from workbench.core.tasks.classification import classification_report

    recs = list(loaded.records.values())
    labels = list(loaded.run.info.get("labels") or [])
    labels += sorted({str(r["gold"]) for r in recs} | {str(r["predicted"]) for r in recs} - set(labels))
    index = {label: i for i, label in enumerate(labels)}
    return classification_report([index[str(r["gold"])] for r in recs], [index[str(r["predicted"])] for r in recs], labels)


classification_pair = accuracy_pair


# ------------------------------------------------------------------------------------------ token classification (NER)
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
    keys, ca, cb = _exact_matches(x, y)
    counts_a = [entity_counts(x.records[k]) for k in keys]
    counts_b = [entity_counts(y.records[k]) for k in keys]
    diff, low, high, p = paired_f1_stats(counts_a, counts_b, n_boot=n_boot, seed=seed, confidence=1.0 - alpha)
    f1_a, f1_b = (float(micro_f1(np.asarray(c, dtype=np.float64).sum(0))) for c in (counts_a, counts_b))
    return _labelled_test(a, b, keys, ca, cb, diff, low, high, p, label_a, label_b, alpha=alpha, measure="entity_f1",
                          f1_a=f1_a, f1_b=f1_b)


# ------------------------------------------------------------------------------------------ causal-LM SFT
SFT_ROWS: tuple[Row, ...] = (("perplexity", "perplexity", "lower"),)


def sft_record_problem(name: str, rec: dict[str, Any]) -> str | None:
    """Why one per-example loss record (id, loss, tokens) cannot be used, or None."""
    if num(rec["loss"]) is None or not isinstance(rec["tokens"], int) or rec["tokens"] < 1:
        return f"{name}'s predictions.jsonl has an example without a finite loss over at least one token."
    return _malformed(name, _id_problem(rec))


def sft_missing_note(run: Run) -> str | None:
    """A finished SFT run without per-example losses predates them: say what can still be compared."""
    if run.status == "completed":
        return (f"{run.name} has no per-example eval losses (it was trained before they were recorded); "
                "compare its eval loss, perplexity and sample generations.")
    return None


def sft_evaluation(loaded: Loaded, recorded: dict[str, Any]) -> dict[str, Any] | None:
    """SFT runs have no classes: only a complete per-class evaluation in run.json would be shown."""
    return _recorded_with_confusion(recorded)


def sft_pair(x: Loaded, y: Loaded, a: int, b: int, label_a: str, label_b: str, *,
             n_boot: int, seed: int, alpha: float) -> PairTest:
    """The token-weighted mean eval-loss difference of two runs on the same examples: a paired sign-flip
    permutation test and a paired bootstrap, both over whole examples. Refused when the runs split an example
    into different numbers of tokens (different tokenizers): their per-token losses measure different things."""
    keys = list(x.records)
    tokens = [x.records[k]["tokens"] for k in keys]
    differ = sum(t != y.records[k]["tokens"] for t, k in zip(tokens, keys))
    if differ:
        why = (f"{x.run.name} and {y.run.name} split {differ} eval example(s) into different numbers of tokens "
               "(different tokenizers): their per-token losses do not measure the same thing.")
        return PairTest(a, b, verdict=f"not tested: {why}", refused=why, measure="loss")
    la = np.array([float(x.records[k]["loss"]) for k in keys])
    lb = np.array([float(y.records[k]["loss"]) for k in keys])
    w = np.asarray(tokens, dtype=np.float64)
    diff, low, high, p = paired_loss_stats(la, lb, tokens, n_boot=n_boot, seed=seed, confidence=1.0 - alpha)
    significant = bool(p < alpha and (low > 0 or high < 0))
    test = PairTest(a, b, verdict="", n=len(keys), a_only=int(np.sum(la < lb)), b_only=int(np.sum(lb < la)),
                    p_value=p, significant=significant, winner=(b if diff < 0 else a) if significant else None,
                    measure="loss", loss_a=float((la * w).sum() / w.sum()), loss_b=float((lb * w).sum() / w.sum()),
                    diff_loss=diff, ci_low_loss=low, ci_high_loss=high)
    test.verdict = loss_verdict_text(test, label_a, label_b, confidence=1.0 - alpha)
    return test


# ------------------------------------------------------------------------------------------ the dict
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


CLASSIFICATION = TaskCompare(
    predictions="labels", record_fields=("id", "gold", "predicted"), record_problem=labelled_record_problem,
    missing_note=no_special_note, main_metric="accuracy", rows=CLASSIFICATION_ROWS, rows_shown="unless-another-task",
    first=True, curves=("accuracy", "macro_f1"), rows_from_eval_events=True, class_labels=run_class_labels,
    evaluation=classification_evaluation, pair=classification_pair,
    settings={"test": "McNemar exact (two-sided binomial on discordant pairs)",
              "interval": "paired percentile bootstrap of the accuracy difference"})
NER = TaskCompare(
    predictions="labels", record_fields=("id", "gold", "predicted"), record_problem=labelled_record_problem,
    missing_note=no_special_note, main_metric="f1", rows=NER_ROWS, rows_shown="with-a-value",
    first=False, curves=("f1",), rows_from_eval_events=True, class_labels=ner_class_labels,
    evaluation=ner_evaluation, pair=ner_pair,
    settings={"ner_test": "approximate randomization of entity micro F1, swapping sentences (NER runs)",
              "ner_interval": "paired percentile bootstrap of sentences for the entity F1 difference (NER runs)"})
SFT = TaskCompare(
    predictions="loss", record_fields=("id", "loss", "tokens"), record_problem=sft_record_problem,
    missing_note=sft_missing_note, main_metric="eval_loss", rows=SFT_ROWS, rows_shown="with-the-task",
    first=False, curves=(), rows_from_eval_events=False, class_labels=run_class_labels,
    evaluation=sft_evaluation, pair=sft_pair,
    settings={"loss_test": "paired sign-flip permutation test of the token-weighted eval-loss difference (SFT runs)",
              "loss_interval": "paired percentile bootstrap of the token-weighted eval-loss difference (SFT runs)"})

BY_TASK: dict[str, TaskCompare] = {
    "text-classification": CLASSIFICATION,
    "token-classification": NER,
    "causal-lm-sft": SFT,
}
# A run of a task not listed (an older or unknown task name) is read as text classification.
FALLBACK = CLASSIFICATION
GROUPS: tuple[TaskCompare, ...] = tuple(dict.fromkeys([*BY_TASK.values(), FALLBACK]))  # table order


def for_task(task: str) -> TaskCompare:
    """The group for runs of ``task``."""
    return BY_TASK.get(task, FALLBACK)


def for_pair(task_a: str, task_b: str) -> TaskCompare:
    """The group whose ``pair`` tests a run of ``task_a`` against one of ``task_b``: their task's when they
    share one, else the fallback's (runs of two tasks can only be compared on their labels)."""
    group = for_task(task_a)
    return group if group is for_task(task_b) else FALLBACK
