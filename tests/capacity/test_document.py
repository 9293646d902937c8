"""capacity.json: built from a search, valid against its schema, and read back; the step table and the sentence."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest

from harness.capacity.dimensions import DIMENSIONS
from harness.capacity.document import (
    CAPACITY_FILE,
    CapacityDocumentError,
    build_capacity_document,
    read_capacity_document,
    search_document,
    validate_capacity_document,
)
from harness.capacity.little import little_check
from harness.capacity.runner import CapacityRun
from harness.capacity.search import Search, SearchPlan
from harness.capacity.trial import Check, ProcessCpu, TrialFigures, TrialResult
from harness.measure.fingerprint import collect_fingerprint
from harness.report.capacity_text import step_table
from harness.scenario import load_named
from harness.scenario.slo_text import parse_slo_text

CAPACITY = 430.0


def figures(load: float) -> TrialFigures:
    over = max(0.0, load - CAPACITY)
    return TrialFigures(
        metric="response_time",
        p50_us=800.0 + over * 100,
        p99_us=3000.0 + over * 2000,
        max_us=9000.0 + over * 3000,
        sent=int(load * 5),
        offered_per_s=load,
        achieved_per_s=load * 0.999,
        deliveries_per_s=load,
        expected=int(load * 5),
        lost=0,
        duplicated=0,
        loss_ratio=0.0,
        connect_failures=0,
        unexpected_closes=0,
        server_cpu_percent=min(100.0, load / CAPACITY * 95),
        server_rss_bytes=80 * 2**20,
        server_fds=40,
        generator_cpu_percent=12.0,
        generator_cpu_total_percent=12.0,
        generator_bound=False,
        steal_percent=0.5,
        server_processes=(
            ProcessCpu("uvicorn-0", 4101, min(100.0, load / CAPACITY * 90)),
            ProcessCpu("redis-server", 4102, 5.0),
        ),
    )


def searched() -> CapacityRun:
    run = CapacityRun(Search(SearchPlan(start=100, minimum=1, maximum=10_000, trials=1)), DIMENSIONS["rate"], "abc")
    while (step := run.search.next_step()) is not None:
        passed = step.load <= CAPACITY
        checks = (
            Check("slo p99<=50ms", passed, "p99 … ms"),
            Check("send rate", True, "kept"),
            Check("generator", True, "kept up"),
            Check("connections", True, "0 failed"),
        )
        run.trials.append(
            TrialResult(
                step=len(run.search.verdicts) + 1,
                load=step.load,
                phase=step.phase.value,
                trial=step.trial,
                duration_s=15.0 if step.confirmation else 5.0,
                started_at=1.7e9,
                wall_s=10.0,
                passed=passed,
                checks=checks,
                figures=figures(step.load),
                directory="trials/x",
                little=little_check(
                    [(100 + k, int(step.load), int(step.load)) for k in range(5)],
                    window_s=5,
                    deliveries_per_send=1,
                    latency_mean_s=0.2 if passed else 2.0,
                ),
            )
        )
        run.search.record(passed)
    run.wall_s = 123.0
    return run


def document() -> dict[str, Any]:
    run = searched()
    search = search_document(
        run,
        scenario=load_named("capacity-echo"),
        slos=(parse_slo_text("p99<50ms"), parse_slo_text("loss<=0")),
        where="ws://127.0.0.1:9/",
        cell={"server": "external", "layer": "external", "workers": 1},
        target="ws://127.0.0.1:9/",
        trial_s=5.0,
        confirm_factor=3.0,
        settle_s=5.0,
        restarted=False,
    )
    return build_capacity_document(
        searches=[search],
        fingerprint=collect_fingerprint(seed=1, argv=["harness", "capacity"]),
        created=dt.datetime(2026, 12, 6, tzinfo=dt.UTC),
    )


def test_the_document_states_the_bracket_the_failing_predicate_and_every_trial(tmp_path: Path) -> None:
    doc = document()
    (search,) = doc["searches"]
    assert search["outcome"] == "found"
    bracket = search["bracket"]
    assert bracket["unit"] == "msg/s" and bracket["last_pass"] <= CAPACITY < bracket["first_fail"]
    assert [c["name"] for c in search["first_fail_checks"]] == ["slo p99<=50ms"]
    assert search["slos"] == ["p99<=50ms", "loss<=0"]
    assert len(search["trials"]) == len(search["loads"]) and search["trials"][-1]["phase"] == "confirmation"
    assert search["plan"]["settle_after_failure_s"] == 5.0 and not search["plan"]["restart_before_trial"]
    assert search["sentence"].startswith(f"ws://127.0.0.1:9/ holds {bracket['last_pass']:,.0f} msg/s at p99<=50ms")
    assert "(slo p99<=50ms)" in search["sentence"] and "15 s trial" in search["sentence"]
    (tmp_path / CAPACITY_FILE).write_bytes(orjson.dumps(doc))
    assert read_capacity_document(tmp_path) == doc


def test_the_step_table_has_a_row_per_trial_with_the_failed_predicates() -> None:
    search = document()["searches"][0]
    table = step_table(search).splitlines()
    assert table[0].startswith("latency: response_time")
    rows = table[3:]
    assert len(rows) == len(search["trials"])
    failing = [row for row in rows if " FAIL " in row]
    assert failing and all(row.endswith("slo p99<=50ms") for row in failing)
    last = rows[-1].split()
    assert last[1] == "confirmation" and "80" in last  # the confirmed load's server RSS in MB


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("searches", 0, "bracket", "unit"), None, "'unit' is a required property"),
        (("searches", 0, "outcome"), "maybe", "'maybe' is not one of"),
        (("searches", 0, "trials", 0, "figures", "p99_us"), "fast", "is not of type"),
        (("schema_version",), 2, "schema_version 2"),
    ],
)
def test_a_document_off_its_schema_is_refused_with_the_place(path: tuple[Any, ...], value: Any, message: str) -> None:
    doc = copy.deepcopy(document())
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if value is None:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    with pytest.raises(CapacityDocumentError, match=message):
        validate_capacity_document(doc)


def test_the_report_draws_the_curve_with_the_limit_and_lists_every_trial() -> None:
    from harness.report.capacity_html import render_capacity_report

    doc = document()
    page = render_capacity_report(doc)
    search = doc["searches"][0]
    assert search["sentence"].replace("<", "&lt;") in page.replace("&#x27;", "'")
    assert "limit p99 ≤ 50 ms" in page and "limit 0 %" in page
    assert page.count("<svg") == 2
    assert page.count("<tr>") >= len(search["trials"]) + 1
    assert page.count("class='fail'>fail") == sum(1 for t in search["trials"] if not t["pass"])
