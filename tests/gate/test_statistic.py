"""The gate's statistic against brute force and against its own definitions."""

from __future__ import annotations

import itertools
import math
import random
from statistics import NormalDist, median

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.gate.statistic import (
    confidence_bounds,
    hodges_lehmann,
    log_ratios,
    minimum_detectable_effect,
    signed_rank,
)


def _brute_force(differences: list[float]) -> tuple[float, float]:
    """P(W+ >= w) and P(W+ <= w) by enumerating every sign assignment of the ranks (mid-ranks for ties)."""
    nonzero = [d for d in differences if d != 0]
    magnitudes = sorted(abs(d) for d in nonzero)

    def rank(x: float) -> float:
        positions = [i + 1 for i, m in enumerate(magnitudes) if m == x]
        return sum(positions) / len(positions)

    ranks = [rank(abs(d)) for d in nonzero]
    observed = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    sums = [
        sum(r for r, s in zip(ranks, signs, strict=True) if s) for signs in itertools.product((0, 1), repeat=len(ranks))
    ]
    greater = sum(1 for s in sums if s >= observed - 1e-9) / len(sums)
    less = sum(1 for s in sums if s <= observed + 1e-9) / len(sums)
    return greater, less


@given(st.lists(st.integers(min_value=-6, max_value=6), min_size=1, max_size=10))
def test_exact_p_values_equal_enumeration_ties_and_zeros_included(values: list[int]) -> None:
    differences = [v / 4 for v in values]  # small integers: many ties and zeros
    result = signed_rank(differences)
    greater, less = _brute_force(differences)
    assert result.p_greater == pytest.approx(greater, abs=1e-12)
    assert result.p_less == pytest.approx(less, abs=1e-12)
    assert result.n == sum(1 for d in differences if d != 0)


def test_known_values() -> None:
    # All of 8 positive: W+ = 36, only one of 256 assignments reaches it.
    assert signed_rank([0.1 * i for i in range(1, 9)]).p_greater == pytest.approx(1 / 256)
    assert signed_rank([]).p_greater == 1.0
    assert signed_rank([0.0, 0.0]).n == 0
    assert hodges_lehmann([1.0, 2.0, 9.0]) == pytest.approx(median([1, 1.5, 5, 2, 5.5, 9]))


@given(st.lists(st.floats(min_value=-1, max_value=1, allow_nan=False), min_size=3, max_size=14, unique=True))
def test_lower_bound_above_zero_exactly_when_the_test_rejects(differences: list[float]) -> None:
    differences = [d for d in differences if d != 0]
    if len(differences) < 3 or len({abs(d) for d in differences}) < len(differences):
        return
    alpha = 0.05
    lower, upper = confidence_bounds(differences, alpha)
    assert (lower > 0) == (signed_rank(differences).p_greater <= alpha)
    assert (upper < 0) == (signed_rank(differences).p_less <= alpha)


@pytest.mark.parametrize("n", [6, 10, 16])
def test_bounds_cover_the_true_centre_at_their_level(n: int) -> None:
    rng = random.Random(n)
    alpha, sims, centre = 0.05, 2000, 0.3
    misses_low = misses_high = 0
    for _ in range(sims):
        d = [centre + rng.gauss(0, 1) for _ in range(n)]
        lower, upper = confidence_bounds(d, alpha)
        misses_low += lower > centre
        misses_high += upper < centre
    # Binomial(2000, 0.05): mean 100, sd 9.7; 130 is more than 3 sd above.
    assert misses_low <= 130 and misses_high <= 130
    # And not absurdly conservative (a bound at infinity would never miss).
    assert misses_low >= 40 and misses_high >= 40


def test_too_few_pairs_give_infinite_bounds() -> None:
    # With 4 pairs the smallest one-sided p is 1/16 > 0.05: no finite bound at 95 %.
    assert confidence_bounds([0.1, 0.2, 0.3, 0.4], 0.05) == (-math.inf, math.inf)
    lower, upper = confidence_bounds([0.1, 0.2, 0.3, 0.4, 0.5], 0.05)
    assert lower == pytest.approx(0.1) and math.isinf(upper) is False


def test_minimum_detectable_effect_is_about_what_the_test_detects() -> None:
    rng = random.Random(7)
    n, sigma, alpha = 12, 0.1, 0.05
    # Pairs whose spread is exactly sigma's normal quantiles: the estimate's own sampling noise left out.
    sample = [sigma * NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)]
    mde = minimum_detectable_effect(sample, alpha, power=0.8)
    assert mde is not None
    hits = sum(signed_rank([mde + rng.gauss(0, sigma) for _ in range(n)]).p_greater <= alpha for _ in range(1000))
    # A normal approximation on a discrete exact test: the power it promises should be roughly right.
    assert 0.7 <= hits / 1000 <= 0.9
    assert minimum_detectable_effect([0.1, 0.2], alpha) is None


def test_log_ratios_refuse_zero_and_mismatched_figures() -> None:
    assert log_ratios([1.0, 2.0], [2.0, 2.0]) == pytest.approx([math.log(2), 0.0])
    with pytest.raises(ValueError, match="pair 2"):
        log_ratios([1.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="2 baseline figures but 1"):
        log_ratios([1.0, 2.0], [1.0])
