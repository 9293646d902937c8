"""Bundled plans: the registry, and the answer (sentence and rows) made from finished searches."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from harness.capacity.document import CapacityDocumentError, build_capacity_document
from harness.capacity.plans import PLANS, plan_answer, plan_named
from harness.measure.fingerprint import collect_fingerprint
from harness.report.capacity_html import render_capacity_report
from harness.report.capacity_text import plan_table
from harness.scenario import load_named
from tests.capacity.test_document import document


def _search(unit: str, scenario: str, bracket: tuple[float | None, float | None], outcome: str) -> dict[str, Any]:
    search = copy.deepcopy(document()["searches"][0])
    search["scenario"]["name"] = scenario
    search["where"] = "uvicorn+redis, 2 workers"
    search["outcome"] = outcome
    search["bracket"] = {"last_pass": bracket[0], "first_fail": bracket[1], "unit": unit}
    for trial in search["trials"]:
        trial["load"] = 0.0
    if bracket[0] is not None:
        search["trials"][-1].update(load=bracket[0], **{"pass": True})
        search["trials"][-1]["figures"].update(
            server_cpu_percent=140.0,
            generator_cpu_total_percent=35.0,
            server_processes=[
                {"name": "uvicorn-0", "pid": 11, "cpu_percent": 90.0},
                {"name": "uvicorn-1", "pid": 12, "cpu_percent": 50.0},
            ],
        )
    return search


def test_every_part_of_every_plan_names_a_bundled_scenario_its_dimension_fits() -> None:
    from harness.capacity.dimensions import dimension_for

    for plan in PLANS.values():
        for part in plan.parts:
            dimension_for(part.dimension, load_named(part.scenario))
    with pytest.raises(ValueError, match="--plan 'x': unknown; expected one of terminals"):
        plan_named("x")


def test_the_answer_says_each_capacity_where_it_failed_and_the_generators_share() -> None:
    plan = PLANS["terminals"]
    readers = _search("readers", "timeclock-shift-change", (62, 70), "found")
    sockets = _search("connections", "idle-sockets", (20_000, None), "holds_at_maximum")
    sockets["trials"][-1]["figures"]["generator_cpu_total_percent"] = 88.0
    answer = plan_answer(plan, [readers, sockets])
    assert [row["part"] for row in answer["parts"]] == ["readers", "sockets"]
    assert answer["parts"][0]["first_fail_checks"] == ["slo p99<=50ms"]
    assert answer["parts"][0]["generator_cpu_percent"] == 35.0
    assert answer["parts"][0]["busiest_process"] == {"name": "uvicorn-0", "cpu_percent": 90.0}
    assert answer["sentence"] == (
        "uvicorn+redis, 2 workers holds 62 EKS readers (fails at 70: slo p99<=50ms) and at least 20,000 kiosk/chat "
        "sockets (the search's maximum) at p99<=50ms, loss<=0; the generator, on the same 2 cores, used 35 % of a "
        "core at the readers found and 88 % of a core at the sockets found"
    )
    table = plan_table(answer).splitlines()
    assert table[3].split()[:5] == ["readers", "found", "62", "70", "readers"]
    assert "uvicorn-0 90 %" in table[3]
    assert table[4].split()[:7] == ["sockets", "holds", "at", "maximum", "20,000", "–", "connections"]
    doc = build_capacity_document(
        searches=[readers, sockets],
        fingerprint=collect_fingerprint(seed=1, argv=["harness", "capacity"]),
        plan="terminals",
        plan_answer=answer,
    )
    page = render_capacity_report(doc)
    assert "<h2>Plan terminals</h2>" in page and "at least 20,000 kiosk/chat sockets" in page
    assert "<td>uvicorn-0 90 %</td>" in page
    doc["plan_answer"]["parts"][0]["outcome"] = "roughly"
    with pytest.raises(CapacityDocumentError, match="'roughly' is not one of"):
        build_capacity_document(
            searches=doc["searches"],
            fingerprint=collect_fingerprint(seed=1, argv=["harness", "capacity"]),
            plan="terminals",
            plan_answer=doc["plan_answer"],
        )


def test_a_part_that_found_nothing_says_so_and_claims_no_cpu_figure() -> None:
    plan = PLANS["terminals"]
    readers = _search("readers", "timeclock-shift-change", (None, 1), "fails_at_minimum")
    sockets = _search("connections", "idle-sockets", (400, 800), "unconfirmed")
    answer = plan_answer(plan, [readers, sockets])
    assert answer["parts"][0]["generator_cpu_percent"] is None
    assert answer["parts"][0]["busiest_process"] is None
    assert (
        "holds no EKS readers (fails already at 1, the search's minimum) and an unconfirmed number of kiosk/chat "
        "sockets (last bracket [400, 800])"
    ) in answer["sentence"]
    assert "at the readers found" not in answer["sentence"]
