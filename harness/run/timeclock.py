"""One timeclock cell: emulated EKS readers -> gateway -> worker -> database, and a kiosk socket per terminal."""

from __future__ import annotations

import socket
import time

import psutil

from harness.measure.accounting import ConnectFailures, DeliveryCounts, UnexpectedCloses
from harness.measure.aggregation import GENERATOR_CPU_LIMIT_PERCENT, HealthThresholds, ProcessHealth
from harness.measure.latency import LatencyRecorder
from harness.measure.metric_set import MetricSet
from harness.measure.resources import ResourceSampler
from harness.report.progress import ProgressState
from harness.results import (
    CellMeasurements,
    GeneratorHealth,
)
from harness.run.cell import _pressure, stack_roots
from harness.run.plan import CellRun, UnsupportedScenario
from harness.run.shift_change import drive_shift_change, shift_schedule
from harness.stack import Stack, StackConfig
from harness.stack.network import find_free_port_range

__all__ = ["run_timeclock_cell"]


def run_timeclock_cell(run: CellRun) -> CellMeasurements:
    """A shift change: emulated EKS readers -> gateway -> worker -> database and one kiosk socket per terminal."""
    scenario, cell, index, count, progress = run.scenario, run.cell, run.index, run.count, run.progress
    tc = scenario.timeclock
    if tc is None:
        raise UnsupportedScenario(f"scenario {scenario.name!r} is of kind timeclock but has no [timeclock] table")
    cell_dir = run.directory
    schedule = shift_schedule(tc.readers, tc.inserts, tc.burst_s, scenario.seed)
    started = time.monotonic()
    progress.update(ProgressState("starting", index, count, cell.label, 0.0, tc.burst_s, 0, 0, None, None, 0))
    config = StackConfig(
        server=cell.server,
        layer=cell.layer,
        workers=cell.workers,
        seed=scenario.seed,
        users=2,
        rooms=1,
        employees=len(schedule),
        terminals=tc.readers,
        reader_base_port=find_free_port_range(tc.readers, seed=scenario.seed),
        startup_timeout=120,
    )
    me = psutil.Process()
    with Stack(config, cell_dir / "stack") as stack:
        sampler = ResourceSampler(stack_roots(stack, cell), redis_port=stack.redis.port if stack.redis else None)
        sampler.start()
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
        cpu_before, wall_before = me.cpu_times(), time.monotonic()
        try:
            outcome = drive_shift_change(stack, tc.readers, schedule, tc.burst_s, scenario.seed, stack.run_dir)
        finally:
            sampler.stop()
        cpu_after, wall = me.cpu_times(), time.monotonic() - wall_before
    cpu_percent = 100.0 * ((cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)) / wall
    metrics = MetricSet()
    for latency_ns in outcome.latencies_ns:
        metrics.record_ns("eks_insert_to_kiosk", latency_ns)
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
    bound = cpu_percent > GENERATOR_CPU_LIMIT_PERCENT
    reasons: tuple[str, ...] = ()
    if bound:
        # One CPU figure over the whole burst (start to end of the shift change), not per-second samples.
        reasons = (
            f"harness process CPU {cpu_percent:.0f}% > {GENERATOR_CPU_LIMIT_PERCENT:.0f}% while driving readers and "
            "kiosks",
        )
    return CellMeasurements(
        server=cell.server,
        layer=cell.layer,
        workers=cell.workers,
        scenario=scenario.name,
        duration_s=tc.burst_s,
        metrics=metrics,
        delivery=delivery,
        connect_failures=ConnectFailures(),
        unexpected_closes=UnexpectedCloses(),
        generator=GeneratorHealth(
            processes=(
                ProcessHealth(
                    process_id="harness",
                    role="harness",
                    host=socket.gethostname(),
                    pid=me.pid,
                    cpu_mean=round(cpu_percent, 1),
                    cpu_max=round(cpu_percent, 1),
                    cpu_samples=1,
                    send_lag_p99_us=0,
                    generator_bound=bound,
                    reasons=reasons,
                ),
            ),
            thresholds=HealthThresholds(),
            send_lag=LatencyRecorder().summary(),
            generator_bound=bound,
            reasons=reasons,
        ),
        server_processes=sampler.processes(),
        layer_pressure=_pressure(stack, cell),
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
        },
    )
