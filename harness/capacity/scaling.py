"""Scaling over server workers: one search per worker count, and the USL fitted to what they found.

Each search's throughput is the deliveries per second its confirmation trial measured at the capacity it found
(a measured figure, not the nominal load). A search is left out of the fit, and shown as left out, when it found no
confirmed capacity, or when the generator was the limit rather than the server: on this 2-core machine the
generator shares the cores, and a point where it saturated first says nothing about the server.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from harness.capacity.usl import MAX_EXTRAPOLATION, UslPoint, UslRefused, fit_usl

__all__ = ["scaling_document", "scaling_point"]


def scaling_point(search: Mapping[str, Any]) -> dict[str, Any]:
    """One search as a point of the scaling model: ``{n, throughput, excluded}`` (``excluded`` None when used)."""
    n = float(search["cell"]["workers"])
    confirmation = next(
        (t for t in reversed(search["trials"]) if t["phase"] == "confirmation" and t["pass"]),
        None,
    )
    if search["outcome"] not in ("found", "holds_at_maximum") or confirmation is None:
        return {"n": n, "throughput": None, "excluded": f"no confirmed capacity ({search['outcome']})"}
    figures = confirmation["figures"]
    throughput = float(figures["deliveries_per_s"])
    if any(c["name"] == "generator" for c in search["first_fail_checks"]):
        return {"n": n, "throughput": throughput, "excluded": "the generator was the limit, not the server"}
    if search["outcome"] == "holds_at_maximum":
        return {"n": n, "throughput": throughput, "excluded": "the search's maximum held: the capacity is above it"}
    return {"n": n, "throughput": throughput, "excluded": None}


def scaling_document(searches: Sequence[Mapping[str, Any]], *, seed: int = 1) -> dict[str, Any]:
    """The ``scaling`` object of capacity.json: the points, and the USL fit or why it was refused."""
    points = [scaling_point(s) for s in searches]
    used = [UslPoint(p["n"], p["throughput"]) for p in points if p["excluded"] is None]
    doc: dict[str, Any] = {"n": "server workers", "points": points, "fit": None, "refused": None, "curve": []}
    try:
        fit = fit_usl(used, seed=seed)
    except UslRefused as exc:
        doc["refused"] = str(exc)
        return doc
    doc["fit"] = {
        "lambda": fit.lam,
        "sigma": fit.sigma,
        "kappa": fit.kappa,
        "n_star": fit.n_star,
        "x_star": fit.x_star,
        "intervals": {name: [i.low, i.high] for name, i in fit.intervals.items()},
        "confidence": fit.confidence,
        "resamples": fit.resamples,
        "residuals": list(fit.residuals),
        "measured_n": list(fit.measured_n),
    }
    top = max(fit.measured_n[1], fit.n_star) * MAX_EXTRAPOLATION
    steps = max(2, math.ceil(top))
    doc["curve"] = [
        {"n": n, "throughput": fit.predict(n), "extrapolated": fit.extrapolated(n)}
        for n in (1 + i * (top - 1) / (steps - 1) for i in range(steps))
    ]
    return doc
