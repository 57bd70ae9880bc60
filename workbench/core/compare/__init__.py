"""Side-by-side run comparison: metrics, curves, config diff, per-class scores, confusion matrices,
disagreements, and paired significance tests on the shared evaluation examples.

Everything here only *reads* the run store (``run.json``, ``metrics.jsonl``, ``predictions.jsonl``), so a
comparison works on finished, running and crashed runs alike; what a run cannot provide is reported as a
reason instead of an error.

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
import math
import re
import string
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from workbench.core.errors import WorkbenchError
from workbench.core.runs import Run

ALIGNS = ("step", "epoch")
DEFAULT_N_BOOT = 10_000
DEFAULT_ALPHA = 0.05
MAIN_METRIC = "accuracy"

# (key, label, which direction is better). Parameters: fewer is better (a smaller model for the same
# score is cheaper to serve); equal counts, the usual case, mark no winner.
METRIC_ROWS: tuple[tuple[str, str, str], ...] = (
    ("accuracy", "accuracy", "higher"),
    ("macro_f1", "macro-F1", "higher"),
    ("eval_loss", "eval loss", "lower"),
    ("train_runtime", "train time (s)", "lower"),
    ("samples_per_s", "samples/s", "higher"),
    ("parameters", "parameters", "lower"),
)
# Token classification (NER) runs: entity-level metrics, shown only when a compared run has them.
NER_METRIC_ROWS: tuple[tuple[str, str, str], ...] = (
    ("f1", "entity F1", "higher"),
    ("precision", "entity precision", "higher"),
    ("recall", "entity recall", "higher"),
    ("token_accuracy", "token accuracy", "higher"),
)
SFT_METRIC_ROWS: tuple[tuple[str, str, str], ...] = (("perplexity", "perplexity", "lower"),)  # causal-lm-sft runs
# Config fields that identify a run rather than configure it.
CONFIG_IGNORED = frozenset({"name"})
CLASS_METRICS = ("precision", "recall", "f1")
EVAL_SERIES = ("accuracy", "macro_f1", "loss")
NER_EVAL_SERIES = ("f1",)
# The bootstrap draws at most this many indices at once, so memory stays bounded on large eval sets
# (10,000 resamples × 25,000 examples would otherwise be 2 GB of int64).
_BOOT_CELLS = 4_000_000


# ------------------------------------------------------------------------------------------ data
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
    p is a paired sign-flip permutation test. When ``refused`` is set the statistics are None and ``verdict``
    explains why.
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


# ------------------------------------------------------------------------------------------ statistics
def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (A right/B wrong, B right/A wrong).

    Under the null hypothesis each discordant example is equally likely to favour either run, so the count
    is Binomial(a_only + b_only, 1/2). With no discordant examples there is no evidence either way: p = 1.
    """
    from scipy.stats import binomtest

    n = int(a_only) + int(b_only)
    if n == 0:
        return 1.0
    return float(binomtest(int(b_only), n, 0.5, alternative="two-sided").pvalue)


def paired_bootstrap_ci(correct_a: Sequence[bool], correct_b: Sequence[bool], *, n_boot: int = DEFAULT_N_BOOT,
                        seed: int = 0, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of accuracy(B) − accuracy(A) (as a fraction, not points).

    Each resample draws ``n`` example indices with replacement from ``np.random.default_rng(seed)``
    (``rng.integers(0, n, size=n)`` per resample, drawn in blocks; the stream is identical either way) and
    takes the mean of the per-example differences, so both runs are always scored on the same examples.
    The interval's ends are ``np.quantile`` (linear interpolation) of the resampled differences.
    """
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError("correct_a and correct_b must be non-empty 1-D sequences of the same length")
    diff = b.astype(np.int8) - a.astype(np.int8)
    n = diff.size
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot, dtype=np.float64)
    block = max(1, _BOOT_CELLS // n)
    for start in range(0, n_boot, block):
        k = min(block, n_boot - start)
        means[start:start + k] = diff[rng.integers(0, n, size=(k, n))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def format_p(p: float) -> str:
    """p-values as people read them: "= 0.71", "= 0.035", "< 0.001" (with the comparison sign).

    Below 0.1 three decimals are kept so that a value near the usual 0.05 threshold is not rounded across it.
    """
    if p < 0.001:
        return "< 0.001"
    if p < 0.1:
        return f"= {p:.3f}"
    return f"= {p:.2f}"


def _pt(value: float, signed: bool = True) -> str:
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def verdict_text(test: PairTest, name_a: str, name_b: str, *, confidence: float = 0.95) -> str:
    """The plain-words verdict for a computed ``PairTest`` (names are how the runs are called)."""
    level = f"{confidence * 100:g}%"
    p, lo, hi, diff = test.p_value, test.ci_low_pt, test.ci_high_pt, test.diff_pt
    ner = test.measure == "entity_f1"
    on, test_name = (" on entity F1", "randomization") if ner else ("", "McNemar")
    if test.significant:
        # Speak from the winner's side, so the difference is always positive.
        if diff > 0:
            return f"{name_b} is better than {name_a}{on}: {_pt(diff)} pt, {level} CI [{_pt(lo, False)}, {_pt(hi, False)}], p {format_p(p)}"
        return f"{name_a} is better than {name_b}{on}: {_pt(-diff)} pt, {level} CI [{_pt(-hi, False)}, {_pt(-lo, False)}], p {format_p(p)}"
    ci = f"bootstrap {level} CI [{_pt(lo)}, {_pt(hi)}] pt"
    alpha = 1.0 - confidence
    if p < alpha:
        return (f"inconclusive: {test_name} p {format_p(p)} but the {ci} includes 0 "
                f"({name_b} − {name_a}{on}: {_pt(diff)} pt)")
    if lo > 0 or hi < 0:
        return (f"inconclusive: the {ci} excludes 0 but {test_name} p {format_p(p)} "
                f"({name_b} − {name_a}{on}: {_pt(diff)} pt)")
    return f"no significant difference{on} ({test_name} p {format_p(p)}; {ci})"


def entity_counts(record: dict[str, Any]) -> tuple[int, int, int]:
    """``(correct, predicted, gold)`` entities of one NER prediction record: exact (type, start, end) matches."""
    key = lambda span: (span["type"], span["start"], span["end"])
    gold = {key(s) for s in record.get("gold_spans") or []}
    pred = {key(s) for s in record.get("predicted_spans") or []}
    return len(gold & pred), len(pred), len(gold)


def _micro_f1(counts: np.ndarray) -> np.ndarray:
    """Entity micro F1 from summed ``(correct, predicted, gold)`` counts (last axis): 2·correct / (predicted + gold)."""
    return 2.0 * counts[..., 0] / np.maximum(counts[..., 1] + counts[..., 2], 1.0)


def paired_f1_stats(counts_a: Sequence[Sequence[int]], counts_b: Sequence[Sequence[int]], *, n_boot: int = DEFAULT_N_BOOT,
                    seed: int = 0, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """``(diff, ci_low, ci_high, p)`` for entity micro F1(B) − F1(A), as fractions.

    ``counts_*`` hold one ``(correct, predicted, gold)`` row per sentence (:func:`entity_counts`). The interval is a
    percentile bootstrap that resamples sentences; p is two-sided approximate randomization: each resample
    swaps each sentence's predictions between the runs with probability 1/2 (the standard test for F1, which
    is not a mean over sentences), with the +1 correction so it is never 0.
    """
    a, b = np.asarray(counts_a, dtype=np.float64), np.asarray(counts_b, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 3 or a.shape != b.shape or a.shape[0] == 0:
        raise ValueError("counts_a and counts_b must be non-empty (n, 3) arrays of one shape")
    n = a.shape[0]
    total_a, total_b, delta = a.sum(0), b.sum(0), b - a
    diff = float(_micro_f1(total_b) - _micro_f1(total_a))
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOT_CELLS // (3 * n))
    boots, swaps = [], []
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(k, n))
        boots.append(_micro_f1(b[idx].sum(1)) - _micro_f1(a[idx].sum(1)))
        moved = rng.integers(0, 2, size=(k, n)).astype(np.float64) @ delta  # B's counts given to A and back
        swaps.append(np.abs(_micro_f1(total_b - moved) - _micro_f1(total_a + moved)))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(np.concatenate(boots), [tail, 1.0 - tail])
    swapped = np.concatenate(swaps)
    p = float((1 + np.sum(swapped >= abs(diff) - 1e-12)) / (1 + swapped.size))
    return diff, float(low), float(high), min(1.0, p)


def loss_verdict_text(test: PairTest, name_a: str, name_b: str, *, confidence: float = 0.95) -> str:
    """The plain-words verdict for a computed loss ``PairTest`` (lower loss is better)."""
    level = f"{confidence * 100:g}%"
    p, lo, hi, diff = test.p_value, test.ci_low_loss, test.ci_high_loss, test.diff_loss
    ppl = lambda loss: f"{math.exp(loss):.4g}" if loss < 700 else "inf"
    if test.significant:
        (better, worse, d, l, h, lb, lw) = ((name_b, name_a, -diff, -hi, -lo, test.loss_b, test.loss_a) if diff < 0
                                            else (name_a, name_b, diff, lo, hi, test.loss_a, test.loss_b))
        return (f"{better} has the lower eval loss: {d:.4f} nats/token less than {worse} (perplexity {ppl(lb)} vs "
                f"{ppl(lw)}), {level} CI [{l:.4f}, {h:.4f}], p {format_p(p)}")
    ci = f"bootstrap {level} CI [{lo:+.4f}, {hi:+.4f}] nats/token"
    if p < 1.0 - confidence:
        return f"inconclusive: permutation p {format_p(p)} but the {ci} includes 0 ({name_b} − {name_a}: {diff:+.4f})"
    if lo > 0 or hi < 0:
        return f"inconclusive: the {ci} excludes 0 but permutation p {format_p(p)} ({name_b} − {name_a}: {diff:+.4f})"
    return f"no significant difference in eval loss (permutation p {format_p(p)}; {ci})"


def paired_loss_stats(loss_a: Sequence[float], loss_b: Sequence[float], tokens: Sequence[int], *,
                      n_boot: int = DEFAULT_N_BOOT, seed: int = 0, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """``(diff, ci_low, ci_high, p)`` for the token-weighted mean loss of B minus that of A.

    Each example contributes ``tokens × (loss_b − loss_a)``; the difference is their sum over the token total
    (exactly mean loss B − mean loss A, both weighted by tokens, as eval loss is). The interval is a percentile
    bootstrap over examples; p is a two-sided sign-flip permutation test (under no difference, each example's
    difference is as likely positive as negative), with the +1 correction so it is never 0.
    """
    a, b, w = (np.asarray(v, dtype=np.float64) for v in (loss_a, loss_b, tokens))
    if a.ndim != 1 or a.size == 0 or a.shape != b.shape or a.shape != w.shape or w.sum() <= 0:
        raise ValueError("loss_a, loss_b and tokens must be non-empty 1-D sequences of one length, with tokens")
    d = w * (b - a)
    diff = float(d.sum() / w.sum())
    rng = np.random.default_rng(seed)
    n, boots, flips = a.size, [], []
    chunk = max(1, _BOOT_CELLS // n)
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(size, n))
        boots.append(d[idx].sum(1) / w[idx].sum(1))
        signs = rng.integers(0, 2, size=(size, n)) * 2 - 1
        flips.append(np.abs((signs * d).sum(1)) / w.sum())
    boots_all, flips_all = np.concatenate(boots), np.concatenate(flips)
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(boots_all, [tail, 1.0 - tail])
    p = float((1 + np.sum(flips_all >= abs(diff) - 1e-12)) / (1 + flips_all.size))
    return diff, float(low), float(high), min(1.0, p)


# ------------------------------------------------------------------------------------------ reading runs
@dataclass
class _Loaded:
    """What the comparison needs from one run, read once."""

    run: Run
    events: list[dict[str, Any]]
    records: dict[Any, dict[str, Any]]  # predictions by id, in file order
    problem: str | None  # why the predictions cannot be used (None: usable)
    kind: str = "labels"  # "labels" (gold/predicted per example) or "loss" (causal-LM SFT: loss/tokens per example)


_SCALAR = (str, int, float, bool)


def _span_ok(span: Any) -> bool:
    return (isinstance(span, dict) and isinstance(span.get("type"), str)
            and all(isinstance(span.get(k), int) and not isinstance(span.get(k), bool) for k in ("start", "end")))


def _record_problem(rec: dict[str, Any], kind: str) -> str | None:
    """Why one predictions.jsonl record is not what the final evaluation writes, or None."""
    if not isinstance(rec.get("id"), (str, int)) or isinstance(rec.get("id"), bool):
        return "an id that is not a number or text"
    if kind == "loss":
        return None  # loss and tokens are checked by _load itself
    if not isinstance(rec.get("gold"), _SCALAR) or not isinstance(rec.get("predicted"), _SCALAR):
        return "a gold or predicted value that is not a single label"
    if rec.get("scores") is not None and not (isinstance(rec["scores"], dict)
                                              and all(isinstance(k, str) for k in rec["scores"])):
        return "scores that are not an object of label: score"
    for key in ("gold_spans", "predicted_spans"):
        if rec.get(key) is not None and not (isinstance(rec[key], list) and all(_span_ok(s) for s in rec[key])):
            return f"{key} that are not a list of {{type, start, end}} spans"
    return None


def _load(run: Run) -> _Loaded:
    events = run.read_metrics()
    raw = run.read_predictions()
    records: dict[Any, dict[str, Any]] = {}
    problem = None
    kind = "loss" if run.task == "causal-lm-sft" else "labels"
    needs = ("id", "loss", "tokens") if kind == "loss" else ("id", "gold", "predicted")
    for rec in raw:
        if any(k not in rec for k in needs):
            problem = f"{run.name}'s predictions.jsonl has records without {', '.join(needs[:-1])} or {needs[-1]}."
            break
        if kind == "loss" and (_num(rec["loss"]) is None or not isinstance(rec["tokens"], int) or rec["tokens"] < 1):
            problem = f"{run.name}'s predictions.jsonl has an example without a finite loss over at least one token."
            break
        why = _record_problem(rec, kind)
        if why:
            problem = f"{run.name}'s predictions.jsonl has a malformed record ({why})."
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
    if problem is None and not records and kind == "loss" and run.status == "completed":
        problem = (f"{run.name} has no per-example eval losses (it was trained before they were recorded); "
                   "compare its eval loss, perplexity and sample generations.")
    if problem is None and not records:
        status = run.status
        if status in ("running", "queued"):
            problem = f"{run.name} has no predictions yet (status: {status}); they are written when training ends."
        else:
            problem = f"{run.name} has no predictions (status: {status})."
    if problem:
        records = {}
    return _Loaded(run, events, records, problem, kind)


def _eval_info(run: Run) -> dict[str, Any]:
    info = (run.info.get("data") or {}).get("eval")
    return info if isinstance(info, dict) else {}


def _eval_mismatch(x: _Loaded, y: _Loaded) -> str | None:
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


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def _run_metrics(loaded: _Loaded) -> tuple[dict[str, float | None], str | None]:
    """The metrics-table values of one run, and a note when they come from a partial run."""
    info = loaded.run.info
    metrics = dict(info.get("metrics") or {})
    note = None
    if not metrics:
        # A running or crashed run has no final metrics yet: its latest evaluation is the best available.
        evals = [e for e in loaded.events if e.get("kind") == "eval"]
        if evals:
            last = evals[-1]
            metrics = {"accuracy": last.get("accuracy"), "macro_f1": last.get("macro_f1"), "eval_loss": last.get("loss")}
            metrics.update({key: last.get(key) for key, _, _ in NER_METRIC_ROWS})
            note = f"{loaded.run.name}: metrics are from its latest evaluation (step {last.get('step')}), not a final one."
    summary = info.get("train_summary") or {}
    values = {
        "accuracy": _num(metrics.get("accuracy")),
        "macro_f1": _num(metrics.get("macro_f1")),
        "eval_loss": _num(metrics.get("eval_loss")),
        "train_runtime": _num(summary.get("train_runtime")),
        "samples_per_s": _num(summary.get("train_samples_per_second")),
        "parameters": _num(info.get("parameters")),
        "perplexity": _num(metrics.get("perplexity")),
    }
    values.update({key: _num(metrics.get(key)) for key, _, _ in NER_METRIC_ROWS})
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
    points: dict[str, dict[float, float]] = {}
    for e in events:
        x = _num(e.get(align))
        if x is None:
            continue
        if e.get("kind") == "train" and _num(e.get("loss")) is not None:
            points.setdefault("train_loss", {})[x] = float(e["loss"])
        elif e.get("kind") == "eval":
            for key in EVAL_SERIES + NER_EVAL_SERIES:
                if _num(e.get(key)) is not None:
                    points.setdefault(f"eval_{key}", {})[x] = float(e[key])
    order = ["train_loss"] + [f"eval_{k}" for k in EVAL_SERIES + NER_EVAL_SERIES]
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


def _confusion_ok(matrix: Any, labels: Any) -> bool:
    return (isinstance(labels, list) and isinstance(matrix, list) and len(matrix) == len(labels)
            and all(isinstance(row, list) and len(row) == len(labels)
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in row) for row in matrix))


def _evaluation(loaded: _Loaded) -> dict[str, Any] | None:
    """Per-class scores and confusion matrix: from run.json, else computed from the predictions. A damaged
    ``evaluation`` in run.json (wrong types) is ignored as if it were missing."""
    evaluation = loaded.run.info.get("evaluation") or {}
    if not _per_class_ok(evaluation.get("per_class")):
        evaluation = {}
    if loaded.run.task == "token-classification":
        # Entity-level scores per type (seqeval); entities have no confusion matrix.
        per = evaluation.get("per_class")
        types = evaluation.get("entity_types")
        types = [str(t) for t in types] if isinstance(types, list) and types else sorted(map(str, per or {}))
        return {"per_class": per, "labels": types} if per else None
    if (evaluation.get("per_class") and evaluation.get("labels")
            and _confusion_ok(evaluation.get("confusion_matrix"), evaluation.get("labels"))):
        return evaluation
    if not loaded.records or loaded.kind != "labels":
        return None  # SFT runs have no classes
    from workbench.core.tasks.classification import classification_report

    recs = list(loaded.records.values())
    labels = list(loaded.run.info.get("labels") or [])
    labels += sorted({str(r["gold"]) for r in recs} | {str(r["predicted"]) for r in recs} - set(labels))
    index = {label: i for i, label in enumerate(labels)}
    return classification_report([index[str(r["gold"])] for r in recs], [index[str(r["predicted"])] for r in recs], labels)


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
    scores = rec.get("scores") or {}
    return _num(scores.get(rec["predicted"]))


def _kind(letters: list[str], right: list[int], wrong: list[int]) -> str:
    if not right:
        return "both wrong" if len(wrong) == 2 else "all wrong"
    return f"{', '.join(letters[i] for i in right)} right, {', '.join(letters[i] for i in wrong)} wrong"


def _disagreements(loaded: list[_Loaded], members: list[int], letters: list[str]) -> list[Disagreement]:
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
            row[i] = RunPrediction(predicted=str(p["predicted"]), score=_score(p), correct=p["predicted"] == p["gold"])
        right = [i for i in members if row[i].correct]
        wrong = [i for i in members if not row[i].correct]
        out.append(Disagreement(id=key, input=str(rec.get("input", "")), gold=str(rec["gold"]), predictions=row,
                                kind=_kind(letters, right, wrong)))

    def surprise(d: Disagreement) -> float:
        # A confident wrong prediction is the most informative example to look at first.
        return max((p.score or 0.0 for p in d.predictions if p is not None and not p.correct), default=0.0)

    out.sort(key=lambda d: -surprise(d))
    return out


def _pair_test(x: _Loaded, y: _Loaded, a: int, b: int, label_a: str, label_b: str, *,
               n_boot: int, seed: int, alpha: float) -> PairTest:
    for side in (x, y):
        if side.problem:
            return PairTest(a, b, verdict=f"not tested: {side.problem}", refused=side.problem)
    mismatch = _eval_mismatch(x, y)
    if mismatch:
        return PairTest(a, b, verdict=f"not tested: {mismatch}", refused=mismatch)
    if x.kind == "loss":
        return _loss_pair_test(x, y, a, b, label_a, label_b, n_boot=n_boot, seed=seed, alpha=alpha)
    keys = list(x.records)
    ca = np.array([x.records[k]["predicted"] == x.records[k]["gold"] for k in keys], dtype=bool)
    cb = np.array([y.records[k]["predicted"] == y.records[k]["gold"] for k in keys], dtype=bool)
    a_only, b_only = int(np.sum(ca & ~cb)), int(np.sum(~ca & cb))
    ner = all(side.run.task == "token-classification" and all("gold_spans" in r and "predicted_spans" in r
                                                               for r in side.records.values()) for side in (x, y))
    f1_a = f1_b = None
    if ner:  # entity micro F1: what NER runs are trained and reported on
        counts_a = [entity_counts(x.records[k]) for k in keys]
        counts_b = [entity_counts(y.records[k]) for k in keys]
        diff, low, high, p = paired_f1_stats(counts_a, counts_b, n_boot=n_boot, seed=seed, confidence=1.0 - alpha)
        f1_a, f1_b = (float(_micro_f1(np.asarray(c, dtype=np.float64).sum(0))) for c in (counts_a, counts_b))
    else:
        p = mcnemar_exact(a_only, b_only)
        low, high = paired_bootstrap_ci(ca, cb, n_boot=n_boot, seed=seed, confidence=1.0 - alpha)
        diff = float(cb.mean() - ca.mean())
    significant = bool(p < alpha and (low > 0 or high < 0))
    test = PairTest(a, b, verdict="", n=len(keys), both_right=int(np.sum(ca & cb)), a_only=a_only, b_only=b_only,
                    both_wrong=int(np.sum(~ca & ~cb)), accuracy_a=float(ca.mean()), accuracy_b=float(cb.mean()),
                    diff_pt=diff * 100, ci_low_pt=low * 100, ci_high_pt=high * 100, p_value=p,
                    significant=significant, winner=(b if diff > 0 else a) if significant else None,
                    measure="entity_f1" if ner else "accuracy", f1_a=f1_a, f1_b=f1_b)
    test.verdict = verdict_text(test, label_a, label_b, confidence=1.0 - alpha)
    return test


def _loss_pair_test(x: _Loaded, y: _Loaded, a: int, b: int, label_a: str, label_b: str, *,
                    n_boot: int, seed: int, alpha: float) -> PairTest:
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

    metrics = []
    ner = all(r.task == "token-classification" for r in runs)
    sft = all(r.task == "causal-lm-sft" for r in runs)
    main_metric = "f1" if ner else "eval_loss" if sft else MAIN_METRIC
    rows = METRIC_ROWS + tuple(r for r in NER_METRIC_ROWS if any(mv[r[0]] is not None for mv in metric_values))
    rows += SFT_METRIC_ROWS if "causal-lm-sft" in tasks else ()
    for key, label, better in rows:
        values = [mv[key] for mv in metric_values]
        if (ner or sft) and key in ("accuracy", "macro_f1"):
            continue  # text-classification metrics: NER and SFT runs have none
        metrics.append(MetricRow(key=key, label=label, better=better, values=values, deltas=_deltas(values),
                                 best=_best(values, better), main=key == main_metric))

    evaluations = [_evaluation(ld) for ld in loaded]
    labels: list[str] = []
    for run, ev in zip(runs, evaluations):
        run_labels = [] if run.task == "token-classification" else list(run.info.get("labels") or [])
        for label in list((ev or {}).get("labels") or []) + run_labels:
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
                  "test": "McNemar exact (two-sided binomial on discordant pairs)",
                  "interval": "paired percentile bootstrap of the accuracy difference",
                  "ner_test": "approximate randomization of entity micro F1, swapping sentences (NER runs)",
                  "ner_interval": "paired percentile bootstrap of sentences for the entity F1 difference (NER runs)",
                  "loss_test": "paired sign-flip permutation test of the token-weighted eval-loss difference (SFT runs)",
                  "loss_interval": "paired percentile bootstrap of the token-weighted eval-loss difference (SFT runs)"},
    )


# ------------------------------------------------------------------------------------------ rendering
def format_metric(key: str, value: float | None) -> str:
    """A metrics-table value as shown to people."""
    if value is None:
        return "—"
    if key == "parameters":
        return f"{value / 1e6:.1f} M" if value >= 1e5 else f"{value:,.0f}"
    if key == "train_runtime":
        return f"{value:.1f}"
    if key == "samples_per_s":
        return f"{value:.1f}"
    return f"{value:.4f}"


def format_delta(key: str, delta: float | None) -> str:
    """A delta vs run A: points for accuracy and F1, the metric's own unit otherwise."""
    if delta is None:
        return "—"
    if key in ("accuracy", "macro_f1", "precision", "recall", "f1", "token_accuracy"):
        return f"{delta * 100:+.1f} pt"
    if key == "parameters":
        return f"{delta / 1e6:+.1f} M" if abs(delta) >= 1e5 else f"{delta:+,.0f}"
    if key == "eval_loss":
        return f"{delta:+.4f}"
    return f"{delta:+.1f}"


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _md(text: Any, limit: int | None = None) -> str:
    """Text safe inside a markdown table cell."""
    s = " ".join(str(text).split())
    if limit and len(s) > limit:
        s = s[: limit - 1] + "…"
    s = s.replace("\\", "\\\\").replace("|", "\\|")
    # Only what could open an HTML tag is escaped, so "p < 0.001" stays readable in the raw text.
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", s)


def _table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> list[str]:
    align = align or ["l"] + ["r"] * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"] + ["| " + " | ".join(r) + " |" for r in rows]


def _prediction_cell(p: RunPrediction | None) -> str:
    if p is None:
        return "—"
    score = f" ({p.score:.2f})" if p.score is not None else ""
    return f"{'✔' if p.correct else '✘'} {p.predicted}{score}"


def tests_footnote(c: Comparison) -> str:
    """How the pairs of ``c`` were tested, naming only the tests that were used."""
    level = f"{c.settings['confidence'] * 100:g}%"
    used = {p.measure for p in c.pairs if not p.refused} or {"accuracy"}
    resamples = f"{c.settings['n_boot']:,} resamples, seed {c.settings['seed']}"
    parts = {
        "accuracy": f"McNemar exact test on the examples where exactly one run is right; paired bootstrap {level} "
                    "interval of the accuracy difference",
        "entity_f1": f"entity F1 (NER): approximate randomization, swapping whole sentences between the runs; paired "
                     f"bootstrap {level} interval over sentences",
        "loss": f"eval loss (SFT): sign-flip permutation test and paired bootstrap {level} interval of the "
                "token-weighted loss difference per response token",
    }
    return "; ".join(parts[m] for m in ("accuracy", "entity_f1", "loss") if m in used) + f" ({resamples})."


def render_markdown(comparison: Comparison, *, top: int = 10, gold: str | None = None) -> str:
    """A Markdown report to paste into a pull request: verdicts first, then the evidence.

    ``top`` caps the disagreement list; ``gold`` keeps only disagreements of that gold class.
    """
    c = comparison
    letters = [r.letter for r in c.runs]
    out = [f"## Run comparison: {' vs '.join(f'{r.letter} `{_md(r.label)}`' for r in c.runs)}", ""]
    out += _table(["", "run", "id", "status", "model", "eval set"],
                  [[r.letter, _md(r.label), f"`{r.id}`", r.status, _md(r.model or "—"),
                    _md(f"{r.eval_source or '—'} ({r.eval_rows if r.eval_rows is not None else '?'} rows)")]
                   for r in c.runs], align=["l"] * 6)
    out.append("")
    if c.same_eval:
        out.append(f"All runs were evaluated on the same {c.eval_rows} examples.")
    if c.notes:
        out += [""] + [f"> - ⚠ {_md(note)}" for note in c.notes]
    out += ["", "### Verdict", ""]
    for p in c.pairs:
        line = f"- **{letters[p.b]} vs {letters[p.a]}**: {_md(p.verdict)}"
        if not p.refused and p.measure == "loss":
            line += (f" — {p.n} examples; lower loss: {letters[p.a]} on {p.a_only}, {letters[p.b]} on {p.b_only}")
        elif not p.refused:
            line += (f" — {p.n} {'sentences' if p.measure == 'entity_f1' else 'examples'}; "
                     f"{letters[p.a]} right/{letters[p.b]} wrong: {p.a_only}, {letters[p.b]} right/{letters[p.a]} wrong: {p.b_only}"
                     + (f"; entity F1 {p.f1_a:.4f} vs {p.f1_b:.4f}" if p.measure == "entity_f1" else ""))
        out.append(line)
    out += ["", f"<sub>{tests_footnote(c)}</sub>", "", "### Metrics", ""]
    header = ["metric"] + [f"{r.letter} {_md(r.label)}" for r in c.runs] + [f"Δ {r.letter}−A" for r in c.runs[1:]]
    rows = []
    for m in c.metrics:
        cells = [format_metric(m.key, v) for v in m.values]
        cells = [f"**{s}**" if i in m.best else s for i, s in enumerate(cells)]
        rows.append([m.label + (" (main)" if m.main else "")] + cells + [format_delta(m.key, d) for d in m.deltas[1:]])
    out += _table(header, rows)
    out += ["", "<sub>Best value per row in bold.</sub>", "", "### Config diff", ""]
    if c.config_diff:
        out += _table(["field"] + letters, [[f"`{d.key}`"] + [_md(_value(v)) for v in d.values] for d in c.config_diff],
                      align=["l"] * (len(letters) + 1))
    else:
        out.append("The configs are identical (apart from the run name).")
    if c.per_class:
        out += ["", "### Per class", ""]
        header = ["class", "metric"] + letters + [f"Δ {x}−A" for x in letters[1:]]
        rows = []
        for row in c.per_class:
            support = "/".join("—" if s is None else str(s) for s in dict.fromkeys(row.support))
            for m in CLASS_METRICS:
                rows.append([f"{_md(row.label)} (n={support})" if m == CLASS_METRICS[0] else "", m]
                            + ["—" if v is None else f"{v:.3f}" for v in row.scores[m]]
                            + [format_delta(m, d) for d in row.deltas[m][1:]])
        out += _table(header, rows, align=["l", "l"] + ["r"] * (len(header) - 2))
    matrices = [(c.runs[i], cm) for i, cm in enumerate(c.confusion) if cm is not None]
    if matrices:
        out += ["", "<details><summary>Confusion matrices (rows gold, columns predicted)</summary>", ""]
        for r, cm in matrices:
            out += [f"**{r.letter} {_md(r.label)}**", ""]
            out += _table(["gold \\ predicted"] + [_md(x) for x in cm.labels],
                          [[_md(label)] + [str(v) for v in row] for label, row in zip(cm.labels, cm.matrix)])
            out.append("")
        out.append("</details>")
    items = filter_disagreements(c.disagreements, gold=gold)
    if len(c.disagreement_runs) >= 2:
        shown = items[:top]
        scope = f" with gold class {_md(gold)}" if gold else ""
        out += ["", f"<details><summary>Disagreements{scope}: {len(items)} examples "
                f"(showing {len(shown)}, most confident mistakes first)</summary>", ""]
        if shown:
            out += _table(["id", "gold"] + [letters[i] for i in c.disagreement_runs] + ["text"],
                          [[_md(d.id), _md(d.gold)] + [_prediction_cell(d.predictions[i]) for i in c.disagreement_runs]
                           + [_md(d.input, 160)] for d in shown], align=["l"] * (len(c.disagreement_runs) + 3))
        else:
            out.append("None.")
        out += ["", "</details>"]
    return "\n".join(out) + "\n"


def render_rich(comparison: Comparison, *, top: int = 10, gold: str | None = None) -> list[Any]:
    """Rich renderables for a terminal: header, verdicts, metrics, config diff, per class, confusion and
    the top disagreements (``gold`` keeps one gold class). rich is imported here, not at module import."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    c = comparison
    letters = [r.letter for r in c.runs]
    parts: list[Any] = []
    title = Text.assemble(*[x for r in c.runs for x in ((f" {r.letter} ", "bold reverse"), (f" {r.label} ", "bold"),
                                                        (f"{r.status}  ", "dim"))])
    parts.append(title)
    if c.same_eval:
        parts.append(Text(f"same eval set ✔ ({c.eval_rows} examples)", style="green"))
    for note in c.notes:
        parts.append(Text(f"⚠ {note}", style="yellow"))

    losses = any(p.measure == "loss" for p in c.pairs)
    what = ("eval loss per token, nats; A✔B✘ = A lower" if losses else
            "entity F1; A✔B✘ counts whole sentences" if any(p.measure == "entity_f1" for p in c.pairs) else "accuracy")
    verdicts = Table(title=f"significance (paired on the same examples: {what})",
                     title_justify="left", box=None, header_style="bold")
    unit = "nats" if losses else "pt"
    for col in ("pair", "n", "A✔B✘", "A✘B✔", f"Δ {unit}", f"{c.settings['confidence'] * 100:g}% CI {unit}", "p", "verdict"):
        verdicts.add_column(col, justify="left" if col in ("pair", "verdict") else "right", overflow="fold")
    for p in c.pairs:
        style = "green" if p.significant else ("dim" if p.refused else "")
        if p.refused:
            verdicts.add_row(f"{letters[p.b]} vs {letters[p.a]}", "—", "—", "—", "—", "—", "—", Text(p.verdict, style=style))
        elif p.measure == "loss":
            verdicts.add_row(f"{letters[p.b]} vs {letters[p.a]}", str(p.n), str(p.a_only), str(p.b_only),
                             f"{p.diff_loss:+.4f}", f"[{p.ci_low_loss:+.4f}, {p.ci_high_loss:+.4f}]",
                             format_p(p.p_value).lstrip("= "), Text(p.verdict, style=style))
        else:
            verdicts.add_row(f"{letters[p.b]} vs {letters[p.a]}", str(p.n), str(p.a_only), str(p.b_only),
                             f"{p.diff_pt:+.1f}", f"[{p.ci_low_pt:+.1f}, {p.ci_high_pt:+.1f}]", format_p(p.p_value).lstrip("= "),
                             Text(p.verdict, style=style))
    parts.append(verdicts)

    metrics = Table(title="metrics (best in bold green)", title_justify="left", box=None, header_style="bold")
    metrics.add_column("metric")
    for r in c.runs:
        metrics.add_column(f"{r.letter} {r.label}", justify="right")
    for r in c.runs[1:]:
        metrics.add_column(f"Δ {r.letter}−A", justify="right")
    for m in c.metrics:
        cells = [Text(format_metric(m.key, v), style="bold green" if i in m.best else "") for i, v in enumerate(m.values)]
        metrics.add_row(m.label, *cells, *[format_delta(m.key, d) for d in m.deltas[1:]])
    parts.append(metrics)

    config = Table(title="config diff", title_justify="left", box=None, header_style="bold")
    config.add_column("field")
    for x in letters:
        config.add_column(x)
    for d in c.config_diff:
        config.add_row(d.key, *[_value(v) for v in d.values])
    parts.append(config if c.config_diff else Text("config diff: identical (apart from the run name)"))

    if c.per_class:
        per = Table(title="per class (P precision, R recall; Δ in points vs A)", title_justify="left", box=None,
                    header_style="bold")
        per.add_column("class")
        per.add_column("n", justify="right")
        short = {"precision": "P", "recall": "R", "f1": "F1"}
        for m in CLASS_METRICS:
            for x in letters:
                per.add_column(f"{short[m]} {x}", justify="right")
            for x in letters[1:]:
                per.add_column(f"Δ{short[m]} {x}", justify="right")
        for row in c.per_class:
            cells = []
            for m in CLASS_METRICS:
                cells += ["—" if v is None else f"{v:.3f}" for v in row.scores[m]]
                cells += [format_delta(m, d).replace(" pt", "") for d in row.deltas[m][1:]]
            per.add_row(row.label, "/".join("—" if s is None else str(s) for s in dict.fromkeys(row.support)), *cells)
        parts.append(per)

    for r, cm in ((c.runs[i], cm) for i, cm in enumerate(c.confusion) if cm is not None):
        # The heading is a line of its own: as a table title it would wrap to the narrow matrix's width.
        heading = Text(f"confusion {r.letter} {r.label} (rows gold, columns predicted)", style="italic")
        t = Table(box=None, header_style="bold")
        t.add_column("")
        for label in cm.labels:
            t.add_column(label, justify="right")
        for label, row in zip(cm.labels, cm.matrix):
            t.add_row(label, *map(str, row))
        parts.append(Group(heading, t))

    if len(c.disagreement_runs) >= 2:
        items = filter_disagreements(c.disagreements, gold=gold)
        scope = f", gold {gold}" if gold else ""
        t = Table(title=f"disagreements{scope}: {len(items)} (top {min(top, len(items))}, most confident mistakes first)",
                  title_justify="left", box=None, header_style="bold")
        t.add_column("id")
        t.add_column("gold")
        for i in c.disagreement_runs:
            t.add_column(letters[i])
        t.add_column("text", overflow="fold", ratio=1)
        for d in items[:top]:
            cells = [Text(_prediction_cell(d.predictions[i]), style="green" if d.predictions[i].correct else "red")
                     for i in c.disagreement_runs]
            text = d.input if len(d.input) <= 200 else d.input[:199] + "…"
            t.add_row(str(d.id), d.gold, *cells, text)
        parts.append(t)
    return parts
