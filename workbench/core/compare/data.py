"""The comparison's data: plain dataclasses that ``compare_runs`` fills and the renderers, the CLI and the
Compare screen read (``Comparison.to_dict()`` is what ``compare --json`` prints), and ``Loaded``, what
the comparison reads from one run."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from workbench.core.errors import WorkbenchError
from workbench.core.runs import Run

CLASS_METRICS = ("precision", "recall", "f1")


def num(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None: how damaged fields read."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


@dataclass
class RunColumn:
    """One compared run. ``letter`` (A, B, …) is how tables and verdicts refer to it."""

    letter: str
    id: str
    name: str
    label: str  # the name, or "name (A)" where two compared runs share a name
    status: str
    model: str | None
    eval_source: str | None
    eval_rows: int | None
    eval_fingerprint: str | None
    predictions: int  # prediction records read (0: none yet)
    notes: list[str] = field(default_factory=list)  # why parts of the comparison are missing for this run


@dataclass
class MetricRow:
    """A row of the metrics table. ``best`` holds the indices of the best run(s); empty when all tie."""

    key: str
    label: str
    better: str  # "higher" or "lower"
    values: list[float | None]
    deltas: list[float | None]  # value minus run A's value
    best: list[int]
    main: bool = False


@dataclass
class Series:
    """One curve of one run: ``x`` is the step or the epoch (see ``Comparison.align``)."""

    run: int
    name: str  # train_loss, eval_accuracy, eval_macro_f1, eval_loss
    x: list[float]
    y: list[float]


@dataclass
class ConfigDiff:
    """A config field whose value is not the same in every run (None: the run's config lacks it)."""

    key: str
    values: list[Any]


@dataclass
class ClassRow:
    """Per-class scores: ``scores[metric][run]`` and ``deltas[metric][run]`` (vs run A)."""

    label: str
    support: list[int | None]
    scores: dict[str, list[float | None]]
    deltas: dict[str, list[float | None]]


@dataclass
class Confusion:
    """A run's confusion matrix: rows are gold labels, columns predicted labels, both in ``labels`` order."""

    run: int
    labels: list[str]
    matrix: list[list[int]]


@dataclass
class RunPrediction:
    predicted: str
    score: float | None  # the probability the run gave its own prediction
    correct: bool


@dataclass
class Disagreement:
    """An eval example on which the compared runs do not all predict the same label.

    ``predictions`` has one entry per run in ``Comparison.runs`` order; None for a run outside
    ``Comparison.disagreement_runs`` (no predictions, or a different eval set).
    """

    id: Any
    input: str
    gold: str
    predictions: list[RunPrediction | None]
    kind: str  # "A right, B wrong", "B right, A wrong", "both wrong", "A, C right, B wrong", …

    @property
    def right(self) -> list[int]:
        return [i for i, p in enumerate(self.predictions) if p is not None and p.correct]

    @property
    def wrong(self) -> list[int]:
        return [i for i, p in enumerate(self.predictions) if p is not None and not p.correct]


@dataclass
class PairTest:
    """Paired significance of run ``b`` against run ``a`` (indices) on their shared eval examples.

    ``measure`` "accuracy" (labelled tasks): ``a_only`` = A right and B wrong, ``b_only`` = B right and A
    wrong; ``diff_pt`` and the interval are accuracy(B) − accuracy(A) in percentage points; p is McNemar's.
    ``measure`` "entity_f1" (NER): the counts are sentence exact matches, ``f1_a``/``f1_b`` the runs' entity
    micro F1, ``diff_pt`` and the interval F1(B) − F1(A) in points, p from approximate randomization.
    ``measure`` "loss" (causal-LM SFT): ``a_only``/``b_only`` count the examples where A/B has the lower loss;
    ``diff_loss`` and its interval are loss(B) − loss(A) in nats per response token (negative: B is better);
    p is a paired sign-flip permutation test. ``measure`` "qa_f1" (question answering): the counts are exact
    matches, ``accuracy_a``/``accuracy_b`` the runs' exact match and ``p_exact_match`` McNemar's p on them;
    ``f1_a``/``f1_b`` the runs' mean F1, ``diff_pt`` and the interval F1(B) − F1(A) in points (paired bootstrap
    of questions), p a sign-flip permutation test of the per-question F1 differences. When ``refused`` is set
    the statistics are None and ``verdict`` explains why.
    """

    a: int
    b: int
    verdict: str
    refused: str | None = None
    n: int | None = None
    both_right: int | None = None
    a_only: int | None = None
    b_only: int | None = None
    both_wrong: int | None = None
    accuracy_a: float | None = None
    accuracy_b: float | None = None
    diff_pt: float | None = None
    ci_low_pt: float | None = None
    ci_high_pt: float | None = None
    p_value: float | None = None
    significant: bool | None = None
    winner: int | None = None
    measure: str = "accuracy"
    f1_a: float | None = None
    f1_b: float | None = None
    loss_a: float | None = None
    loss_b: float | None = None
    diff_loss: float | None = None
    ci_low_loss: float | None = None
    ci_high_loss: float | None = None
    p_exact_match: float | None = None
    # measure "generation" (causal-LM runs that scored their generations): the score compared (rougeL, bleu, chrf,
    # exact_match), each run's mean per-example score (0–100); diff_pt and the interval are B − A in points.
    metric: str | None = None
    score_a: float | None = None
    score_b: float | None = None


@dataclass
class Comparison:
    """The result of ``compare_runs``; every list is in ``runs`` order where it has one entry per run."""

    runs: list[RunColumn]
    align: str
    main_metric: str
    metrics: list[MetricRow]
    curves: list[Series]
    config_diff: list[ConfigDiff]
    labels: list[str]
    per_class: list[ClassRow]
    confusion: list[Confusion | None]
    disagreements: list[Disagreement]
    disagreement_runs: list[int]  # runs that share one eval set with predictions: the disagreement list covers these
    pairs: list[PairTest]
    same_eval: bool  # every run has predictions on one and the same eval set
    eval_rows: int | None
    notes: list[str]
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (what ``compare --json`` prints)."""
        data = asdict(self)
        for item, source in zip(data["disagreements"], self.disagreements):
            item["right"], item["wrong"] = source.right, source.wrong
        return data

    def metric(self, key: str) -> MetricRow:
        """The metrics-table row for ``key`` (e.g. "accuracy")."""
        for row in self.metrics:
            if row.key == key:
                return row
        raise KeyError(key)

    def pair(self, a: int, b: int) -> PairTest:
        """The significance test between runs ``a`` and ``b`` (indices; either order)."""
        for p in self.pairs:
            if (p.a, p.b) == (a, b) or (p.a, p.b) == (b, a):
                return p
        raise KeyError((a, b))

    def disagreements_for(self, *, gold: str | None = None, predicted: str | None = None,
                          right: int | None = None, wrong: int | None = None) -> list[Disagreement]:
        """Disagreements filtered by gold class, by a class any run predicted, and by which runs were
        right / wrong (run indices). ``right=1, wrong=0`` lists "B right, A wrong"."""
        for label in (gold, predicted):
            if label is not None and label not in self.labels:
                known = ", ".join(self.labels) or "none"
                raise WorkbenchError(f"no class {label!r} in the compared runs (classes: {known}).")
        for index in (right, wrong):
            if index is not None and index not in self.disagreement_runs:
                raise WorkbenchError(f"run index {index} has no predictions on the shared eval set.")
        return filter_disagreements(self.disagreements, gold=gold, predicted=predicted, right=right, wrong=wrong)


def filter_disagreements(items: Iterable[Disagreement], *, gold: str | None = None, predicted: str | None = None,
                         right: int | None = None, wrong: int | None = None) -> list[Disagreement]:
    """The disagreements matching every given filter (see ``Comparison.disagreements_for``)."""
    out = []
    for d in items:
        if gold is not None and d.gold != gold:
            continue
        if predicted is not None and not any(p is not None and p.predicted == predicted for p in d.predictions):
            continue
        if right is not None and right not in d.right:
            continue
        if wrong is not None and wrong not in d.wrong:
            continue
        out.append(d)
    return out



@dataclass
class Loaded:
    """What the comparison needs from one run, read once."""

    run: Run
    events: list[dict[str, Any]]
    records: dict[Any, dict[str, Any]]  # predictions by id, in file order
    problem: str | None  # why the predictions cannot be used (None: usable)
    kind: str = "labels"  # "labels" (gold/predicted per example) or "loss" (causal-LM SFT: loss/tokens per example)
