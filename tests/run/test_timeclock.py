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


def test_a_window_names_the_kiosks_silent_after_it_and_what_closed_during_it() -> None:
    from harness.faults.schedule import FaultWindow
    from harness.run.timeclock import _window
    from harness.scenario.faults import FaultSpec

    class Idle:
        def begin(self) -> str:
            return ""

        def end(self) -> str:
            return ""

    s = 1_000_000_000
    window = FaultWindow(FaultSpec(1, 1, "kill", "redis"), Idle())
    window.began_wall_s, window.ended_wall_s = 1001.0, 1002.0
    window.began_monotonic_s, window.ended_monotonic_s = 1.0, 2.0
    following = FaultWindow(FaultSpec(9, 1, "kill", "worker"), Idle())
    following.began_monotonic_s = 9.0
    timings = [
        # Before the fault ended: not a canary.
        EventTiming(0, int(1.5 * s), None, terminal=1, stored=True),
        # After: terminal 1 hears its next punch, terminal 2 does not though it is stored, terminal 3 had none stored.
        EventTiming(0, 3 * s, 3 * s + 50 * MS, terminal=1, stored=True),
        EventTiming(0, 4 * s, None, terminal=2, stored=True),
        EventTiming(0, 5 * s, None, terminal=3, stored=False),
        EventTiming(0, 5 * s, None, terminal=4, stored=True),
        # Terminal 5's punch went to a socket the server closed right after (3.5 s): a drop the client sees, not a
        # silent socket.
        EventTiming(0, 3 * s, None, terminal=5, stored=True),
        # After the next window began: that window's business.
        EventTiming(0, 10 * s, None, terminal=1, stored=True),
    ]
    outcome = _outcome(
        timings=timings,
        # Terminal 4's kiosk closed at 1.3 s and was welcomed again only at 6 s (after the window): its punch pushed at
        # 5 s, while it was away, proves nothing.
        kiosk_closes=[
            (int(1.2 * s), 1011, 1),
            (int(1.3 * s), 1011, 4),
            (int(3.5 * s), 1011, 5),
            (int(9.5 * s), 1006, 2),
        ],
        kiosk_reconnects=[(int(1.6 * s), 1), (4 * s, 5), (6 * s, 4)],
    )
    figures = _window(window, [], outcome, following)
    assert figures["silent_kiosks"] == [2] and figures["kiosks_checked"] == 2
    assert figures["first_punch_after_s"] == 1.05
    assert figures["kiosk_closes"] == {"1011": 3} and figures["first_close_after_s"] == 0.2
    assert figures["kiosk_reconnects"] == 3
