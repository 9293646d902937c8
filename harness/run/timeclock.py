"""One timeclock cell: emulated EKS readers -> gateway -> worker -> database, and a kiosk socket per terminal.

What it records, per badge event (docs/measurement.md): ``eks_insert_to_kiosk`` from the emulator's insert to the
kiosk (the punch's service time), ``response_time`` from the schedule's intended insert to the kiosk (a late insert
counts), and the insert's lag behind the schedule as the generator's ``send_lag``; per second, the inserts and the
punches that reached their kiosks. The load's own processes are this one (kiosk sockets, the emulator's control
calls) and the emulator: either above the CPU limit makes the cell generator-bound.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

from harness.faults.schedule import FaultWindow, window_figures
from harness.measure.accounting import ConnectFailures, DeliveryCounts, UnexpectedCloses
from harness.measure.aggregation import HealthThresholds, ProcessHealth
from harness.measure.latency import LatencyRecorder
from harness.measure.metric_set import MetricSet
from harness.measure.resources import ResourceSampler
from harness.report.progress import ProgressState
from harness.results import (
    CellMeasurements,
    GeneratorHealth,
)
from harness.results.document import TimePoint, TimeSeries
from harness.run.cell import _pressure, stack_fault_targets, stack_roots
from harness.run.plan import Cell, CellRun, UnsupportedScenario, stack_config
from harness.run.shift_change import EventTiming, ShiftChangeResult, drive_shift_change, shift_schedule
from harness.stack import Stack

__all__ = ["run_timeclock_cell", "timeclock_timeseries"]


def _percentile_99_us(values_ns: list[int]) -> int | None:
    if not values_ns:
        return None
    ordered = sorted(values_ns)
    # The nearest-rank p99 of the second's exact values (an HDR histogram per second would round them).
    return round(ordered[max(0, -(-99 * len(ordered) // 100) - 1)] / 1000)


def timeclock_timeseries(timings: list[EventTiming], *, connections: int) -> TimeSeries:
    """Per wall-clock second: the inserts the emulator wrote, the punches that reached their kiosks, and the p99 of
    those punches' service time (from the insert) and response time (from the intended insert)."""
    # One reading of both clocks turns the monotonic stamps into wall-clock seconds.
    offset_ns = time.time_ns() - time.monotonic_ns()
    seconds: dict[int, tuple[list[int], list[int], list[int]]] = {}
    for t in timings:
        seconds.setdefault((t.inserted_ns + offset_ns) // 1_000_000_000, ([], [], []))[0].append(t.inserted_ns)
        if t.received_ns is not None:
            row = seconds.setdefault((t.received_ns + offset_ns) // 1_000_000_000, ([], [], []))
            row[1].append(t.received_ns - t.inserted_ns)
            row[2].append(t.received_ns - t.intended_ns)
    if not seconds:
        return TimeSeries(interval_s=1.0, points=())
    first = min(seconds)
    points = tuple(
        TimePoint(
            t_s=float(epoch - first),
            epoch_s=epoch,
            sent=len(seconds.get(epoch, ([], [], []))[0]),
            received=len(seconds.get(epoch, ([], [], []))[1]),
            errors=0,
            connections=connections,
            service_time_p99_us=_percentile_99_us(seconds.get(epoch, ([], [], []))[1]),
            response_time_p99_us=_percentile_99_us(seconds.get(epoch, ([], [], []))[2]),
        )
        for epoch in range(first, max(seconds) + 1)
    )
    return TimeSeries(interval_s=1.0, points=points)


@contextlib.contextmanager
def _sampling(stack: Stack, cell: Cell) -> Iterator[ResourceSampler]:
    sampler = ResourceSampler(stack_roots(stack, cell), redis_port=stack.redis.port if stack.redis else None)
    sampler.start()
    try:
        yield sampler
    finally:
        sampler.stop()


def _connect_failures(outcome: ShiftChangeResult) -> ConnectFailures:
    """Kiosk sockets that could not be opened, and readers the gateways had not connected within the start-up
    time-out (as ``timeout``): either loses the punches of its terminal."""
    failures = ConnectFailures()
    failures.merge(outcome.kiosk_failures)
    if outcome.readers_connected < outcome.readers:
        failures.record("timeout", outcome.readers - outcome.readers_connected)
    return failures


def _generator_health(outcome: ShiftChangeResult, send_lag: LatencyRecorder) -> GeneratorHealth:
    thresholds = HealthThresholds()
    processes = []
    for load in outcome.load_processes:
        name, cpu = load.name, load.cpu_percent
        bound = cpu > thresholds.cpu_percent
        processes.append(
            ProcessHealth(
                process_id=name,
                role=name,
                host=socket.gethostname(),
                pid=load.pid,
                cpu_mean=round(cpu, 1),
                cpu_max=round(cpu, 1),
                cpu_samples=1,
                send_lag_p99_us=send_lag.summary().p99 if name == "harness" and send_lag.count else 0,
                generator_bound=bound,
                # One CPU figure over the whole burst (the events' playing), not per-second samples.
                reasons=(f"{name} CPU {cpu:.0f}% > {thresholds.cpu_percent:.0f}% while the badge events played",)
                if bound
                else (),
            )
        )
    reasons = tuple(r for p in processes for r in p.reasons)
    return GeneratorHealth(
        processes=tuple(processes),
        thresholds=thresholds,
        send_lag=send_lag.summary(),
        generator_bound=bool(reasons),
        reasons=reasons,
    )


def _away_intervals(outcome: ShiftChangeResult) -> dict[int, list[tuple[int, int]]]:
    """Per terminal, the spans (ns) from a close of its kiosk to its next welcome (open-ended if none came)."""
    events = sorted(
        [(at, terminal, "close") for at, _, terminal in outcome.kiosk_closes]
        + [(at, terminal, "welcome") for at, terminal in outcome.kiosk_reconnects]
    )
    away: dict[int, list[tuple[int, int]]] = {}
    closed_at: dict[int, int] = {}
    for at, terminal, what in events:
        if what == "close":
            closed_at.setdefault(terminal, at)
        elif terminal in closed_at:
            away.setdefault(terminal, []).append((closed_at.pop(terminal), at))
    for terminal, at in closed_at.items():
        away.setdefault(terminal, []).append((at, 2**63))
    return away


def _window(
    window: FaultWindow, points: list[dict[str, int]], outcome: ShiftChangeResult, following: FaultWindow | None
) -> dict[str, object]:
    """A window's figures, with what a timeclock adds: the first punch inserted after the fault ended that reached
    its kiosk (how long after the end), the kiosk sockets closed and reconnected from its start to the next window's,
    the gateways' reader connections dropped and reconnected in that span (polled),
    the kiosks that stayed silent after it, and the audit's outcomes of the inserts made in that span."""
    figures = window_figures(window, points)
    if window.began_monotonic_s is None or window.ended_monotonic_s is None:
        return figures
    began_ns, ended_ns = round(window.began_monotonic_s * 1e9), round(window.ended_monotonic_s * 1e9)
    after = [t.received_ns for t in outcome.timings if t.inserted_ns >= ended_ns and t.received_ns is not None]
    figures["first_punch_after_s"] = round((min(after) - ended_ns) / 1e9, 3) if after else None
    until = round(following.began_monotonic_s * 1e9) if following and following.began_monotonic_s else None
    closes: dict[str, int] = {}
    first_close: int | None = None
    for at, code, _ in outcome.kiosk_closes:
        if at >= began_ns and (until is None or at < until):
            closes[str(code)] = closes.get(str(code), 0) + 1
            first_close = at if first_close is None else min(first_close, at)
    figures["kiosk_closes"] = closes
    figures["first_close_after_s"] = None if first_close is None else round((first_close - began_ns) / 1e9, 3)
    figures["kiosk_reconnects"] = sum(
        1 for at, _ in outcome.kiosk_reconnects if at >= began_ns and (until is None or at < until)
    )
    if outcome.gateway_timeline is not None:
        figures |= outcome.gateway_timeline.window(began_ns, ended_ns, until, outcome.readers)
    # The canary of each terminal is its own next punch: a kiosk that stayed open and got none of the punches stored
    # for inserts made after the fault ended (before the next fault) is silent; its membership, say, was lost. A punch
    # pushed while the kiosk was away (closed, not yet welcomed again), or to a socket the server then closed, is no
    # evidence either way: that client saw its socket drop and reconnects.
    away = _away_intervals(outcome)
    closed_later = {terminal: [at for at, _, t in outcome.kiosk_closes if t == terminal] for terminal in away}
    after_end = [
        t
        for t in outcome.timings
        if t.inserted_ns >= ended_ns
        and (until is None or t.inserted_ns < until)
        and not any(start <= t.inserted_ns < end for start, end in away.get(t.terminal, ()))
        and not any(at >= t.inserted_ns and (until is None or at < until) for at in closed_later.get(t.terminal, ()))
    ]
    stored_terminals = {t.terminal for t in after_end if t.stored}
    reached = {t.terminal for t in after_end if t.stored and t.received_ns is not None}
    figures["silent_kiosks"] = sorted(stored_terminals - reached)
    figures["kiosks_checked"] = len(stored_terminals)
    if outcome.audit is not None and window.began_wall_s is not None:
        # The audit's outcomes of the inserts made from this window's start to the next one's (wall clock).
        following_wall = following.began_wall_s if following is not None else None
        figures["punches"] = outcome.audit.counts_between(
            round(window.began_wall_s * 1e9), round(following_wall * 1e9) if following_wall is not None else None
        )
    return figures


def run_timeclock_cell(
    run: CellRun, *, stack: Stack | None = None, drain_s: float = 60.0, sampler: ResourceSampler | None = None
) -> CellMeasurements:
    """A shift change: emulated EKS readers -> gateway -> worker -> database and one kiosk socket per terminal.

    Args:
        stack: a running stack made by :func:`harness.run.plan.stack_config` for this scenario; None starts one
            (and stops it after the cell).
        drain_s: how long after the burst a punch may still reach its kiosk; later, it counts as lost.
        sampler: a running sampler of the stack's processes, started and stopped by the caller; None samples them
            here. The gateways are added to it when they start: they are part of the system under test.
    """
    scenario, cell, index, count, progress = run.scenario, run.cell, run.index, run.count, run.progress
    tc = scenario.timeclock
    if tc is None:
        raise UnsupportedScenario(f"scenario {scenario.name!r} is of kind timeclock but has no [timeclock] table")
    cell_dir = run.directory
    schedule = shift_schedule(tc.readers, tc.inserts, tc.burst_s, scenario.seed)
    started = time.monotonic()
    progress.update(ProgressState("starting", index, count, cell.label, 0.0, tc.burst_s, 0, 0, None, None, 0))
    with contextlib.ExitStack() as owned:
        if stack is None:
            stack = owned.enter_context(Stack(stack_config(scenario, cell), cell_dir / "stack"))
        if sampler is None:
            sampler = owned.enter_context(_sampling(stack, cell))
        progress.update(
            ProgressState(
                "measuring",
                index,
                count,
                cell.label,
                time.monotonic() - started,
                tc.burst_s,
                tc.readers,
                window_s=0,
                msgs_per_s=None,
                response_p99_us=None,
                errors=0,
            )
        )
        outcome = drive_shift_change(
            stack,
            tc.readers,
            schedule,
            tc.burst_s,
            scenario.seed,
            stack.run_dir,
            drain_s=drain_s,
            on_gateway=sampler.track,
            faults=scenario.faults,
            fault_targets=stack_fault_targets(stack),
        )
    # After an owned stack stopped: its processes' logs are complete then.
    pressure = _pressure(stack, cell)
    metrics = MetricSet()
    send_lag = LatencyRecorder()
    for t in outcome.timings:
        send_lag.record_ns(max(0, t.inserted_ns - t.intended_ns))
        if t.received_ns is not None:
            metrics.record_ns("eks_insert_to_kiosk", t.received_ns - t.inserted_ns)
            metrics.record_ns("response_time", t.received_ns - t.intended_ns)
    series = timeclock_timeseries(outcome.timings, connections=tc.readers)
    points = [{"epoch_s": p.epoch_s, "sent": p.sent, "received": p.received} for p in series.points]
    windows = outcome.fault_windows
    faults = tuple(
        _window(w, points, outcome, windows[i + 1] if i + 1 < len(windows) else None) for i, w in enumerate(windows)
    )
    seen = outcome.kiosks_with_punch
    delivery = DeliveryCounts(
        streams=tc.readers,
        expected=len(schedule),
        received=seen + outcome.duplicates,
        distinct=seen,
        lost=len(schedule) - seen,
        duplicated=outcome.duplicates,
        reordered=0,
        outside_expected=0,
        late_untracked=0,
        exact=True,
    )
    return CellMeasurements(
        server=cell.server,
        layer=cell.layer,
        workers=cell.workers,
        scenario=scenario.name,
        duration_s=tc.burst_s,
        metrics=metrics,
        delivery=delivery,
        connect_failures=_connect_failures(outcome),
        unexpected_closes=UnexpectedCloses(),
        generator=_generator_health(outcome, send_lag),
        server_processes=sampler.processes(),
        timeseries=series,
        faults=faults,
        punch_audit=outcome.audit.as_dict() if outcome.audit is not None else None,
        restarts=tuple(r.to_dict() for r in outcome.restarts),
        layer_pressure=pressure,
        redis_samples=tuple(sampler.redis_samples),
        parameters={
            "readers": tc.readers,
            "inserts_per_reader": tc.inserts,
            "burst_s": tc.burst_s,
            "punches_stored": outcome.punches_stored,
            "punches_missing_in_database": outcome.lost,
            "gateway_reconnects": outcome.gateway.get("reconnects"),
            "gateway_errors": outcome.gateway.get("errors"),
            "burst_duration_s": round(outcome.burst_duration_s, 3),
            "readers_connected": outcome.readers_connected,
            "kiosks_not_opened": outcome.kiosk_failures.total,
            "drained": outcome.drained,
        },
    )
