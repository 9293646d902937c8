"""The timeclock cell's own accounting: its per-second series and its connect failures (no stack needed)."""

from __future__ import annotations

import time

from harness.measure.accounting import ConnectFailures
from harness.measure.latency import LatencyRecorder
from harness.run.shift_change import EventTiming, LoadProcessCpu, ShiftChangeResult
from harness.run.timeclock import _connect_failures, _generator_health, timeclock_timeseries

MS = 1_000_000


def _half_second_mark() -> int:
    """A monotonic instant in the middle of a wall-clock second, so a few ms of clock reading do not move it."""
    offset = time.time_ns() - time.monotonic_ns()
    epoch = (time.monotonic_ns() + offset) // 1_000_000_000 * 1_000_000_000 + 500 * MS
    return epoch - offset - 10_000 * MS


def test_the_series_counts_inserts_and_punches_in_their_own_seconds_and_keeps_empty_seconds() -> None:
    t0 = _half_second_mark()
    timings = [
        EventTiming(intended_ns=t0 - 2 * MS, inserted_ns=t0, received_ns=t0 + 100 * MS),
        EventTiming(intended_ns=t0 + 10 * MS, inserted_ns=t0 + 20 * MS, received_ns=t0 + 2_000 * MS),
        EventTiming(intended_ns=t0 + 30 * MS, inserted_ns=t0 + 40 * MS, received_ns=None),
    ]
    series = timeclock_timeseries(timings, connections=7)
    rows = [(p.t_s, p.sent, p.received, p.service_time_p99_us, p.response_time_p99_us) for p in series.points]
    assert rows == [
        (0.0, 3, 1, 100_000, 102_000),
        (1.0, 0, 0, None, None),  # nothing happened: the second is still there, with no p99
        (2.0, 0, 1, 1_980_000, 1_990_000),
    ]
    assert {p.connections for p in series.points} == {7}
    assert timeclock_timeseries([], connections=1).points == ()


def _outcome(**changes: object) -> ShiftChangeResult:
    result = ShiftChangeResult(
        server="uvicorn",
        readers=10,
        inserts=10,
        burst_window_s=5,
        burst_duration_s=5,
        punches_stored=10,
        lost=0,
        duplicates=0,
        kiosks_with_punch=10,
        latency=LatencyRecorder().summary(),
    )
    for name, value in changes.items():
        setattr(result, name, value)
    return result


def test_kiosks_not_opened_and_readers_not_connected_are_connect_failures() -> None:
    kiosks = ConnectFailures()
    kiosks.record("http_403", 2)
    failures = _connect_failures(_outcome(readers_connected=7, kiosk_failures=kiosks))
    assert (failures["http_403"], failures["timeout"], failures.total) == (2, 3, 5)
    assert _connect_failures(_outcome(readers_connected=10)).total == 0


def test_the_emulator_counts_as_generator_and_its_saturation_is_named() -> None:
    lag = LatencyRecorder()
    lag.record_ns(3 * MS)
    health = _generator_health(
        _outcome(load_processes=[LoadProcessCpu("harness", 11, 40.0), LoadProcessCpu("eks-emulator", 12, 97.0)]),
        lag,
    )
    assert health.generator_bound
    assert health.reasons == ("eks-emulator CPU 97% > 85% while the badge events played",)
    assert [p.send_lag_p99_us for p in health.processes] == [lag.summary().p99, 0]
    calm = _generator_health(_outcome(load_processes=[LoadProcessCpu("harness", 11, 40.0)]), lag)
    assert not calm.generator_bound and calm.reasons == ()
