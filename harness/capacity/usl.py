"""The Universal Scalability Law fitted to measured throughput: X(N) = λN / (1 + σ(N − 1) + κN(N − 1)).

σ is contention (the serial share), κ coherency (the cost of keeping N parts in step); the throughput peaks at
N* = √((1 − σ) / κ). The three coefficients are fitted together by bounded nonlinear least squares on relative
residuals (as R's ``usl`` fits them since it dropped the old transform to a polynomial), from several starting
points, and their intervals come from a bootstrap over the measured points.

Refused, rather than answered wrongly (``UslRefused``):

- fewer than :data:`MIN_POINTS` points, or fewer than 3 distinct N: three coefficients need more;
- a peak N* beyond :data:`MAX_EXTRAPOLATION` times the largest measured N (or no coherency at all): the data do not
  reach the knee, so κ, and with it N*, is not identified ("coherency not identified").

Pure: numbers in, a fit out (numpy and SciPy only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy.optimize import least_squares  # type: ignore[import-untyped]

__all__ = ["MAX_EXTRAPOLATION", "MIN_POINTS", "UslFit", "UslPoint", "UslRefused", "fit_usl"]

MIN_POINTS: Final = 6
#: N* may lie at most this many times beyond the largest measured N.
MAX_EXTRAPOLATION: Final = 2.0


class UslRefused(ValueError):
    """The points cannot identify the model; the message says why and what would."""


@dataclass(frozen=True, slots=True)
class UslPoint:
    """One measurement: concurrency N (workers, hosts) and the throughput X it held."""

    n: float
    throughput: float


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class UslFit:
    """A fitted model.

    Attributes:
        lam, sigma, kappa: λ (throughput of one unit), σ, κ.
        n_star: the N of peak throughput.
        x_star: the throughput at N*.
        residuals: measured minus fitted throughput, per point, in the points' order.
        intervals: bootstrap percentile intervals of ``lam``, ``sigma``, ``kappa`` and ``n_star``.
        confidence: their coverage (0.95).
        resamples: bootstrap fits that succeeded.
        measured_n: (smallest, largest) N measured: predictions outside it are extrapolation.
    """

    lam: float
    sigma: float
    kappa: float
    n_star: float
    x_star: float
    residuals: tuple[float, ...]
    intervals: dict[str, Interval]
    confidence: float
    resamples: int
    measured_n: tuple[float, float]

    def predict(self, n: float) -> float:
        return float(_model(np.array([n]), self.lam, self.sigma, self.kappa)[0])

    def extrapolated(self, n: float) -> bool:
        return not self.measured_n[0] <= n <= self.measured_n[1]


def _model(n: np.ndarray, lam: float, sigma: float, kappa: float) -> np.ndarray:
    result: np.ndarray = lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))
    return result


def _fit(n: np.ndarray, x: np.ndarray, start: tuple[float, float, float] | None = None) -> tuple[float, float, float]:
    """The least-squares (λ, σ, κ) on relative residuals, so each point counts alike whatever its throughput.

    Without ``start``, from the best of several starting points (the cost surface has long flat valleys); a
    bootstrap refit starts from the full fit's coefficients.
    """
    lam0 = float(np.max(x[n == n.min()]) / n.min())
    starts = [start] if start is not None else [(lam0, s0, k0) for s0 in (0.01, 0.1, 0.5) for k0 in (1e-5, 1e-3, 1e-1)]
    best: tuple[float, tuple[float, float, float]] | None = None
    for x0 in starts:
        result = least_squares(
            lambda p: (_model(n, p[0], p[1], p[2]) - x) / x,
            x0=list(x0),
            bounds=([1e-12, 0.0, 0.0], [np.inf, 1.0, np.inf]),
            x_scale=[max(lam0, 1e-9), 0.1, 0.01],
            method="trf",
            max_nfev=2000,
        )
        cost = float(result.cost)
        if best is None or cost < best[0]:
            best = (cost, (float(result.x[0]), float(result.x[1]), float(result.x[2])))
    assert best is not None
    return best[1]


def _n_star(sigma: float, kappa: float) -> float:
    return math.sqrt((1 - sigma) / kappa) if kappa > 0 else math.inf


def fit_usl(points: Sequence[UslPoint], *, resamples: int = 500, confidence: float = 0.95, seed: int = 1) -> UslFit:
    """Fit the USL to ``points``.

    Raises:
        UslRefused: too few points, or the knee is not within reach of the data (see the module's text).
    """
    if len(points) < MIN_POINTS:
        raise UslRefused(f"the USL needs at least {MIN_POINTS} measured points; got {len(points)}")
    n = np.array([p.n for p in points], dtype=float)
    x = np.array([p.throughput for p in points], dtype=float)
    if np.any(n < 1) or np.any(~np.isfinite(n)) or np.any(~np.isfinite(x)) or np.any(x <= 0):
        raise UslRefused("every point needs N >= 1 and a throughput above 0")
    if len(set(n.tolist())) < 3:
        raise UslRefused(f"the USL needs at least 3 distinct N; got {sorted(set(n.tolist()))}")
    lam, sigma, kappa = _fit(n, x)
    n_star = _n_star(sigma, kappa)
    largest = float(n.max())
    if n_star > MAX_EXTRAPOLATION * largest:
        peak = "no peak (κ = 0)" if math.isinf(n_star) else f"N* = {n_star:.3g}"
        raise UslRefused(
            f"coherency not identified: the fit puts the peak at {peak}, beyond {MAX_EXTRAPOLATION:g}× the largest "
            f"measured N ({largest:g}); σ = {sigma:.3g}, κ = {kappa:.3g}. Measure larger N, up to where throughput "
            "stops growing"
        )
    rng = np.random.default_rng(seed)
    draws: list[tuple[float, float, float, float]] = []
    for _ in range(resamples):
        pick = rng.integers(0, len(n), len(n))
        if len(set(n[pick].tolist())) < 3:
            continue
        bl, bs, bk = _fit(n[pick], x[pick], start=(lam, sigma, kappa))
        draws.append((bl, bs, bk, _n_star(bs, bk)))
    tail = (1 - confidence) / 2 * 100
    intervals: dict[str, Interval] = {}
    if draws:
        columns = np.array(draws)
        for i, name in enumerate(("lam", "sigma", "kappa", "n_star")):
            low, high = np.percentile(columns[:, i], [tail, 100 - tail])
            intervals[name] = Interval(float(low), float(high))
    fitted = _model(n, lam, sigma, kappa)
    return UslFit(
        lam=lam,
        sigma=sigma,
        kappa=kappa,
        n_star=n_star,
        x_star=float(_model(np.array([n_star]), lam, sigma, kappa)[0]),
        residuals=tuple(float(v) for v in x - fitted),
        intervals=intervals,
        confidence=confidence,
        resamples=len(draws),
        measured_n=(float(n.min()), largest),
    )
