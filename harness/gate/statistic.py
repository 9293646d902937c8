"""The gate's statistic: paired log-ratios judged by an exact Wilcoxon signed-rank test, pure and I/O-free.

One pair is one baseline trial and one candidate trial run back to back; its figure for a metric is
``d = ln(candidate / baseline)``. The trial, never the message, is the unit: messages inside one trial are
autocorrelated (one stall delays everything queued behind it), so only whole trials are independent draws.

For ``n`` pairs this module gives the exact signed-rank p-value of "the candidate is slower" (ties get mid-ranks
and the null distribution is exact for the ranks as they are, zeros are dropped), the Hodges–Lehmann estimate of
the median log-ratio, the distribution-free confidence bounds that go with it (order statistics of the Walsh
averages), and an approximate minimum detectable effect. Nothing here knows about trials or servers: the runner
feeds numbers in and reads decisions out, and the tests drive it with seeded synthetic streams.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist, median

__all__ = [
    "SignedRank",
    "confidence_bounds",
    "hodges_lehmann",
    "log_ratios",
    "minimum_detectable_effect",
    "signed_rank",
]

_NORMAL = NormalDist()
#: Asymptotic efficiency of the signed-rank test relative to the t-test under normal noise (3/π): the minimum
#: detectable effect is the t-test's, widened by 1/√ARE.
_ARE = 3.0 / math.pi
#: Scales the median absolute deviation to a standard deviation under normal noise.
_MAD_TO_SD = 1.4826


def log_ratios(baseline: Sequence[float], candidate: Sequence[float]) -> list[float]:
    """``ln(candidate_i / baseline_i)`` for each pair.

    Raises:
        ValueError: if the lengths differ or a value is not a positive finite number (a ratio of a zero or
            missing figure means nothing; the caller reports such a trial instead).
    """
    if len(baseline) != len(candidate):
        raise ValueError(f"{len(baseline)} baseline figures but {len(candidate)} candidate figures")
    out = []
    for i, (a, b) in enumerate(zip(baseline, candidate, strict=True)):
        if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
            raise ValueError(f"pair {i + 1}: a log-ratio needs two positive finite figures, got {a!r} and {b!r}")
        out.append(math.log(b / a))
    return out


@dataclass(frozen=True, slots=True)
class SignedRank:
    """An exact one-sided Wilcoxon signed-rank test of paired differences.

    Attributes:
        n: non-zero differences (zeros carry no sign and are dropped).
        statistic: the sum of the ranks of the positive differences (``W+``).
        p_greater: P(W+ >= statistic) when the differences are symmetric about 0: small means "greater".
        p_less: P(W+ <= statistic) under the same null: small means "less".
    """

    n: int
    statistic: float
    p_greater: float
    p_less: float


def _midranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n of ``values`` (ascending), tied values sharing their mean rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        mean_rank = (i + j + 2) / 2
        for k in range(i, j + 1):
            ranks[order[k]] = mean_rank
        i = j + 1
    return ranks


@lru_cache(maxsize=512)
def _null_counts(doubled_ranks: tuple[int, ...]) -> tuple[int, ...]:
    """How many of the 2**n sign assignments give each value of 2·W+ (ranks doubled so mid-ranks are integers).

    Exact for the ranks as given, ties included: the permutation distribution the test conditions on.
    """
    counts = [1] + [0] * sum(doubled_ranks)
    top = 0
    for r in doubled_ranks:
        top += r
        for s in range(top, r - 1, -1):
            counts[s] += counts[s - r]
    return tuple(counts)


def signed_rank(differences: Sequence[float]) -> SignedRank:
    """The exact signed-rank test of ``differences`` against a distribution symmetric about zero."""
    nonzero = [d for d in differences if d != 0.0]
    n = len(nonzero)
    if n == 0:
        return SignedRank(0, 0.0, 1.0, 1.0)
    ranks = _midranks([abs(d) for d in nonzero])
    doubled = tuple(sorted(round(2 * r) for r in ranks))
    w2 = sum(round(2 * r) for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    counts = _null_counts(doubled)
    total = 2**n
    return SignedRank(
        n=n,
        statistic=w2 / 2,
        p_greater=sum(counts[w2:]) / total,
        p_less=sum(counts[: w2 + 1]) / total,
    )


def _walsh_averages(values: Sequence[float]) -> list[float]:
    return sorted((values[i] + values[j]) / 2 for i in range(len(values)) for j in range(i, len(values)))


def hodges_lehmann(differences: Sequence[float]) -> float:
    """The Hodges–Lehmann estimate of the centre of ``differences``: the median of the Walsh averages.

    Raises:
        ValueError: without any difference.
    """
    if not differences:
        raise ValueError("no differences to estimate from")
    return median(_walsh_averages(differences))


@lru_cache(maxsize=128)
def _upper_critical(n: int, alpha: float) -> int | None:
    """Smallest t with P(W+ >= t) <= alpha for n untied differences; None if even W+ = max is more likely."""
    counts = _null_counts(tuple(2 * r for r in range(1, n + 1)))
    total = 2**n
    tail = 0
    t2 = len(counts) - 1
    # Walk down from the top while the tail stays within alpha (counts are indexed by 2·W+).
    best = None
    while t2 >= 0:
        tail += counts[t2]
        if tail / total > alpha:
            break
        if t2 % 2 == 0:
            best = t2 // 2
        t2 -= 1
    return best


def confidence_bounds(differences: Sequence[float], alpha: float) -> tuple[float, float]:
    """One-sided ``1 - alpha`` lower and upper confidence bounds for the centre of ``differences``.

    Each bound is an order statistic of the Walsh averages at the signed-rank test's exact critical value, so the
    lower bound is above 0 exactly when the test rejects "not greater" at ``alpha`` (for untied data). With too
    few differences for that level a bound is infinite.
    """
    n = len(differences)
    t = _upper_critical(n, alpha) if n else None
    if t is None or t == 0:
        return (-math.inf, math.inf)
    walsh = _walsh_averages(differences)
    count = len(walsh)
    # #{Walsh averages > θ} is W+ of the differences shifted by θ: the test rejects θ while it is >= t.
    return walsh[count - t], walsh[t - 1]


def minimum_detectable_effect(differences: Sequence[float], alpha: float, power: float = 0.8) -> float | None:
    """The log-ratio this many pairs with this spread would detect with probability ``power`` (approximate).

    Normal approximation, the spread estimated robustly (median absolute deviation) and widened for the
    signed-rank test's efficiency. None with fewer than 3 pairs (no spread to speak of).
    """
    n = len(differences)
    if n < 3:
        return None
    centre = median(differences)
    sd = _MAD_TO_SD * median(abs(d - centre) for d in differences)
    z = _NORMAL.inv_cdf(1 - alpha) + _NORMAL.inv_cdf(power)
    return z * sd / math.sqrt(n * _ARE)
