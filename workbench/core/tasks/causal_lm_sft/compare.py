"""How ``compare`` treats causal-LM SFT runs: the perplexity row, a sign-flip test of per-example eval losses."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.core.compare.by_task import (Row, TaskCompare, id_problem, malformed, recorded_with_confusion,
                                            run_class_labels)
from workbench.core.compare.data import Loaded, PairTest, num
from workbench.core.compare.render import loss_verdict_text, verdict_text
from workbench.core.compare.stats import paired_loss_stats, paired_mean_stats
from workbench.core.runs import Run

SFT_ROWS: tuple[Row, ...] = (("perplexity", "perplexity", "lower"), ("rougeL", "ROUGE-L", "higher"),
                              ("rouge1", "ROUGE-1", "higher"), ("rouge2", "ROUGE-2", "higher"),
                              ("bleu", "BLEU", "higher"), ("chrf", "chrF", "higher"),
                              ("exact_match", "exact match", "higher"))


def sft_record_problem(name: str, rec: dict[str, Any]) -> str | None:
    """Why one per-example loss record (id, loss, tokens) cannot be used, or None."""
    if num(rec["loss"]) is None or not isinstance(rec["tokens"], int) or rec["tokens"] < 1:
        return f"{name}'s predictions.jsonl has an example without a finite loss over at least one token."
    return malformed(name, id_problem(rec))


def sft_missing_note(run: Run) -> str | None:
    """A finished SFT run without per-example losses predates them: say what can still be compared."""
    if run.status == "completed":
        return (f"{run.name} has no per-example eval losses (it was trained before they were recorded); "
                "compare its eval loss, perplexity and sample generations.")
    return None


def sft_evaluation(loaded: Loaded, recorded: dict[str, Any]) -> dict[str, Any] | None:
    """SFT runs have no classes: only a complete per-class evaluation in run.json would be shown."""
    return recorded_with_confusion(recorded)


def shared_generation_metric(x: Loaded, y: Loaded) -> str | None:
    """The generation score both runs recorded for every eval example (their primary one: ROUGE-L, BLEU …), or None."""
    primary = [((ld.run.info.get("evaluation") or {}).get("generation") or {}).get("primary") for ld in (x, y)]
    metric = primary[0]
    if not metric or metric != primary[1]:
        return None
    for ld in (x, y):
        if not all(num((rec.get("scores") or {}).get(metric)) is not None for rec in ld.records.values()):
            return None
    return metric


def generation_pair(x: Loaded, y: Loaded, a: int, b: int, label_a: str, label_b: str, metric: str, *,
                    n_boot: int, seed: int, alpha: float) -> PairTest:
    """The mean per-example generation score (0–100) of two runs on the same examples: a paired sign-flip
    permutation test and a paired bootstrap of the per-example differences, in points."""
    keys = list(x.records)
    sa = np.array([float(x.records[k]["scores"][metric]) for k in keys])
    sb = np.array([float(y.records[k]["scores"][metric]) for k in keys])
    diff, low, high, p = paired_mean_stats(sa, sb, n_boot=n_boot, seed=seed, confidence=1.0 - alpha)
    significant = bool(p < alpha and (low > 0 or high < 0))
    test = PairTest(a, b, verdict="", n=len(keys), a_only=int(np.sum(sa > sb)), b_only=int(np.sum(sb > sa)),
                    diff_pt=diff, ci_low_pt=low, ci_high_pt=high, p_value=p, significant=significant,
                    winner=(b if diff > 0 else a) if significant else None, measure="generation", metric=metric,
                    score_a=float(sa.mean()), score_b=float(sb.mean()))
    test.verdict = verdict_text(test, label_a, label_b, confidence=1.0 - alpha)
    return test


def sft_pair(x: Loaded, y: Loaded, a: int, b: int, label_a: str, label_b: str, *,
             n_boot: int, seed: int, alpha: float) -> PairTest:
    """Runs that scored their generations on the same examples: the paired test of their primary generation score
    (``generation_pair``). Otherwise the token-weighted mean eval-loss difference of two runs on the same examples:
    a paired sign-flip permutation test and a paired bootstrap, both over whole examples. Refused when the runs
    split an example into different numbers of tokens (different tokenizers): their per-token losses measure
    different things."""
    metric = shared_generation_metric(x, y)
    if metric is not None:
        return generation_pair(x, y, a, b, label_a, label_b, metric, n_boot=n_boot, seed=seed, alpha=alpha)
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


COMPARE = TaskCompare(
    predictions="loss", record_fields=("id", "loss", "tokens"), record_problem=sft_record_problem,
    missing_note=sft_missing_note, main_metric="eval_loss", rows=SFT_ROWS, rows_shown="with-a-value",
    first=False, curves=(), rows_from_eval_events=False, class_labels=run_class_labels,
    evaluation=sft_evaluation, pair=sft_pair,
    settings={"loss_test": "paired sign-flip permutation test of the token-weighted eval-loss difference (SFT runs)",
              "loss_interval": "paired percentile bootstrap of the token-weighted eval-loss difference (SFT runs)"})
