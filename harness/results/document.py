"""The result document (result.json, schema v2) and the files of a run directory.

A run directory holds ``result.json`` (validated against ``schema/result-v2.json`` beside this module before it is
written), ``report.html`` (rendered from the JSON alone), ``hgrm/<cell>.<metric>.hgrm`` percentile distributions,
and one ``cell-NN-<server>-<layer>-<W>w/`` directory per cell with the generator's files (``locust/``, or
``locust-size-N/`` per fan-out group size) and the stack's logs (``stack/``). ``reports/latest`` points at the
newest run directory. Field by field description: docs/results.md and the schema itself.

Format history (kept here, as pyperf does, because the file outlives the code that wrote it):

* version 1: first version; cells carry metrics, delivery, failures, closes, generator health, server resources,
  SLO verdicts, and optionally ``timeseries`` and ``fanout_by_group_size``.
* version 2: generator health keeps every field the generator judged each process by (process id, host, CPU
  sample count, send-lag p99, its own verdict and reasons) and the thresholds; version 1 kept role, pid and CPU.
  Time-series points carry ``epoch_s``. ``timeseries`` drops ``latency_metric`` and the per-point ``users`` and
  ``p99_us``: version 1 labelled the per-second p99 ``response_time`` while it was measured from the actual send
  (service time), wrote ``errors`` as 0 and ``users`` as the configured count whatever happened. Points now
  carry ``service_time_p99_us`` and ``response_time_p99_us``, the real ``errors`` and the open ``connections``.
  Version 1 files still validate against ``result-v1.json`` and render (their ``p99_us`` shown as the service
  time it was). Added later without a version bump, as an optional field that older files simply lack:
  ``join_storm_by_group_size``, a fan-out cell's join storm per group size.

Files are never overwritten: a run directory that already holds a result is a different run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, cast

import orjson

from harness.measure.accounting import ConnectFailures, DeliveryCounts, UnexpectedCloses
from harness.measure.aggregation import HealthThresholds, ProcessHealth
from harness.measure.fingerprint import Fingerprint
from harness.measure.join_storm import presence_bounds
from harness.measure.latency import LatencyRecorder, LatencySummary
from harness.measure.metric_set import MetricSet
from harness.measure.resources import RedisSample, ServerProcess
from harness.results.model import (
    CellDoc,
    ConnectFailuresDoc,
    DeliveryDoc,
    FaultWindowDoc,
    FingerprintDoc,
    HealthThresholdsDoc,
    JoinStormDoc,
    LatencySummaryDoc,
    LayerPressureDoc,
    MetricDoc,
    ProcessHealthDoc,
    ProcessSampleDoc,
    PunchAuditDoc,
    RedisSampleDoc,
    RestartDoc,
    ResultDoc,
    SloVerdictDoc,
    TimePointDoc,
)
from harness.results.schemas import SCHEMA_DIR, schema_problems
from harness.results.slo import evaluate_slos
from harness.scenario import Slo

__all__ = [
    "REPORTS_ROOT",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "CellMeasurements",
    "GeneratorHealth",
    "GroupSizeLatency",
    "JoinStormPhase",
    "ResultValidationError",
    "TimePoint",
    "TimeSeries",
    "build_cell",
    "build_result",
    "cell_slug",
    "default_out_dir",
    "validate_result",
]

SCHEMA_VERSION: Final[Literal[2]] = 2
SCHEMA_PATH: Final = SCHEMA_DIR / f"result-v{SCHEMA_VERSION}.json"
#: Every version this code reads: the current one, and older files kept as baselines.
READABLE_VERSIONS: Final = (1, 2)
REPORTS_ROOT: Final = Path("reports")

_SLUG_RE: Final = re.compile(r"[^a-z0-9_-]+")


class ResultValidationError(ValueError):
    """A result document does not follow its result-vN.json; the message lists each problem with its JSON path."""


@dataclass(frozen=True, slots=True)
class GeneratorHealth:
    """Whether the generator kept its schedule; ``generator_bound`` cells measured the generator, not the server.

    ``processes`` are the generator's own verdicts per process, with every field it judged them by.
    """

    processes: tuple[ProcessHealth, ...]
    thresholds: HealthThresholds
    send_lag: LatencySummary
    generator_bound: bool
    reasons: tuple[str, ...] = ()
    #: (count, message) of the exceptions the generator's users raised; such a user stopped, so the cell is
    #: incomplete and the run exits 1 (harness.results.slo.exit_code).
    user_errors: tuple[tuple[int, str], ...] = ()
    #: (count, "name: error") of requests the users recorded as failed (a refused HTTP publish); such a message
    #: still counts as sent, so its deliveries are lost.
    request_failures: tuple[tuple[int, str], ...] = ()
    #: Why generator processes ended their test before its planned end (every socket gone); the cell is partial.
    ended_early: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TimePoint:
    """What the generator recorded in one interval; a p99 is None when the interval had no deliveries."""

    t_s: float
    epoch_s: int
    sent: int
    received: int
    errors: int
    connections: int
    service_time_p99_us: int | None
    response_time_p99_us: int | None


@dataclass(frozen=True, slots=True)
class TimeSeries:
    """Per-interval counts and latencies, for the over-time charts."""

    interval_s: float
    points: tuple[TimePoint, ...]


@dataclass(frozen=True, slots=True)
class GroupSizeLatency:
    """Fan-out latency of the ``groups`` groups of ``group_size`` members."""

    group_size: int
    groups: int
    recorder: LatencyRecorder


@dataclass(frozen=True, slots=True)
class JoinStormPhase:
    """The join storm of the ``groups`` groups of ``group_size`` members, measured apart from their fan-out.

    Every join announces itself to the whole room, so a room of N members whose every member joined delivers
    between N(N+1)/2 presence frames (one join after the other) and N² (all joins overlapping); see
    :mod:`harness.measure.join_storm`. A fan-out run lets its members send only once that storm is over (the settle
    barrier, :mod:`harness.load.settle`), so the group size's fan-out latency holds no join traffic; this is the
    storm itself.

    Attributes:
        connected: members whose connect succeeded.
        connect: their connect times (TCP connect to the 101 response).
        presence_received: join presence frames the members read.
        presence_after_release: of those, the ones read after the members were let send: join traffic in the
            fan-out window (0 when the barrier did its job).
        all_joined: every member connected and none was closed on, so the frames received must lie within
            :attr:`presence_expected`; otherwise only the upper bound holds (a missing member announced nothing
            and heard nothing).
        duration_s: first connect attempt → last presence frame read; None when none was read.
        settled: the barrier found every generator process's rooms quiet before its time-out.
    """

    group_size: int
    groups: int
    connected: int
    connect: LatencySummary
    presence_received: int
    presence_after_release: int
    all_joined: bool
    duration_s: float | None
    settled: bool

    @property
    def members(self) -> int:
        return self.groups * self.group_size

    @property
    def presence_expected(self) -> tuple[int, int]:
        """The frames the rooms deliver when every member joins: (one join after the other, all overlapping)."""
        return presence_bounds(self.groups, self.group_size)

    def to_dict(self) -> JoinStormDoc:
        least, most = self.presence_expected
        return {
            "group_size": self.group_size,
            "groups": self.groups,
            "members": self.members,
            "connected": self.connected,
            "all_joined": self.all_joined,
            "connect": cast(LatencySummaryDoc, self.connect.to_dict()),
            "presence_expected_min": least,
            "presence_expected_max": most,
            "presence_received": self.presence_received,
            "presence_after_release": self.presence_after_release,
            "duration_s": self.duration_s,
            "settled": self.settled,
        }


@dataclass(frozen=True, slots=True)
class CellMeasurements:
    """Everything measured in one matrix cell, as typed objects; :func:`build_cell` turns it into its JSON."""

    server: str
    layer: str
    workers: int
    scenario: str
    duration_s: float
    metrics: MetricSet
    delivery: DeliveryCounts
    connect_failures: ConnectFailures
    unexpected_closes: UnexpectedCloses
    generator: GeneratorHealth
    server_processes: tuple[ServerProcess, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    foreign_messages: Mapping[str, int] = field(default_factory=dict)
    timeseries: TimeSeries | None = None
    fanout_by_group_size: tuple[GroupSizeLatency, ...] = ()
    join_storm_by_group_size: tuple[JoinStormPhase, ...] = ()
    #: The ``$defs/cell/layer_pressure`` object (harness.measure.layer_pressure), when the cell ran its own stack.
    layer_pressure: Mapping[str, Any] | None = None
    redis_samples: tuple[RedisSample, ...] = ()
    #: The fault windows of the cell as they happened (harness.faults.schedule.window_figures), if any.
    faults: tuple[Mapping[str, Any], ...] = ()
    #: The exactly-once audit of a timeclock cell's punches (harness.measure.punch_audit.PunchAudit.as_dict).
    punch_audit: Mapping[str, Any] | None = None
    #: Processes of the stack that exited on their own during a run with faults and were restarted
    #: (harness.faults.supervisor.Restart.to_dict).
    restarts: tuple[Mapping[str, Any], ...] = ()
    #: The soak verdict of a cell with ``[soak]`` (harness.measure.soak.SoakVerdict.to_dict).
    soak: Mapping[str, Any] | None = None


def build_cell(cell: CellMeasurements, slos: Sequence[Slo] = ()) -> CellDoc:
    """Return the ``$defs/cell`` object of one cell, with its SLO verdicts evaluated.

    The measurement classes serialise themselves (``to_dict``, ``result_dict``); their dicts are cast to the
    model's TypedDicts here, where the schema validation of :func:`build_result` checks them.
    """
    health = cell.generator
    doc: CellDoc = {
        "server": cell.server,
        "layer": cell.layer,
        "workers": cell.workers,
        "scenario": cell.scenario,
        "parameters": dict(cell.parameters),
        "duration_s": cell.duration_s,
        "metrics": {name: _metric(cell.metrics.recorder(name)) for name in cell.metrics.names()},
        "delivery": cast(DeliveryDoc, cell.delivery.to_dict()),
        "foreign_messages": dict(cell.foreign_messages),
        "connect_failures": cast(ConnectFailuresDoc, cell.connect_failures.to_dict()),
        "unexpected_closes": cell.unexpected_closes.to_dict(),
        "generator_health": {
            "processes": [cast(ProcessHealthDoc, p.to_dict()) for p in health.processes],
            "thresholds": cast(HealthThresholdsDoc, health.thresholds.to_dict()),
            "send_lag": cast(LatencySummaryDoc, health.send_lag.to_dict()),
            "generator_bound": health.generator_bound,
            "generator_bound_reasons": list(health.reasons),
            "user_errors": [{"count": n, "message": m} for n, m in health.user_errors],
            "request_failures": [{"count": n, "message": m} for n, m in health.request_failures],
            "ended_early": list(health.ended_early),
        },
        "server_resources": {
            "processes": [
                {
                    "name": p.name,
                    "pid": p.pid,
                    "samples": [cast(ProcessSampleDoc, dataclasses.asdict(s)) for s in p.samples],
                }
                for p in cell.server_processes
            ]
        },
        "slo_verdicts": [],
    }
    if cell.redis_samples:
        doc["server_resources"]["redis"] = [cast(RedisSampleDoc, dataclasses.asdict(s)) for s in cell.redis_samples]
    if cell.layer_pressure is not None:
        doc["layer_pressure"] = cast(LayerPressureDoc, dict(cell.layer_pressure))
    if cell.faults:
        doc["faults"] = [cast(FaultWindowDoc, dict(f)) for f in cell.faults]
    if cell.punch_audit is not None:
        doc["punch_audit"] = cast(PunchAuditDoc, dict(cell.punch_audit))
    if cell.restarts:
        doc["restarts"] = [cast(RestartDoc, dict(r)) for r in cell.restarts]
    if cell.soak is not None:
        doc["soak"] = dict(cell.soak)
    if cell.timeseries is not None:
        doc["timeseries"] = {
            "interval_s": cell.timeseries.interval_s,
            "points": [cast(TimePointDoc, dataclasses.asdict(p)) for p in cell.timeseries.points],
        }
    if cell.fanout_by_group_size:
        doc["fanout_by_group_size"] = [
            {"group_size": g.group_size, "groups": g.groups, "metric": _metric(g.recorder)}
            for g in sorted(cell.fanout_by_group_size, key=lambda g: g.group_size)
        ]
    if cell.join_storm_by_group_size:
        doc["join_storm_by_group_size"] = [
            s.to_dict() for s in sorted(cell.join_storm_by_group_size, key=lambda s: s.group_size)
        ]
    doc["slo_verdicts"] = [cast(SloVerdictDoc, v.to_dict()) for v in evaluate_slos(slos, doc)]
    return doc


def _metric(recorder: LatencyRecorder) -> MetricDoc:
    return cast(MetricDoc, recorder.result_dict())


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def build_result(
    *,
    run_id: str,
    fingerprint: Fingerprint,
    config: Mapping[str, Any],
    cells: Sequence[CellMeasurements],
    slos: Sequence[Slo] = (),
    created: dt.datetime | None = None,
) -> ResultDoc:
    """Build and validate the whole result document.

    Args:
        run_id: unique id of the run (also the envelope run id).
        fingerprint: environment of the run (``harness.measure.fingerprint.collect_fingerprint``).
        config: the resolved configuration, e.g. ``{"scenario": scenario.to_dict(), "target": None}``.
        cells: measured cells in run order.
        slos: objectives evaluated on every cell (normally ``scenario.slos``).
        created: timestamp to record (tests pass a fixed one); defaults to now.

    Raises:
        ResultValidationError: if the document does not follow the schema (a bug in the caller or here).
    """
    doc: ResultDoc = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "created": (created or _utc_now()).astimezone(dt.UTC).isoformat(),
        "fingerprint": cast(FingerprintDoc, fingerprint.to_dict()),
        "config": _json_safe(config),
        "cells": [build_cell(c, slos) for c in cells],
    }
    validate_result(doc)
    return doc


def _json_safe(value: Mapping[str, Any]) -> dict[str, Any]:
    # Round-trip through orjson so tuples become lists and anything not JSON fails here, not halfway through a write.
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    return loaded


def validate_result(doc: Mapping[str, Any], *, versions: Sequence[int] = (SCHEMA_VERSION,)) -> None:
    """Validate a result document against the schema of its ``schema_version``.

    Args:
        doc: the document.
        versions: the versions accepted; a writer accepts only the current one, a reader may pass
            :data:`READABLE_VERSIONS`.

    Raises:
        ResultValidationError: listing every problem as ``$.cells[0].delivery.lost: -1 is less than the minimum``.
    """
    version = doc.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version not in versions:
        raise ResultValidationError(
            f"result has schema_version {version!r}; expected {' or '.join(str(v) for v in versions)}"
        )
    problems = schema_problems(doc, f"result-v{version}.json")
    if problems:
        raise ResultValidationError(f"result does not follow result-v{version}.json:\n" + "\n".join(problems))


def cell_slug(index: int, cell: Mapping[str, Any]) -> str:
    """File-name-safe id of a cell: ``01-daphne-redis-w2`` (the index keeps names unique and in run order)."""
    parts = [str(cell.get("server", "")), str(cell.get("layer", "")), f"w{cell.get('workers', 0)}"]
    slug = "-".join(_SLUG_RE.sub("_", p.lower()) for p in parts)
    return f"{index + 1:02d}-{slug}"


def default_out_dir(scenario: str, *, root: Path = REPORTS_ROOT, now: dt.datetime | None = None) -> Path:
    """Return ``reports/<UTC timestamp>-<scenario>/``, e.g. ``reports/20260101T120000Z-smoke``."""
    stamp = (now or _utc_now()).astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return root / f"{stamp}-{_SLUG_RE.sub('_', scenario.lower())}"
