"""Fixtures for scenario, SLO, result and report tests: a valid scenario text and synthetic measured cells."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.measure.accounting import ConnectFailures, DeliveryCounts, UnexpectedCloses
from harness.measure.aggregation import HealthThresholds, ProcessHealth
from harness.measure.fingerprint import Fingerprint, collect_fingerprint
from harness.measure.latency import DEFAULT_HIGHEST_US, LatencyRecorder
from harness.measure.metric_set import MetricSet
from harness.measure.resources import ProcessSample, ServerProcess
from harness.results import (
    CellMeasurements,
    GeneratorHealth,
    GroupSizeLatency,
    JoinStormPhase,
    TimePoint,
    TimeSeries,
    build_result,
)
from harness.scenario import LatencySlo, LossSlo, Slo

VALID_SCENARIO = """\
name = "tiny"
description = "A small chat scenario for tests."
kind = "chat"
duration_s = 10
seed = 3

[matrix]
servers = ["daphne"]
layers = ["inmemory"]
workers = [1]

[load]
users = 10
spawn_rate = 5
rate = 2
room_size = 5

[[slos]]
metric = "fanout"
statistic = "p99"
limit_ms = 250

[[slos]]
max_lost_ratio = 0
"""


@pytest.fixture
def valid_scenario_text() -> str:
    return VALID_SCENARIO


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``text`` to ``<tmp>/<name>.toml`` and return the path."""

    def write(text: str, name: str = "tiny") -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def rng() -> random.Random:
    return random.Random(5)


# -- synthetic measured cells (test data only: never shown outside tests) ----------------------------------------

CELL_GRID = [("daphne", "inmemory"), ("uvicorn", "inmemory"), ("daphne", "redis"), ("uvicorn", "redis")]


def _lognormal_us(r: random.Random, median_us: float, sigma: float) -> int:
    return max(1, int(r.lognormvariate(math.log(median_us), sigma)))


@pytest.fixture
def make_cell() -> Callable[..., CellMeasurements]:
    """Build a CellMeasurements from seeded synthetic samples."""

    def make(
        server: str = "daphne",
        layer: str = "inmemory",
        *,
        scenario: str = "chat-rooms",
        seed: int = 1,
        median_us: float = 2_000,
        out_of_range: int = 0,
        generator_bound: bool = False,
        lost: int = 0,
        group_sizes: tuple[int, ...] = (),
        join_storms: tuple[JoinStormPhase, ...] = (),
        samples: int = 3_000,
    ) -> CellMeasurements:
        r = random.Random(seed)
        metrics = MetricSet()
        for _ in range(samples):
            metrics.record_us("fanout", _lognormal_us(r, median_us, 0.6))
            metrics.record_us("response_time", _lognormal_us(r, median_us * 1.2, 0.7))
        for _ in range(out_of_range):
            metrics.record_us("fanout", DEFAULT_HIGHEST_US + 5_000_000)
        lag = LatencyRecorder()
        for _ in range(200):
            lag.record_us(_lognormal_us(r, 50, 1.0))
        points = []
        for t in range(10):
            window = LatencyRecorder()
            for _ in range(100):
                window.record_us(_lognormal_us(r, median_us, 0.6))
            service_p99 = window.value_at_percentile(99)
            points.append(
                TimePoint(
                    float(t),
                    1_700_000_000 + t,
                    40,
                    400 + r.randint(-20, 20),
                    t % 3,
                    20,
                    service_p99,
                    service_p99 + 1_000,
                )
            )
        points.append(TimePoint(10.0, 1_700_000_010, 0, 0, 0, 0, None, None))
        samples_ = tuple(
            ProcessSample(float(t), 20 + r.random() * 30, 60_000_000 + t * 200_000, 40 + t) for t in range(11)
        )
        groups = []
        for size in group_sizes:
            rec = LatencyRecorder()
            for _ in range(200):
                rec.record_us(_lognormal_us(r, median_us * (1 + math.log10(size)), 0.5))
            groups.append(GroupSizeLatency(size, 1, rec))
        failures = ConnectFailures()
        closes = UnexpectedCloses()
        expected = samples * 2
        return CellMeasurements(
            server=server,
            layer=layer,
            workers=1,
            scenario=scenario,
            duration_s=10.0,
            parameters={"users": 20, "rate": 2.0},
            metrics=metrics,
            delivery=DeliveryCounts(
                streams=20,
                expected=expected,
                received=expected - lost,
                distinct=expected - lost,
                lost=lost,
                duplicated=0,
                reordered=0,
                outside_expected=0,
                late_untracked=0,
                exact=True,
            ),
            connect_failures=failures,
            unexpected_closes=closes,
            generator=GeneratorHealth(
                processes=(
                    ProcessHealth(
                        process_id="w1",
                        role="worker",
                        host="gen-1",
                        pid=1000 + seed,
                        cpu_mean=97.0 if generator_bound else 40.0,
                        cpu_max=99.0 if generator_bound else 60.0,
                        cpu_samples=10,
                        send_lag_p99_us=lag.summary().p99,
                        generator_bound=generator_bound,
                        reasons=("worker CPU 97 % > 90 %",) if generator_bound else (),
                    ),
                ),
                thresholds=HealthThresholds(),
                send_lag=lag.summary(),
                generator_bound=generator_bound,
                reasons=("worker CPU 97 % > 90 %",) if generator_bound else (),
            ),
            server_processes=(ServerProcess(server, 2000 + seed, samples_),),
            timeseries=TimeSeries(1.0, tuple(points)),
            fanout_by_group_size=tuple(groups),
            join_storm_by_group_size=join_storms,
        )

    return make


FIXED_CREATED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def fingerprint() -> Fingerprint:
    return collect_fingerprint(seed=7, argv=["harness", "run", "chat-rooms"], now=FIXED_CREATED)


@pytest.fixture
def make_result(make_cell, fingerprint) -> Callable[..., dict[str, Any]]:
    """Build a validated result document with ``n`` synthetic cells of the CELL_GRID."""

    def make(n: int = 4, *, scenario: str = "chat-rooms", slos: tuple[Slo, ...] | None = None, **cell_kw: Any):
        cells = [
            make_cell(server, layer, scenario=scenario, seed=i + 1, median_us=1_500 * (i + 1), **cell_kw)
            for i, (server, layer) in enumerate(CELL_GRID[:n])
        ]
        chosen = (LatencySlo("fanout", "p99", 250.0), LossSlo(0.0)) if slos is None else slos
        return build_result(
            run_id="run-test",
            fingerprint=fingerprint,
            config={"scenario": {"name": scenario}},
            cells=cells,
            slos=chosen,
            created=FIXED_CREATED,
        )

    return make


def as_version_1(doc: dict) -> dict:
    """``doc`` rewritten as version 1 wrote it: one per-second ``p99_us`` (of service time) labelled
    ``response_time``, and a configured ``users`` count per point."""
    doc["schema_version"] = 1
    doc["fingerprint"].pop("layer_settings", None)
    for cell in doc["cells"]:
        cell["delivery"].pop("cut_off", None)
        health = cell["generator_health"]
        del health["thresholds"]
        health.pop("user_errors", None)
        health.pop("request_failures", None)
        health.pop("ended_early", None)
        health["processes"] = [
            {"role": p["role"], "pid": p["pid"], "cpu_percent": {k: p["cpu_percent"][k] for k in ("mean", "max")}}
            for p in health["processes"]
        ]
        ts = cell.get("timeseries")
        if not ts:
            continue
        ts["latency_metric"] = "response_time"
        for point in ts["points"]:
            point["p99_us"] = point.pop("service_time_p99_us")
            del point["response_time_p99_us"], point["connections"], point["epoch_s"]
            point["users"] = 20
    return doc
