"""Side-by-side run comparison: metrics, curves, config diff, per-class scores, confusion matrices,
disagreements, and paired significance tests on the shared evaluation examples.

Everything here only *reads* the run store (``run.json``, ``metrics.jsonl``, ``predictions.jsonl``), so a
comparison works on finished, running and crashed runs alike; what a run cannot provide is reported as a
reason instead of an error.

The package: ``stats`` holds the task-free statistics (pure functions on arrays), ``data`` the dataclasses
below, ``by_task`` what a task provides (``Task.comparison()``: a ``TaskCompare`` from the task package's
``compare`` module) and the task-free pieces those are built from, ``render`` the verdict texts and the Markdown and rich renderers; this module reads the runs and
builds the comparison. Every name below stays importable from ``workbench.core.compare``.

Public API (the CLI and the Compare screen both build on it)::

    cmp = compare_runs([run_a, run_b], align="step", seed=0, n_boot=10_000, alpha=0.05)
    cmp.runs            # RunColumn per run: letter "A", "B", …, name, status, eval set, note
    cmp.metrics         # MetricRow: values per run, deltas vs run A, ``best`` = indices of the best runs
    cmp.curves          # Series: one per (run, train_loss | eval_accuracy | eval_macro_f1 | eval_loss)
    cmp.config_diff     # ConfigDiff: only the config fields whose values differ
    cmp.per_class       # ClassRow: precision/recall/F1 per run and deltas vs run A
    cmp.confusion       # Confusion per run (None where a run has no evaluation yet)
    cmp.disagreements   # Disagreement: examples where the runs' predictions differ
    cmp.pairs           # PairTest per pair (i < j): McNemar exact p, bootstrap CI, verdict or refusal
    cmp.to_dict()       # JSON-ready
    cmp.disagreements_for(gold="negative", right=1, wrong=0)   # filtered ("B right, A wrong" on negatives)
    render_markdown(cmp)   # a report to paste into a pull request
    render_rich(cmp)       # rich renderables for the terminal (the CLI prints these)

Statistics: the paired tests need both runs' predictions on the *same* examples. McNemar's exact test
is the two-sided binomial test on the discordant pairs (``scipy.stats.binomtest``); the confidence interval
of the accuracy difference is a percentile bootstrap that resamples examples, keeping each example's pair
of outcomes together. A difference is called significant only when both agree (p < alpha and the interval
excludes 0); when they disagree the verdict says so rather than picking one.

Token-classification (NER) runs are tested on entity-level micro F1, the metric they are trained and
reported on: an approximate randomization test (each sentence's predictions are swapped between the runs
with probability 1/2) for p and a paired bootstrap of sentences for the interval, both on per-sentence
counts of correct, predicted and gold entities. The sentence exact-match counts are kept as context.

Causal-LM SFT runs have no labels: their predictions.jsonl holds each eval example's loss (mean negative
log-likelihood per response token) and response-token count. Two such runs are tested on the token-weighted
mean loss difference: a paired sign-flip permutation test for p and a paired bootstrap for the interval, both
resampling whole examples. Runs whose token counts differ (different tokenizers) are not tested, since their
per-token losses do not measure the same thing.
"""

from __future__ import annotations

import itertools
import string
from typing import Any, Sequence

from workbench.core.compare.by_task import TaskCompare, all_groups, for_pair, for_task
from workbench.core.compare.data import (CLASS_METRICS, ClassRow, Comparison, ConfigDiff, Confusion, Disagreement,
                                         Loaded, MetricRow, PairTest, RunColumn, RunPrediction, Series,
                                         filter_disagreements)
from workbench.core.compare.data import num as _num
from workbench.core.compare.render import _value  # noqa: F401  (the Compare screen formats config values with it)
from workbench.core.compare.render import (format_delta, format_metric, format_p, loss_verdict_text, render_markdown,
                                           render_rich, tests_footnote, verdict_text)
from workbench.core.compare.stats import (DEFAULT_N_BOOT, mcnemar_exact, paired_bootstrap_ci, paired_f1_stats,
                                          paired_loss_stats)
from workbench.core.errors import WorkbenchError
from workbench.core.runs import Run

__all__ = [
    "ALIGNS", "CLASS_METRICS", "CONFIG_IGNORED", "DEFAULT_ALPHA", "DEFAULT_N_BOOT", "MAIN_METRIC",
    "ClassRow", "Comparison", "ConfigDiff", "Confusion", "Disagreement", "MetricRow", "PairTest", "RunColumn",
    "RunPrediction", "Series",
    "compare_runs", "filter_disagreements", "format_delta", "format_metric", "format_p",
    "loss_verdict_text", "mcnemar_exact", "paired_bootstrap_ci", "paired_f1_stats", "paired_loss_stats",
    "render_markdown", "render_rich", "tests_footnote", "verdict_text",
]

ALIGNS = ("step", "epoch")
DEFAULT_ALPHA = 0.05
MAIN_METRIC = "accuracy"  # the headline row when the runs are not all of one task

# Rows every run has whatever its task, between the task rows that lead the table and those that follow.
# (key, label, which direction is better). Parameters: fewer is better (a smaller model for the same
# score is cheaper to serve); equal counts, the usual case, mark no winner.
SHARED_METRIC_ROWS: tuple[tuple[str, str, str], ...] = (
    ("eval_loss", "eval loss", "lower"),
    ("train_runtime", "train time (s)", "lower"),
    ("samples_per_s", "samples/s", "higher"),
    ("parameters", "parameters", "lower"),
)
# Differentially private runs: the ε each spent (a smaller ε is a stronger guarantee), shown when any run has one.
PRIVACY_ROWS: tuple[tuple[str, str, str], ...] = (("epsilon", "privacy ε", "lower"),)
SHARED_EVAL_SERIES = ("loss",)
# Config fields that identify a run rather than configure it.
CONFIG_IGNORED = frozenset({"name"})


# ------------------------------------------------------------------------------------------ reading runs
def _load(run: Run) -> Loaded:
    events = run.read_metrics()
    raw = run.read_predictions()
    records: dict[Any, dict[str, Any]] = {}
    problem = None
    group = for_task(run.task)
    needs = group.record_fields
    for rec in raw:
        if any(k not in rec for k in needs):
            problem = f"{run.name}'s predictions.jsonl has records without {', '.join(needs[:-1])} or {needs[-1]}."
            break
        problem = group.record_problem(run.name, rec)
        if problem:
            break
        records[rec["id"]] = rec
    if problem is None and len(records) != len(raw):
        problem = f"{run.name}'s predictions.jsonl repeats example ids."
    recorded = _num((run.info.get("metrics") or {}).get("accuracy"))
    if problem is None and records and recorded is not None:
        # run.json's accuracy and predictions.jsonl come from the same final evaluation, so they must agree;
        # if they do not, the records are misaligned with their examples and every paired statistic built
        # on them would be wrong. Allow half an example of slack for rounding of the stored metric.
        derived = sum(r["predicted"] == r["gold"] for r in records.values()) / len(records)
        if abs(derived - recorded) > 0.5 / len(records):
            problem = (f"{run.name}'s predictions.jsonl does not match its recorded accuracy "
                       f"({derived:.4f} from the predictions, {recorded:.4f} in run.json): "
                       f"its per-example results are misaligned and cannot be used.")
    if problem is None and not records:
        problem = group.missing_note(run)  # the task's own reason, if it has one; else the status says why
        if problem is None:
            status = run.status
            if status in ("running", "queued"):
                problem = f"{run.name} has no predictions yet (status: {status}); they are written when training ends."
            else:
                problem = f"{run.name} has no predictions (status: {status})."
    if problem:
        records = {}
    return Loaded(run, events, records, problem, group.predictions)


def _eval_info(run: Run) -> dict[str, Any]:
    info = (run.info.get("data") or {}).get("eval")
    return info if isinstance(info, dict) else {}


def _eval_mismatch(x: Loaded, y: Loaded) -> str | None:
    """Why runs ``x`` and ``y`` were not evaluated on the same examples, or None if they were."""
    if x.kind != y.kind:
        return f"{x.run.name} and {y.run.name} cannot be paired: one has labelled predictions, the other eval losses."
    fx, fy = _eval_info(x.run).get("fingerprint"), _eval_info(y.run).get("fingerprint")
    if fx and fy and fx != fy:
        return (f"{x.run.name} and {y.run.name} were evaluated on different data "
                f"(eval fingerprints {fx} and {fy}).")
    if x.records.keys() != y.records.keys():
        common = len(x.records.keys() & y.records.keys())
        return (f"{x.run.name} and {y.run.name} have predictions for different examples "
                f"({len(x.records)} and {len(y.records)}, {common} in common).")
    gold = sum(x.records[k].get("gold", x.records[k].get("reference")) != y.records[k].get("gold", y.records[k].get("reference"))
               for k in x.records)
    if gold:
        return f"{x.run.name} and {y.run.name} disagree on the gold label of {gold} eval example(s): different eval data."
    text = sum(x.records[k].get("input") != y.records[k].get("input") for k in x.records)
    if text:
        return f"{x.run.name} and {y.run.name} have different inputs on {text} eval example(s): different eval data."
    return None


def _task_keys(*, live: bool = False) -> list[str]:
    """Every task's metric-row keys (``live``: only those a run without final metrics takes from its latest
    eval event), in table order."""
    return [key for g in all_groups() if g.rows_from_eval_events or not live for key, _, _ in g.rows]


def _run_metrics(loaded: Loaded) -> tuple[dict[str, float | None], str | None]:
    """The metrics-table values of one run, and a note when they come from a partial run."""
    info = loaded.run.info
    metrics = dict(info.get("metrics") or {})
    note = None
    if not metrics:
        # A running or crashed run has no final metrics yet: its latest evaluation is the best available.
        evals = [e for e in loaded.events if e.get("kind") == "eval"]
        if evals:
            last = evals[-1]
            metrics = {key: last.get(key) for key in _task_keys(live=True)}
            metrics["eval_loss"] = last.get("loss")
            note = f"{loaded.run.name}: metrics are from its latest evaluation (step {last.get('step')}), not a final one."
    summary = info.get("train_summary") or {}
    values = {key: _num(metrics.get(key)) for key in _task_keys()}
    values.update({
        "eval_loss": _num(metrics.get("eval_loss")),
        "train_runtime": _num(summary.get("train_runtime")),
        "samples_per_s": _num(summary.get("train_samples_per_second")),
        "parameters": _num(info.get("parameters")),
        "epsilon": _num((info.get("privacy") or {}).get("epsilon")),
    })
    return values, note


def _best(values: list[float | None], better: str) -> list[int]:
    present = [v for v in values if v is not None]
    if len(present) < 2 or len(set(present)) == 1:
        return []  # nothing to beat, or a tie everywhere: no winner to mark
    target = max(present) if better == "higher" else min(present)
    return [i for i, v in enumerate(values) if v == target]


def _deltas(values: list[float | None]) -> list[float | None]:
    base = values[0]
    return [None if base is None or v is None else v - base for v in values]


def _series(run_index: int, events: list[dict[str, Any]], align: str) -> list[Series]:
    """Train loss and eval metric curves of one run; a repeated x (after a resume) keeps its last value."""
    keys = ([k for g in all_groups() if g.first for k in g.curves] + list(SHARED_EVAL_SERIES)
            + [k for g in all_groups() if not g.first for k in g.curves])
    points: dict[str, dict[float, float]] = {}
    for e in events:
        x = _num(e.get(align))
        if x is None:
            continue
        if e.get("kind") == "train" and _num(e.get("loss")) is not None:
            points.setdefault("train_loss", {})[x] = float(e["loss"])
        elif e.get("kind") == "eval":
            for key in keys:
                if _num(e.get(key)) is not None:
                    points.setdefault(f"eval_{key}", {})[x] = float(e[key])
    order = ["train_loss"] + [f"eval_{k}" for k in keys]
    return [Series(run_index, name, sorted(points[name]), [points[name][x] for x in sorted(points[name])])
            for name in order if name in points]


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _config_diff(runs: list[Run]) -> list[ConfigDiff]:
    flats = [_flatten(r.config) for r in runs]
    keys: list[str] = []
    for flat in flats:
        keys += [k for k in flat if k not in keys and k not in CONFIG_IGNORED]
    diff = []
    for key in keys:
        values = [flat.get(key) for flat in flats]
        if any(v != values[0] for v in values[1:]):
            diff.append(ConfigDiff(key, values))
    return diff


def _per_class_ok(per: Any) -> bool:
    """A per-class table as the final evaluation writes it: {label: {metric: number, support: whole number}}."""
    return isinstance(per, dict) and all(
        isinstance(scores, dict)
        and all(v is None or _num(v) is not None for k, v in scores.items() if k in CLASS_METRICS)
        and (scores.get("support") is None or (isinstance(scores["support"], int) and not isinstance(scores["support"], bool)))
        for scores in per.values())


def _evaluation(loaded: Loaded) -> dict[str, Any] | None:
    """Per-class scores (and a confusion matrix where the task has one), as the run's task reads them from
    run.json or the predictions. A damaged ``evaluation`` in run.json (wrong types) is ignored as if it
    were missing."""
    evaluation = loaded.run.info.get("evaluation") or {}
    if not _per_class_ok(evaluation.get("per_class")):
        evaluation = {}
    return for_task(loaded.run.task).evaluation(loaded, evaluation)


def _per_class(evaluations: list[dict[str, Any] | None], labels: list[str]) -> list[ClassRow]:
    rows = []
    for label in labels:
        per = [((ev or {}).get("per_class") or {}).get(label) for ev in evaluations]
        scores = {m: [_num(p.get(m)) if p else None for p in per] for m in CLASS_METRICS}
        rows.append(ClassRow(label=label, support=[int(p["support"]) if p and "support" in p else None for p in per],
                             scores=scores, deltas={m: _deltas(v) for m, v in scores.items()}))
    return rows


def _letters(count: int) -> list[str]:
    return [string.ascii_uppercase[i] if i < 26 else f"R{i + 1}" for i in range(count)]


def _score(rec: dict[str, Any]) -> float | None:
    """The probability a run gave its own prediction: ``scores[predicted]``, or the record's ``score`` (a span)."""
    scores = rec.get("scores") or {}
    return _num(scores.get(rec["predicted"])) if scores else _num(rec.get("score"))


def _correct(rec: dict[str, Any]) -> bool:
    """Whether a prediction is right: the record's own ``correct`` (a span answer is right on an exact match of
    any gold answer, after normalisation), else predicted == gold."""
    return rec["correct"] if isinstance(rec.get("correct"), bool) else rec["predicted"] == rec["gold"]


def _kind(letters: list[str], right: list[int], wrong: list[int]) -> str:
    if not right:
        return "both wrong" if len(wrong) == 2 else "all wrong"
    return f"{', '.join(letters[i] for i in right)} right, {', '.join(letters[i] for i in wrong)} wrong"


def _disagreements(loaded: list[Loaded], members: list[int], letters: list[str]) -> list[Disagreement]:
    """Examples where the member runs do not all predict the same label, most confident mistakes first."""
    if len(members) < 2:
        return []
    ref = loaded[members[0]].records
    out = []
    for key, rec in ref.items():
        preds = [loaded[i].records[key] for i in members]
        if len({str(p["predicted"]) for p in preds}) == 1:
            continue
        row: list[RunPrediction | None] = [None] * len(loaded)
        for i, p in zip(members, preds):
            row[i] = RunPrediction(predicted=str(p["predicted"]), score=_score(p), correct=_correct(p))
        right = [i for i in members if row[i].correct]
        wrong = [i for i in members if not row[i].correct]
        out.append(Disagreement(id=key, input=str(rec.get("input", "")), gold=str(rec["gold"]), predictions=row,
                                kind=_kind(letters, right, wrong)))

    def surprise(d: Disagreement) -> float:
        # A confident wrong prediction is the most informative example to look at first.
        return max((p.score or 0.0 for p in d.predictions if p is not None and not p.correct), default=0.0)

    out.sort(key=lambda d: -surprise(d))
    return out


def _pair_test(x: Loaded, y: Loaded, a: int, b: int, label_a: str, label_b: str, *,
               n_boot: int, seed: int, alpha: float) -> PairTest:
    for side in (x, y):
        if side.problem:
            return PairTest(a, b, verdict=f"not tested: {side.problem}", refused=side.problem)
    mismatch = _eval_mismatch(x, y)
    if mismatch:
        return PairTest(a, b, verdict=f"not tested: {mismatch}", refused=mismatch)
    return for_pair(x.run.task, y.run.task).pair(x, y, a, b, label_a, label_b, n_boot=n_boot, seed=seed, alpha=alpha)


def _rows_shown(group: TaskCompare, row: tuple[str, str, str], groups: list[TaskCompare], sole: TaskCompare | None,
                metric_values: list[dict[str, float | None]]) -> bool:
    """Whether ``group``'s metrics-table ``row`` appears (see ``TaskCompare.rows_shown``)."""
    if group.rows_shown == "unless-another-task":
        return sole is None or sole is group
    if group.rows_shown == "with-a-value":
        return any(mv[row[0]] is not None for mv in metric_values)
    return any(g is group for g in groups)  # "with-the-task"


def _metric_rows(groups: list[TaskCompare], sole: TaskCompare | None,
                 metric_values: list[dict[str, float | None]]) -> list[tuple[str, str, str]]:
    """The metrics table's rows, in order: the leading tasks' rows, the shared rows, the other tasks' rows."""
    def of(first: bool) -> list[tuple[str, str, str]]:
        return [row for g in all_groups() if g.first == first for row in g.rows
                if _rows_shown(g, row, groups, sole, metric_values)]

    private = [row for row in PRIVACY_ROWS if any(mv.get(row[0]) is not None for mv in metric_values)]
    return of(True) + list(SHARED_METRIC_ROWS) + private + of(False)


# ------------------------------------------------------------------------------------------ compare
def compare_runs(runs: Sequence[Run], *, align: str = "step", seed: int = 0, n_boot: int = DEFAULT_N_BOOT,
                 alpha: float = DEFAULT_ALPHA) -> Comparison:
    """Compare two or more runs side by side; the first run is the baseline (A) for every delta.

    ``align`` puts the curves on a common x axis: "step" (optimiser steps) or "epoch" (use it when the
    runs' batch sizes differ). ``seed`` and ``n_boot`` fix the bootstrap, so the same runs always give the
    same interval. Paired statistics are computed for every pair that has predictions on the same eval
    examples; any other pair gets a ``PairTest`` whose ``refused`` says why, and the rest still shows.
    Raises ``WorkbenchError`` for fewer than two runs, a run given twice, or bad settings.
    """
    runs = list(runs)
    if len(runs) < 2:
        raise WorkbenchError("compare needs at least two runs.")
    seen: set[str] = set()
    for run in runs:
        if run.id in seen:
            raise WorkbenchError(f"run {run.name} ({run.id}) is given twice; compare different runs.")
        seen.add(run.id)
    if align not in ALIGNS:
        raise WorkbenchError(f"align must be one of {', '.join(ALIGNS)}, not {align!r}.")
    if int(n_boot) < 1:
        raise WorkbenchError("n_boot must be at least 1.")
    if not 0 < alpha < 1:
        raise WorkbenchError("alpha must be between 0 and 1.")

    letters = _letters(len(runs))
    names = [r.name for r in runs]
    labels_of = [n if names.count(n) == 1 else f"{n} ({letter})" for n, letter in zip(names, letters)]
    loaded = [_load(r) for r in runs]
    notes: list[str] = []

    # The disagreement list needs one shared eval set: the first run with predictions sets it.
    usable = [i for i, ld in enumerate(loaded) if not ld.problem]
    members: list[int] = []
    if usable:
        ref = usable[0]
        members = [ref] + [i for i in usable[1:] if _eval_mismatch(loaded[ref], loaded[i]) is None]

    columns = []
    metric_values: list[dict[str, float | None]] = []
    for i, (run, ld) in enumerate(zip(runs, loaded)):
        ev = _eval_info(run)
        values, note = _run_metrics(ld)
        metric_values.append(values)
        col_notes = [n for n in (ld.problem, note) if n]
        if not ld.problem and i not in members:
            col_notes.append(_eval_mismatch(loaded[members[0]], ld) or "a different eval set.")
        columns.append(RunColumn(letter=letters[i], id=run.id, name=run.name, label=labels_of[i], status=run.status,
                                 model=run.config.get("model"), eval_source=ev.get("source"),
                                 eval_rows=ev.get("rows") if isinstance(ev.get("rows"), int) else None,
                                 eval_fingerprint=ev.get("fingerprint"), predictions=len(ld.records), notes=col_notes))
        notes += col_notes
    tasks = {r.task for r in runs}
    if len(tasks) > 1:
        notes.append(f"the runs have different tasks ({', '.join(sorted(tasks))}).")

    groups = [for_task(r.task) for r in runs]
    sole = groups[0] if all(g is groups[0] for g in groups) else None  # the one group every run is of
    main_metric = sole.main_metric if sole else MAIN_METRIC
    metrics = []
    for key, label, better in _metric_rows(groups, sole, metric_values):
        values = [mv[key] for mv in metric_values]
        metrics.append(MetricRow(key=key, label=label, better=better, values=values, deltas=_deltas(values),
                                 best=_best(values, better), main=key == main_metric))

    evaluations = [_evaluation(ld) for ld in loaded]
    labels: list[str] = []
    for run, ev in zip(runs, evaluations):
        for label in list((ev or {}).get("labels") or []) + for_task(run.task).class_labels(run):
            if str(label) not in labels:
                labels.append(str(label))
    confusion = [Confusion(i, [str(x) for x in ev["labels"]], [list(map(int, row)) for row in ev["confusion_matrix"]])
                 if ev and ev.get("confusion_matrix") else None for i, ev in enumerate(evaluations)]

    labelled = [i for i in members if loaded[i].kind == "labels"]
    pairs = [_pair_test(loaded[a], loaded[b], a, b, labels_of[a], labels_of[b], n_boot=int(n_boot), seed=seed, alpha=alpha)
             for a, b in itertools.combinations(range(len(runs)), 2)]

    return Comparison(
        runs=columns,
        align=align,
        main_metric=main_metric,
        metrics=metrics,
        curves=[s for i, ld in enumerate(loaded) for s in _series(i, ld.events, align)],
        config_diff=_config_diff(runs),
        labels=labels,
        per_class=_per_class(evaluations, labels),
        confusion=confusion,
        # Only labelled predictions can disagree; SFT runs (per-example losses) are paired in ``pairs`` alone.
        disagreements=_disagreements(loaded, labelled, letters),
        disagreement_runs=labelled,
        pairs=pairs,
        same_eval=len(members) == len(runs),
        eval_rows=len(loaded[members[0]].records) if members else None,
        notes=list(dict.fromkeys(notes)),  # the same reason can come from several runs; say it once
        settings={"seed": seed, "n_boot": int(n_boot), "alpha": alpha, "confidence": 1.0 - alpha,
                  **{key: text for g in all_groups() for key, text in g.settings.items()}},
    )


