"""The task-free statistics of ``workbench.core.compare.stats`` on hand-checked inputs (no runs, no files)."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from workbench.core.compare.stats import (mcnemar_exact, micro_f1, paired_bootstrap_ci, paired_f1_stats,
                                          paired_loss_stats)


# ------------------------------------------------------------------------------------------ McNemar
def test_mcnemar_exact_on_a_table_worked_by_hand():
    # Discordant cells b = 1 (A right, B wrong) and c = 9: under H0 the smaller count is Binomial(10, 1/2),
    # so p = 2 · (C(10,0) + C(10,1)) / 2^10 = 22/1024.
    assert mcnemar_exact(1, 9) == pytest.approx(float(Fraction(22, 1024)), rel=1e-12)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)  # two-sided: the order of the runs does not matter


def test_mcnemar_exact_is_one_when_the_discordant_counts_are_balanced_or_absent():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(4, 4) == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------ bootstrap
def test_bootstrap_rejects_inputs_that_are_not_paired():
    with pytest.raises(ValueError):
        paired_bootstrap_ci([True, False], [True])
    with pytest.raises(ValueError):
        paired_bootstrap_ci([], [])


def test_bootstrap_interval_holds_the_observed_difference_and_repeats_with_its_seed():
    a = [True] * 10 + [False] * 10
    b = [True] * 16 + [False] * 4
    low, high = paired_bootstrap_ci(a, b, n_boot=2000, seed=11)
    assert low <= 0.3 <= high  # accuracy 0.8 − 0.5
    assert (low, high) == paired_bootstrap_ci(a, b, n_boot=2000, seed=11)


# ------------------------------------------------------------------------------------------ micro F1
def test_micro_f1_from_summed_counts():
    assert micro_f1(np.array([1.0, 3.0, 2.0])) == pytest.approx(2 / 5)  # 2·correct / (predicted + gold)
    assert micro_f1(np.array([0.0, 0.0, 0.0])) == 0.0  # nothing predicted, nothing to find
    assert micro_f1(np.array([[2.0, 2.0, 2.0], [0.0, 1.0, 1.0]])).tolist() == [1.0, 0.0]  # last axis only


def test_approximate_randomization_matches_the_exact_swap_distribution():
    # 4 sentences, one entity each: A finds none of them, B finds all. Swapping k sentences gives
    # |F1_B − F1_A| = |4 − 2k| / 4, which reaches the observed 1 only for k = 0 or 4: exact p = 2/16.
    a, b = [(0, 1, 1)] * 4, [(1, 1, 1)] * 4
    diff, low, high, p = paired_f1_stats(a, b, n_boot=40_000, seed=0)
    assert diff == 1.0 and low == high == 1.0
    assert p == pytest.approx(2 / 16, abs=0.01)


def test_f1_stats_of_identical_systems():
    counts = [(1, 2, 2), (0, 1, 0), (3, 3, 4)]
    assert paired_f1_stats(counts, counts, n_boot=300, seed=1) == (0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError):
        paired_f1_stats([(1, 2)], [(1, 2)])


# ------------------------------------------------------------------------------------------ sign-flip permutation
def test_loss_difference_is_token_weighted():
    # Example 1: 1 token, B worse by 1 nat; example 2: 3 tokens, equal. (1·1 + 3·0) / 4 = 0.25.
    diff, _, _, _ = paired_loss_stats([1.0, 2.0], [2.0, 2.0], [1, 3], n_boot=100, seed=0)
    assert diff == pytest.approx(0.25)


def test_permutation_p_of_identical_samples_is_one():
    loss = [2.1, 1.7, 3.0, 2.4]
    assert paired_loss_stats(loss, loss, [5, 3, 8, 1], n_boot=500, seed=2) == (0.0, 0.0, 0.0, 1.0)


def test_sign_flip_p_matches_the_exact_permutation_distribution():
    # Five examples with differences 1, 1, 1, 1, 2 (equal tokens): the exact two-sided p counts the sign
    # patterns whose |sum| reaches the observed 6 among all 2^5.
    d = [1.0, 1.0, 1.0, 1.0, 2.0]
    exact = sum(abs(sum(s * x for s, x in zip(signs, d))) >= sum(d) for signs in itertools.product((1, -1), repeat=5)) / 32
    assert exact == 2 / 32
    _, low, high, p = paired_loss_stats([0.0] * 5, d, [1] * 5, n_boot=40_000, seed=0)
    assert p == pytest.approx(exact, abs=0.01)
    assert 1.0 <= low <= 1.2 <= high <= 2.0  # the bootstrap stays within the observed differences


def test_loss_stats_reject_unpaired_inputs_and_no_tokens():
    with pytest.raises(ValueError):
        paired_loss_stats([1.0], [1.0, 2.0], [1, 1])
    with pytest.raises(ValueError):
        paired_loss_stats([1.0], [2.0], [0])
