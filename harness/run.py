"""``harness run``: one scenario over its matrix of server x layer x workers cells, or against a given ``--target``.

Each cell gets a fresh stack (through the same machinery as ``harness serve``), the Locust generator in its own
processes, and a resource sampler on the server side. The cell's measurements become one entry of ``result.json``;
the run ends with ``report.html``, ``.hgrm`` files and ``reports/latest``.
"""

from __future__ import annotations

import functools
import math
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil

from harness.accounting import ConnectFailures, DeliveryCounts, UnexpectedCloses
from harness.fingerprint import collect_fingerprint
from harness.generator import LIVE_FILE, GeneratorResult, run_generator
from harness.latency import LatencyRecorder, MetricSet
from harness.layer_pressure import layer_pressure
from harness.layers import layer_spec
from harness.network import find_free_port_range
from harness.progress import ProgressLine, ProgressState
from harness.redis_server import find_redis_server
from harness.resources import ResourceSampler
from harness.results import (
    CellInput,
    GeneratorHealth,
    GeneratorProcess,
    GroupSizeLatency,
    ResourceSample,
    RunFiles,
    ServerProcess,
    TimePoint,
    TimeSeries,
    build_result,
    default_out_dir,
    write_run,
)
from harness.scenario import Scenario
from harness.shift_change import drive_shift_change, shift_schedule
from harness.slo import breach_sentences, exit_code
from harness.stack import Stack, StackConfig

__all__ = ["Cell", "RunOutcome", "UnsupportedScenario", "plan_cells", "run_scenario"]

#: Kinds whose users the Locust generator has; the scenario kind maps onto one of them.
#: Above this share of one core the harness process, not the server, may have limited a timeclock run.
GENERATOR_CPU_LIMIT = 85.0

GENERATOR_KIND = {
    "echo": "echo",
    "broadcast": "broadcast",
    "chat": "chat",
    "fanout": "chat",
    "notifications": "notifications",
    "connect-storm": "connect-storm",
}


#: The timeclock kind is driven by the EKS path in this process (emulator, gateway, kiosk sockets), not by Locust.
TIMECLOCK = "timeclock"


class UnsupportedScenario(ValueError):
    pass


@dataclass(frozen=True)
class Cell:
    server: str
    layer: str
    workers: int

    @property
    def label(self) -> str:
        return f"{self.server}+{self.layer}, {self.workers} worker{'s' if self.workers != 1 else ''}"


@dataclass(frozen=True)
class RunOutcome:
    document: dict[str, Any]
    files: RunFiles
    exit_code: int


def plan_cells(scenario: Scenario, target: str | None) -> list[Cell]:
    if target is not None:
        if scenario.kind == TIMECLOCK:
            raise UnsupportedScenario(
                f"scenario {scenario.name!r} drives EKS readers through the gateway of a stack it starts; "
                "it cannot run against --target"
            )
        if not scenario.generic and scenario.kind not in GENERATOR_KIND:
            raise UnsupportedScenario(f"scenario {scenario.name!r} ({scenario.kind}) cannot run against --target")
        return [Cell("external", "external", 1)]
    if scenario.generic:
        raise UnsupportedScenario(
            f"scenario {scenario.name!r} is generic (any {scenario.kind} server): give the server with "
            "--target ws://host:port/path"
        )
    m = scenario.matrix
    return [Cell(s, layer, w) for s in m.servers for layer in m.layers for w in m.workers]


def _generator_runs(scenario: Scenario) -> list[tuple[int | None, int, float, int]]:
    """(group size or None, users, rate per user, room size) for each generator run of a cell.

    A fan-out scenario runs once per group size; each group publishes ``load.rate`` messages per second in total, so
    each member sends ``rate / size`` and the members of all groups of that size fill ``load.users``.
    """
    load = scenario.load
    rate = load.rate if load.rate is not None else 1.0
    if scenario.kind == "fanout":
        return [
            (size, size * max(1, load.users // sum(load.group_sizes)), rate / size, size) for size in load.group_sizes
        ]
    return [(None, load.users, rate * _rate_scale(scenario), load.room_size or 0)]


def _rate_scale(scenario: Scenario) -> float:
    """Factor from the scenario's rate to the generator's per-user rate.

    A notifications scenario gives the rate each user receives; the one publisher user sends for all listeners.
    """
    return float(max(1, scenario.load.users - 1)) if scenario.kind == "notifications" else 1.0


def _shape(scenario: Scenario, factor: float) -> tuple[str, tuple[str, ...], dict[str, str]]:
    """The generator's arrival model, extra arguments and environment for the scenario's load shape.

    ``factor`` turns a scenario rate into the generator's rate per user (see :func:`_generator_runs`).

    Arrival (evenly spaced or Poisson) and shape (how the rate changes over time) are two axes in the scenario and
    stay two in the generator: Poisson arrivals under a ramp or steps are a Poisson process following that rate.
    """
    load = scenario.load
    if load.shape == "constant":
        return load.arrival, (), {}
    rates = [factor * (stage.rate if stage.rate is not None else (load.rate or 1.0)) for stage in load.stages]
    user_steps = {}
    if any(stage.users != load.users for stage in load.stages):
        # Locust applies a LoadTestShape for the user count; the message rate follows the same stages.
        user_steps = {
            "HARNESS_USER_STEPS": ",".join(f"{stage.users}:{stage.duration_s:g}" for stage in load.stages),
            "HARNESS_USER_STEPS_SPAWN_RATE": f"{load.spawn_rate:g}",
        }
    steps = ",".join(f"{rate:g}:{stage.duration_s:g}" for rate, stage in zip(rates, load.stages, strict=True))
    return load.arrival, ("--harness-shape", load.shape, "--harness-steps", steps), user_steps


def _stack_config(scenario: Scenario, cell: Cell) -> StackConfig:
    load = scenario.load
    users = max(load.users, max(load.group_sizes, default=0), 2)
    rooms = 1
    if load.room_size:
        rooms = math.ceil(users / load.room_size)
    elif load.group_sizes:
        rooms = max(1, users)
    return StackConfig(
        server=cell.server,
        layer=cell.layer,
        workers=cell.workers,
        seed=scenario.seed,
        users=users,
        rooms=rooms,
        employees=max(2, users),
        terminals=2,
        startup_timeout=120,
    )


def _health(results: Sequence[tuple[int | None, dict[str, Any]]], metrics: MetricSet) -> GeneratorHealth:
    """Generator health over every generator run of a cell: bound if any run was, with each run's reasons."""
    processes: list[GeneratorProcess] = []
    reasons: list[str] = []
    bound = False
    for size, result in results:
        health = result["generator_health"]
        processes += [
            GeneratorProcess(
                role=str(p["role"]),
                pid=int(p["pid"]),
                cpu_mean=float(p["cpu_percent"]["mean"]),
                cpu_max=float(p["cpu_percent"]["max"]),
            )
            for p in health["processes"]
        ]
        bound = bound or bool(health["generator_bound"])
        prefix = "" if size is None else f"group size {size}: "
        reasons += [prefix + str(r) for r in health["generator_bound_reasons"]]
    lag = metrics.recorder("send_lag").summary() if "send_lag" in metrics else LatencyRecorder().summary()
    return GeneratorHealth(processes=tuple(processes), send_lag=lag, generator_bound=bound, reasons=tuple(reasons))


def _timeseries(results: Sequence[dict[str, Any]]) -> TimeSeries:
    """Every generator run's seconds in one series, timed from the first run's first second (gaps between runs
    stay visible as missing seconds)."""
    rows = [p for result in results for p in result["time_series"]]
    first = min((int(p["epoch_s"]) for p in rows), default=0)
    points = tuple(
        TimePoint(
            t_s=float(int(p["epoch_s"]) - first),
            sent=int(p["sends"]),
            received=int(p["deliveries"]),
            errors=int(p["errors"]),
            connections=int(p["connections"]),
            service_time_p99_us=p["service_time_p99_us"],
            response_time_p99_us=p["response_time_p99_us"],
        )
        for p in rows
    )
    return TimeSeries(interval_s=1.0, points=points)


def _delivery(data: dict[str, Any]) -> DeliveryCounts:
    return DeliveryCounts(**{k: data[k] for k in DeliveryCounts.__dataclass_fields__})


def _merge_runs(
    runs: Sequence[tuple[int | None, int, GeneratorResult]],
) -> tuple[MetricSet, DeliveryCounts, ConnectFailures, UnexpectedCloses, dict[str, int], list[GroupSizeLatency]]:
    metrics = MetricSet()
    delivery = DeliveryCounts.zero()
    failures = ConnectFailures()
    closes = UnexpectedCloses()
    foreign: dict[str, int] = {}
    by_size: list[GroupSizeLatency] = []
    for size, users, run in runs:
        part = MetricSet.from_dict(run.result["metrics"])
        metrics.merge(part)
        delivery = delivery + _delivery(run.result["delivery"])
        failures.merge(ConnectFailures.from_dict(run.result["connect_failures"]))
        closes.merge(UnexpectedCloses.from_dict(run.result["unexpected_closes"]))
        for reason, count in run.result["foreign_messages"].items():
            foreign[reason] = foreign.get(reason, 0) + int(count)
        if size is not None and "fanout" in part:
            by_size.append(GroupSizeLatency(group_size=size, groups=users // size, recorder=part.recorder("fanout")))
    return metrics, delivery, failures, closes, foreign, by_size


def _server_processes(sampler: ResourceSampler) -> tuple[ServerProcess, ...]:
    data = sampler.to_dict()
    return tuple(
        ServerProcess(
            name=p["name"],
            pid=p["pid"],
            samples=tuple(ResourceSample(**s) for s in p["samples"]),
        )
        for p in data["processes"]
    )


@dataclass(frozen=True)
class _Live:
    """The running generator's newest figures (its ``--harness-live`` file)."""

    users: int
    window_s: int
    per_s: float | None
    response_p99_us: int | None
    errors: int


def _read_live(path: Path) -> _Live | None:
    try:
        data = orjson.loads(path.read_bytes())
        return _Live(
            users=int(data["users"]),
            window_s=int(data["window_s"]),
            per_s=None if data["deliveries_per_s"] is None else float(data["deliveries_per_s"]),
            response_p99_us=None if data["response_time_p99_us"] is None else int(data["response_time_p99_us"]),
            errors=int(data["errors"]),
        )
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        # Not written yet, or from a generator of another version: the line shows no figures rather than wrong ones.
        return None


def _with_progress(
    show: Callable[[_Live | None], None], live: Path, fn: Callable[..., GeneratorResult], *args: Any, **kwargs: Any
) -> GeneratorResult:
    """Run the generator while refreshing the progress line from the figures it rewrites every second."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(fn, *args, **kwargs)
        while not future.done():
            show(_read_live(live))
            time.sleep(1.0)
        return future.result()


def _run_cell(
    scenario: Scenario,
    cell: Cell,
    index: int,
    count: int,
    *,
    target: str | None,
    credentials: Path | None,
    out_dir: Path,
    processes: int,
    run_id: str,
    progress: ProgressLine,
) -> CellInput:
    cell_dir = out_dir / f"cell-{index:02d}-{cell.server}-{cell.layer}-{cell.workers}w"
    plan = _generator_runs(scenario)
    total_s = sum(scenario.warmup_s + scenario.duration_s + scenario.grace_s for _ in plan)
    started = time.monotonic()

    def show(phase: str, live: _Live | None = None) -> None:
        progress.update(
            ProgressState(
                phase=phase,
                cell_index=index,
                cell_count=count,
                cell_label=cell.label,
                elapsed_s=time.monotonic() - started,
                total_s=total_s,
                users=live.users if live else 0,
                window_s=live.window_s if live else 0,
                msgs_per_s=live.per_s if live else None,
                response_p99_us=live.response_p99_us if live else None,
                errors=live.errors if live else 0,
            )
        )

    show("starting")
    stack: Stack | None = None
    sampler: ResourceSampler | None = None
    runs: list[tuple[int | None, int, GeneratorResult]] = []
    try:
        if target is None:
            stack = Stack(_stack_config(scenario, cell), cell_dir / "stack").start()
            url, creds = stack.ws_url, stack.credentials_path
            roots = _stack_roots(stack, cell)
            sampler = ResourceSampler(roots, redis_port=stack.redis.port if stack.redis else None).start()
        else:
            url, creds = target, credentials
        for n, (size, users, rate, room_size) in enumerate(plan):
            arrival, shape_args, shape_env = _shape(scenario, rate / (scenario.load.rate or 1.0))
            phase = "measuring" if size is None else f"measuring group size {size}"
            locust_dir = cell_dir / (f"locust-size-{size}" if size is not None else "locust")
            runs.append(
                (
                    size,
                    users,
                    _with_progress(
                        functools.partial(show, phase),
                        locust_dir / LIVE_FILE,
                        run_generator,
                        url,
                        GENERATOR_KIND[scenario.kind],
                        users=users,
                        spawn_rate=scenario.load.spawn_rate,
                        duration_s=scenario.duration_s,
                        rate_per_user=rate,
                        arrival=arrival,
                        processes=processes,
                        credentials=creds,
                        run_id=f"{run_id}-{index}-{n}",
                        out_dir=locust_dir,
                        warmup_s=scenario.warmup_s,
                        grace_s=scenario.grace_s,
                        room_size=room_size,
                        payload_bytes=scenario.load.payload_bytes,
                        extra_args=("--harness-seed", str(scenario.seed), *shape_args),
                        extra_env=shape_env,
                    ),
                )
            )
    finally:
        if sampler is not None:
            sampler.stop()
        if stack is not None:
            show("stopping")
            stack.stop()
    metrics, delivery, failures, closes, foreign, by_size = _merge_runs(runs)
    pressure = _pressure(stack, cell) if stack is not None else None
    return CellInput(
        server=cell.server,
        layer=cell.layer,
        workers=cell.workers,
        scenario=scenario.name,
        duration_s=scenario.duration_s * len(plan),
        metrics=metrics,
        delivery=delivery,
        connect_failures=failures,
        unexpected_closes=closes,
        generator=_health([(size, run.result) for size, _, run in runs], metrics),
        server_processes=_server_processes(sampler) if sampler is not None else (),
        parameters={
            "users": scenario.load.users,
            "rate_per_user": scenario.load.rate,
            "arrival": scenario.load.arrival,
            "payload_bytes": scenario.load.payload_bytes,
            "room_size": scenario.load.room_size,
            "group_sizes": list(scenario.load.group_sizes),
            "generator_processes": processes,
            "target": target or url,
        },
        foreign_messages=foreign,
        timeseries=_timeseries([run.result for _, _, run in runs]),
        fanout_by_group_size=tuple(by_size),
        layer_pressure=pressure,
        redis_samples=tuple(sampler.to_dict()["redis"]) if sampler is not None else (),
    )


def _run_timeclock_cell(
    scenario: Scenario,
    cell: Cell,
    index: int,
    count: int,
    *,
    target: str | None,
    credentials: Path | None,
    out_dir: Path,
    processes: int,
    run_id: str,
    progress: ProgressLine,
) -> CellInput:
    """A shift change: emulated EKS readers -> gateway -> worker -> database and one kiosk socket per terminal."""
    tc = scenario.timeclock
    if tc is None:
        raise UnsupportedScenario(f"scenario {scenario.name!r} is of kind timeclock but has no [timeclock] table")
    cell_dir = out_dir / f"cell-{index:02d}-{cell.server}-{cell.layer}-{cell.workers}w"
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
        sampler = ResourceSampler(_stack_roots(stack, cell), redis_port=stack.redis.port if stack.redis else None)
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
    bound = cpu_percent > GENERATOR_CPU_LIMIT
    return CellInput(
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
            processes=(GeneratorProcess("harness", me.pid, round(cpu_percent, 1), round(cpu_percent, 1)),),
            send_lag=LatencyRecorder().summary(),
            generator_bound=bound,
            reasons=(
                (
                    f"harness process CPU {cpu_percent:.0f}% > {GENERATOR_CPU_LIMIT:.0f}% "
                    "while driving readers and kiosks",
                )
                if bound
                else ()
            ),
        ),
        server_processes=_server_processes(sampler),
        layer_pressure=_pressure(stack, cell),
        redis_samples=tuple(sampler.to_dict()["redis"]),
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


def _pressure(stack: Stack, cell: Cell) -> dict[str, Any]:
    logs = [p.log_path for p in (stack.launch.processes if stack.launch else [])]
    if stack.worker is not None:
        logs.append(stack.worker.log_path)
    return layer_pressure(logs, layer_spec(cell.layer).backend)


def _stack_roots(stack: Stack, cell: Cell) -> dict[str, int]:
    roots = {f"{cell.server}-{i}": pid for i, pid in enumerate(stack.server_pids)}
    if stack.worker is not None:
        roots["timeclock-worker"] = stack.worker.pid
    if stack.redis is not None and stack.redis.process is not None:
        roots["redis-server"] = stack.redis.process.pid
    return roots


def run_scenario(
    scenario: Scenario,
    *,
    target: str | None = None,
    credentials: Path | None = None,
    out_dir: Path | None = None,
    processes: int = 0,
    argv: Sequence[str] | None = None,
    stream: Any = None,
) -> RunOutcome:
    if scenario.kind not in GENERATOR_KIND and scenario.kind != TIMECLOCK:
        raise UnsupportedScenario(
            f"scenario {scenario.name!r} is of kind {scenario.kind!r}, which harness run cannot drive"
        )
    cells = plan_cells(scenario, target)
    out = out_dir or default_out_dir(scenario.name)
    out.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:12]
    progress = ProgressLine(stream if stream is not None else sys.stderr)
    run_cell = _run_timeclock_cell if scenario.kind == TIMECLOCK else _run_cell
    try:
        inputs = [
            run_cell(
                scenario,
                cell,
                i,
                len(cells),
                target=target,
                credentials=credentials,
                out_dir=out,
                processes=processes,
                run_id=run_id,
                progress=progress,
            )
            for i, cell in enumerate(cells, start=1)
        ]
    finally:
        progress.close()
    redis_bin = None
    if target is None and any(layer_spec(cell.layer).needs_redis for cell in cells):
        redis_bin = find_redis_server().path
    document = build_result(
        run_id=run_id,
        fingerprint=collect_fingerprint(redis_server_bin=redis_bin, seed=scenario.seed, argv=list(argv or sys.argv)),
        config={"scenario": scenario.to_dict(), "target": target, "generator_processes": processes},
        cells=inputs,
        slos=scenario.slos,
    )
    files = write_run(document, out)
    return RunOutcome(document, files, exit_code(document))


def summary_table(document: dict[str, Any]) -> str:
    header = (
        f"{'cell':<28} {'metric':<14} {'count':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'max ms':>8} "
        f"{'lost':>6} {'dup':>5} {'gen cpu':>8}"
    )
    lines = [header, "-" * len(header)]
    for cell in document["cells"]:
        label = f"{cell['server']}+{cell['layer']} x{cell['workers']}"
        cpu = max((p["cpu_percent"]["mean"] for p in cell["generator_health"]["processes"]), default=0.0)
        for name, metric in sorted(cell["metrics"].items()):
            if name == "send_lag":
                continue
            ms = {key: metric[key] / 1000 for key in ("p50", "p99", "p99_9", "max")}
            lines.append(
                f"{label:<28} {name:<14} {metric['count']:>8} {ms['p50']:>8.2f} {ms['p99']:>8.2f} "
                f"{ms['p99_9']:>9.2f} {ms['max']:>8.2f} {cell['delivery']['lost']:>6} "
                f"{cell['delivery']['duplicated']:>5} {cpu:>7.0f}%"
            )
        if cell["generator_health"]["generator_bound"]:
            reasons = "; ".join(cell["generator_health"]["generator_bound_reasons"])
            lines.append(f"!! GENERATOR-BOUND {label}: {reasons}")
    breaches = breach_sentences(document)
    lines.extend(f"SLO breach: {sentence}" for sentence in breaches)
    return "\n".join(lines)
