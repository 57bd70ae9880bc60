"""Paired significance tests on two systems' per-example results: pure functions on arrays, with no
knowledge of runs, tasks or files.

Every test here is *paired*: position ``i`` of both inputs is the same evaluation example, and the
examples are assumed independent of each other (resampling or permuting them as units is then valid).
Each resampling function draws from ``np.random.default_rng(seed)``, so a seed always gives the same
result, and draws in blocks of at most ``_BOOT_CELLS`` indices so that memory stays bounded.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

DEFAULT_N_BOOT = 10_000
# The bootstrap draws at most this many indices at once, so memory stays bounded on large eval sets
# (10,000 resamples × 25,000 examples would otherwise be 2 GB of int64).
_BOOT_CELLS = 4_000_000


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (A right/B wrong, B right/A wrong).

    Assumes paired binary outcomes (right/wrong per example for both systems) on independent examples;
    only the discordant examples carry information. Under the null hypothesis each discordant example is
    equally likely to favour either system, so the count is Binomial(a_only + b_only, 1/2); the p-value is
    ``scipy.stats.binomtest``'s two-sided one. With no discordant examples there is no evidence either way: p = 1.
    """
    from scipy.stats import binomtest

    n = int(a_only) + int(b_only)
    if n == 0:
        return 1.0
    return float(binomtest(int(b_only), n, 0.5, alternative="two-sided").pvalue)


def paired_bootstrap_ci(correct_a: Sequence[bool], correct_b: Sequence[bool], *, n_boot: int = DEFAULT_N_BOOT,
                        seed: int = 0, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of accuracy(B) − accuracy(A) (as a fraction, not points).

    Assumes the examples are independent draws from the population of interest (a percentile interval can
    be somewhat too narrow on very small sets). Each resample draws ``n`` example indices with replacement from
    ``np.random.default_rng(seed)`` (``rng.integers(0, n, size=n)`` per resample, drawn in blocks; the stream
    is identical either way) and takes the mean of the per-example differences, so both systems are always
    scored on the same examples. The interval's ends are ``np.quantile`` (linear interpolation) of the
    resampled differences.
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


def micro_f1(counts: np.ndarray) -> np.ndarray:
    """Micro F1 from summed ``(correct, predicted, gold)`` counts (last axis): 2·correct / (predicted + gold).

    0 where there is nothing predicted and nothing to find (the denominator is clamped to 1)."""
    return 2.0 * counts[..., 0] / np.maximum(counts[..., 1] + counts[..., 2], 1.0)


def paired_f1_stats(counts_a: Sequence[Sequence[int]], counts_b: Sequence[Sequence[int]], *, n_boot: int = DEFAULT_N_BOOT,
                    seed: int = 0, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """``(diff, ci_low, ci_high, p)`` for micro F1(B) − F1(A), as fractions.

    ``counts_*`` hold one ``(correct, predicted, gold)`` row per unit (for NER: entities per sentence). F1 is
    not a mean over units, so the tests work on the summed counts. Assumes the units are independent and
    exchangeable between the systems under the null hypothesis. The interval is a percentile bootstrap that
    resamples units; p is two-sided approximate randomization: each resample swaps each unit's counts between
    the systems with probability 1/2 (the standard test for F1), with the +1 correction so it is never 0.
    """
    a, b = np.asarray(counts_a, dtype=np.float64), np.asarray(counts_b, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 3 or a.shape != b.shape or a.shape[0] == 0:
        raise ValueError("counts_a and counts_b must be non-empty (n, 3) arrays of one shape")
    n = a.shape[0]
    total_a, total_b, delta = a.sum(0), b.sum(0), b - a
    diff = float(micro_f1(total_b) - micro_f1(total_a))
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOT_CELLS // (3 * n))
    boots, swaps = [], []
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(k, n))
        boots.append(micro_f1(b[idx].sum(1)) - micro_f1(a[idx].sum(1)))
        moved = rng.integers(0, 2, size=(k, n)).astype(np.float64) @ delta  # B's counts given to A and back
        swaps.append(np.abs(micro_f1(total_b - moved) - micro_f1(total_a + moved)))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(np.concatenate(boots), [tail, 1.0 - tail])
    swapped = np.concatenate(swaps)
    p = float((1 + np.sum(swapped >= abs(diff) - 1e-12)) / (1 + swapped.size))
    return diff, float(low), float(high), min(1.0, p)


def paired_loss_stats(loss_a: Sequence[float], loss_b: Sequence[float], tokens: Sequence[int], *,
                      n_boot: int = DEFAULT_N_BOOT, seed: int = 0, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """``(diff, ci_low, ci_high, p)`` for the token-weighted mean loss of B minus that of A.

    Each example contributes ``tokens × (loss_b − loss_a)``; the difference is their sum over the token total
    (exactly mean loss B − mean loss A, both weighted by tokens, as eval loss is). Assumes both losses of an
    example are over the same tokens (same ``tokens`` weight) and that examples are independent; the
    permutation test further assumes each example's difference is symmetric around 0 under the null. The
    interval is a percentile bootstrap over examples; p is a two-sided sign-flip permutation test (under no
    difference, each example's difference is as likely positive as negative), with the +1 correction so it
    is never 0.
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


def paired_mean_stats(a: Sequence[float], b: Sequence[float], *, n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                      confidence: float = 0.95) -> tuple[float, float, float, float]:
    """``(diff, ci_low, ci_high, p)`` for mean(B) − mean(A) of a per-example score (QA: F1 per question): the
    sign-flip permutation test and percentile bootstrap of :func:`paired_loss_stats` with every example weighing
    the same."""
    return paired_loss_stats(a, b, [1] * len(a), n_boot=n_boot, seed=seed, confidence=confidence)
