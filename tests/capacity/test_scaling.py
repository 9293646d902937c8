"""Scaling over workers: the searches' confirmed throughput fitted by the USL, generator-bound points left out."""

from __future__ import annotations

from typing import Any

import pytest

from harness.capacity.document import build_capacity_document
from harness.capacity.scaling import scaling_document
from harness.measure.fingerprint import collect_fingerprint
from harness.report.capacity_html import render_capacity_report
from harness.report.capacity_text import scaling_table
from tests.capacity.test_document import document


def usl(n: float, lam: float = 500.0, sigma: float = 0.1, kappa: float = 0.02) -> float:
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def search_at(workers: int, throughput: float, *, generator_limit: bool = False) -> dict[str, Any]:
    search: dict[str, Any] = document()["searches"][0]
    search["cell"] = {"server": "uvicorn", "layer": "redis", "workers": workers}
    search["trials"][-1]["figures"]["deliveries_per_s"] = throughput
    if generator_limit:
        search["first_fail_checks"] = [{"name": "generator", "pass": False, "sentence": "saturated"}]
    return search


def test_the_usl_is_fitted_to_the_confirmed_throughputs_and_a_generator_bound_point_is_left_out() -> None:
    searches = [search_at(n, usl(n)) for n in (1, 2, 3, 4, 5, 6, 8, 10)]
    searches.append(search_at(12, 10.0, generator_limit=True))  # would wreck the fit if it were used
    scaling = scaling_document(searches)
    fit = scaling["fit"]
    assert (
        fit is not None
        and fit["sigma"] == pytest.approx(0.1, rel=0.01)
        and fit["kappa"] == pytest.approx(0.02, rel=0.01)
    )
    assert scaling["points"][-1]["excluded"] == "the generator was the limit, not the server"
    assert any(c["extrapolated"] for c in scaling["curve"]) and not scaling["curve"][0]["extrapolated"]
    table = scaling_table(scaling)
    assert "the generator was the limit" in table and "peak N* = 6.71" in table
    doc = build_capacity_document(searches=searches, scaling=scaling, fingerprint=collect_fingerprint(seed=1))
    page = render_capacity_report(doc)
    assert "USL extrapolation" in page and "measured, left out" in page


def test_too_few_points_are_refused_and_the_reason_is_reported() -> None:
    scaling = scaling_document([search_at(n, usl(n)) for n in (1, 2, 3)])
    assert scaling["fit"] is None and "at least 6 measured points; got 3" in scaling["refused"]
    assert "USL not fitted: the USL needs at least 6" in scaling_table(scaling)
    unconfirmed = search_at(4, 100.0)
    unconfirmed["outcome"] = "unconfirmed"
    assert scaling_document([unconfirmed])["points"][0]["excluded"] == "no confirmed capacity (unconfirmed)"
