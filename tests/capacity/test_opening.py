"""A search opens its trials' connections at the rate the server takes them: faster while handshakes are answered as
they come, a trial whose connects failed run again at half the rate, and nothing of the failed run lost."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest

from harness.capacity import runner
from harness.capacity.dimensions import DIMENSIONS
from harness.capacity.document import build_capacity_document, search_document, validate_capacity_document
from harness.capacity.opening import KEPT_UP_MS, Opening
from harness.capacity.runner import Server, run_search
from harness.capacity.search import SearchPlan
from harness.capacity.trial import Check, TrialResult
from harness.measure.fingerprint import collect_fingerprint
from harness.report.capacity_html import render_capacity_report
from harness.report.capacity_text import step_table
from harness.run.plan import Cell
from harness.scenario import load_named
from harness.scenario.slo_text import parse_slo_text
from tests.capacity.test_document import figures


def test_the_rate_doubles_while_handshakes_keep_up_and_stops_at_four_times_the_scenarios() -> None:
    opening = Opening(250.0)
    rates = []
    for _ in range(4):
        rates.append(opening.rate)
        kept_up = opening.after(
            connections=1000, opened_at=opening.rate, connect_failures=0, connect_p99_ms=KEPT_UP_MS, others_held=True
        )
        assert not kept_up
    assert rates == [250.0, 500.0, 1000.0, 1000.0]
    # A queue of handshakes (but no failure) keeps the rate where it is.
    assert not opening.after(
        connections=1000, opened_at=1000.0, connect_failures=0, connect_p99_ms=KEPT_UP_MS + 1, others_held=True
    )
    assert opening.rate == 1000.0


def test_failed_connects_run_the_trial_again_at_half_the_rate_which_stays_the_ceiling_down_to_the_floor() -> None:
    opening = Opening(250.0)
    assert opening.after(connections=1000, opened_at=250.0, connect_failures=3, connect_p99_ms=9000.0, others_held=True)
    assert opening.rate == opening.ceiling == 125.0 and opening.reopenings == 1
    # Kept up at the lower rate: it may not climb back above the ceiling.
    assert not opening.after(
        connections=1000, opened_at=125.0, connect_failures=0, connect_p99_ms=5.0, others_held=True
    )
    assert opening.rate == 125.0
    # A trial past capacity (latency failed too) keeps its verdict and changes nothing.
    assert not opening.after(
        connections=8000, opened_at=125.0, connect_failures=700, connect_p99_ms=None, others_held=False
    )
    assert opening.rate == 125.0 and opening.reopenings == 1
    assert opening.after(
        connections=1000, opened_at=opening.rate, connect_failures=1, connect_p99_ms=None, others_held=True
    )
    assert opening.rate == 62.5
    # At the floor a failure is the trial's verdict: the server does not take the sockets however slowly.
    assert opening.rate == opening.floor
    assert not opening.after(
        connections=1000, opened_at=opening.rate, connect_failures=1, connect_p99_ms=None, others_held=True
    )
    assert opening.reopenings == 2


def test_a_trial_in_which_most_connects_failed_runs_again_slower_whatever_else_failed() -> None:
    opening = Opening(250.0)
    # 3,874 of 4,000 failed: the 126 sockets open measured the opening's storm, not 4,000 held.
    assert opening.after(
        connections=4000, opened_at=250.0, connect_failures=3874, connect_p99_ms=None, others_held=False
    )
    assert opening.rate == 125.0 and opening.reopenings == 1
    # Half failed is not most: the latency's failure stands.
    assert not opening.after(
        connections=4000, opened_at=125.0, connect_failures=2000, connect_p99_ms=None, others_held=False
    )
    assert opening.rate == 125.0


def test_a_given_spawn_rate_is_kept_for_every_trial_and_never_retried() -> None:
    opening = Opening(250.0, adaptive=False)
    assert not opening.after(
        connections=1000, opened_at=250.0, connect_failures=10, connect_p99_ms=None, others_held=True
    )
    assert not opening.after(
        connections=1000, opened_at=250.0, connect_failures=0, connect_p99_ms=1.0, others_held=True
    )
    assert opening.rate == 250.0 and opening.reopenings == 0


def test_a_bad_spawn_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="spawn rate must be > 0"):
        Opening(0.0)


def _trial_at(accepts_per_s: float, capacity: int, seen: list[tuple[float, float]]) -> Any:
    """A server that takes handshakes at ``accepts_per_s`` (faster openings lose connects) and holds ``capacity``
    sockets; the fake trial records each (load, spawn rate) it was asked for."""

    def trial(at: Any, *, load: float, phase: str, trial: int, step: int, **kwargs: object) -> TrialResult:
        rate = at.load.spawn_rate
        seen.append((load, rate))
        failures = int(load * 0.1) if rate > accepts_per_s else 0
        passed = failures == 0 and load <= capacity
        f = dataclasses.replace(
            figures(load), connect_failures=failures, opened_per_s=rate, connect_p99_us=30_000.0 if passed else 9e6
        )
        return TrialResult(
            step=step,
            load=load,
            phase=phase,
            trial=trial,
            duration_s=5.0,
            started_at=1.7e9,
            wall_s=1.0,
            passed=passed,
            checks=(
                Check("slo p99<=250ms", load <= capacity, "p99 …"),
                Check("connections", failures == 0, f"{failures} connects failed"),
            ),
            figures=f,
            directory=str(kwargs["out_dir"]),
        )

    return trial


def _search(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    *,
    accepts_per_s: float,
    adaptive: bool,
    above_capacity: Any = None,
) -> Any:
    """A search of the fake server of :func:`_trial_at` (capacity 3,000); ``above_capacity``, if given, turns each
    trial result above 3,000 into another."""
    seen: list[tuple[float, float]] = []
    holds = _trial_at(accepts_per_s, 3000, seen)

    def trial(at: Any, *, load: float, **kwargs: Any) -> TrialResult:
        result: TrialResult = holds(at, load=load, **kwargs)
        return above_capacity(result) if above_capacity is not None and load > 3000 else result

    monkeypatch.setattr(runner, "run_capacity_trial", trial)
    scenario = load_named("idle-sockets")
    slos = (parse_slo_text("p99<250ms"),)
    stream = io.StringIO()
    run = run_search(
        scenario,
        DIMENSIONS["connections"],
        SearchPlan(start=1000, minimum=2, maximum=20_000, integer=True),
        slos=slos,
        server=Server("ws://127.0.0.1:9/", None, {}, restart=dict),
        cell=Cell("uvicorn", "redis", 1),
        trial_s=5.0,
        confirm_factor=3.0,
        out_dir=tmp_path,
        adaptive_opening=adaptive,
        stream=stream,
    )
    search = search_document(
        run,
        scenario=scenario,
        slos=slos,
        where="uvicorn+redis, 1 worker",
        cell={"server": "uvicorn", "layer": "redis", "workers": 1},
        target=None,
        trial_s=5.0,
        confirm_factor=3.0,
        settle_s=5.0,
        restarted=True,
    )
    doc = build_capacity_document(
        searches=[search],
        fingerprint=collect_fingerprint(seed=1, argv=["harness", "capacity"]),
        created=dt.datetime(2026, 12, 7, tzinfo=dt.UTC),
    )
    validate_capacity_document(doc)
    return run, search, seen, stream.getvalue() + render_capacity_report(doc)


def test_a_server_that_takes_handshakes_slower_than_the_scenario_opens_is_judged_on_the_sockets_it_holds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run, search, seen, log = _search(monkeypatch, tmp_path, accepts_per_s=100.0, adaptive=True)
    # 250/s lost connects; 125/s too; from 62.5/s on every trial opened cleanly, and the holding capacity is found.
    assert seen[:3] == [(1000.0, 250.0), (1000.0, 125.0), (1000.0, 62.5)]
    assert search["outcome"] == "found" and search["bracket"]["last_pass"] == 3000
    assert all(t.figures.connect_failures == 0 for t in run.trials)
    assert [t.figures.opened_per_s for t in run.reopened] == [250.0, 125.0]
    # Each run keeps its own directory: the generator's files of the runs that were not judged are not overwritten.
    assert len({t.directory for t in run.reopened}) == 2 and run.trials[0].directory not in {
        t.directory for t in run.reopened
    }
    assert search["plan"]["opening"]["reopenings"] == 2 and len(search["reopened"]) == 2
    assert max(rate for _, rate in seen[3:]) <= 62.5
    assert "runs again at 125/s" in log and "opened at 62/s, again" in log
    assert "2 trial(s) ran again more slowly, not judged: 1,000 at 250/s lost 100 connects" in log  # the report
    table = step_table(search)
    assert "not judged: 1,000 connections (growth, trial 1) opened at 250/s lost 100 connects" in table


def test_with_a_fixed_spawn_rate_the_same_server_fails_on_its_connects(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run, search, seen, _ = _search(monkeypatch, tmp_path, accepts_per_s=100.0, adaptive=False)
    assert {rate for _, rate in seen} == {250.0} and not run.reopened
    assert search["outcome"] == "fails_at_minimum" or search["bracket"]["last_pass"] < 3000
    assert search["plan"]["opening"]["adaptive"] is False


def test_a_server_that_keeps_up_is_opened_faster_up_to_four_times(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run, search, seen, _ = _search(monkeypatch, tmp_path, accepts_per_s=10_000.0, adaptive=True)
    assert [rate for _, rate in seen[:3]] == [250.0, 500.0, 1000.0]
    assert max(rate for _, rate in seen) == 1000.0 and not run.reopened
    assert search["bracket"]["last_pass"] == 3000


def test_a_trial_that_opens_nothing_after_others_opened_is_a_failed_load_not_a_wrong_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two Daphne processes on Redis opened 4,000 sockets in no trial at 250/s after holding 2,000: the search
    went on (it used to stop, asking whether the URL was right)."""

    def opens_nothing(result: TrialResult) -> TrialResult:
        f = dataclasses.replace(result.figures, connect_failures=int(result.load), deliveries_per_s=0.0)
        return dataclasses.replace(result, passed=False, figures=f)

    run, _, seen, _ = _search(monkeypatch, tmp_path, accepts_per_s=1e9, adaptive=False, above_capacity=opens_nothing)
    assert run.search.outcome is not None and run.search.outcome.value == "found"
    assert run.search.bracket.last_pass == 3000 and any(load > 3000 for load, _ in seen)
