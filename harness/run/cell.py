"""One matrix cell driven by the Locust generator: a fresh stack, the generator runs, the cell's measurements."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import orjson

from harness.faults.injectors import FaultTargets, Supervised
from harness.faults.proxy import FaultProxy
from harness.faults.schedule import FaultSchedule, FaultWindow, window_figures
from harness.faults.supervisor import ProcessSupervisor
from harness.load.generator import LIVE_FILE, GeneratorResult, run_generator
from harness.load.options import SETTLE_KINDS
from harness.measure.accounting import ConnectFailures, DeliveryCounts, DeliveryLedger, UnexpectedCloses
from harness.measure.aggregation import OTHERS_PREFIX, HealthThresholds, ProcessHealth
from harness.measure.join_storm import JoinStorm
from harness.measure.latency import LatencyRecorder
from harness.measure.layer_pressure import layer_pressure
from harness.measure.membership import MembershipLog, window_membership
from harness.measure.metric_set import MetricSet
from harness.measure.resources import ResourceSampler
from harness.measure.soak import soak_verdict
from harness.report.progress import ProgressState
from harness.results import (
    CellMeasurements,
    GeneratorHealth,
    GroupSizeLatency,
    JoinStormPhase,
    TimePoint,
    TimeSeries,
)
from harness.run.plan import GENERATOR_KIND, Cell, CellRun, GeneratorTarget, _generator_runs, _shape, stack_config
from harness.scenario import Scenario
from harness.stack import Stack
from harness.stack.layers import layer_spec
from harness.stack.network import http_get_json

__all__ = ["SETTLE_QUIET_S", "SETTLE_TIMEOUT_S", "run_locust_cell", "stack_roots"]

#: A fan-out run's settle barrier (harness.load.settle): seconds without a presence frame that make its rooms joined.
SETTLE_QUIET_S: Final = 1.0
#: ... and seconds after spawning when its members send anyway: far beyond the storm of 1,000 members on one core
#: (docs/scenarios.md has the figures), short enough that a storm that never ends costs two minutes, not the run.
SETTLE_TIMEOUT_S: Final = 120.0


def _health(runs: Sequence[tuple[int | None, GeneratorResult]], metrics: MetricSet) -> GeneratorHealth:
    """Generator health over every generator run of a cell: bound if any run was, with each run's reasons, and the
    exceptions its users raised."""
    processes: list[ProcessHealth] = []
    reasons: list[str] = []
    errors: list[tuple[int, str]] = []
    failures: list[tuple[int, str]] = []
    ended: list[str] = []
    bound = False
    thresholds = HealthThresholds()
    for size, run in runs:
        health = run.result["generator_health"]
        thresholds = HealthThresholds.from_dict(health["thresholds"])
        processes += [ProcessHealth.from_dict(p) for p in health["processes"]]
        bound = bound or bool(health["generator_bound"])
        prefix = "" if size is None else f"group size {size}: "
        reasons += [prefix + str(r) for r in health["generator_bound_reasons"]]
        errors += [(n, prefix + message) for n, message in run.user_errors()]
        failures += [(n, prefix + message) for n, message in run.request_failures()]
        ended += [prefix + str(reason) for reason in run.result.get("ended_early", [])]
    lag = metrics.recorder("send_lag").summary() if "send_lag" in metrics else LatencyRecorder().summary()
    return GeneratorHealth(
        processes=tuple(processes),
        thresholds=thresholds,
        send_lag=lag,
        generator_bound=bound,
        reasons=tuple(reasons),
        user_errors=tuple(errors),
        request_failures=tuple(failures),
        ended_early=tuple(ended),
    )


def _timeseries(results: Sequence[dict[str, Any]]) -> TimeSeries:
    """Every generator run's seconds in one series, timed from the first run's first second (gaps between runs
    stay visible as missing seconds)."""
    rows = [p for result in results for p in result["time_series"]]
    first = min((int(p["epoch_s"]) for p in rows), default=0)
    points = tuple(TimePoint(**{**p, "t_s": float(int(p["epoch_s"]) - first)}) for p in rows)
    return TimeSeries(interval_s=1.0, points=points)


@dataclass
class _MergedRuns:
    """A cell's generator runs added up, and what each group size's run measured on its own."""

    metrics: MetricSet = field(default_factory=MetricSet)
    delivery: DeliveryCounts = field(default_factory=DeliveryCounts.zero)
    failures: ConnectFailures = field(default_factory=ConnectFailures)
    closes: UnexpectedCloses = field(default_factory=UnexpectedCloses)
    foreign: dict[str, int] = field(default_factory=dict)
    by_size: list[GroupSizeLatency] = field(default_factory=list)
    storms: list[JoinStormPhase] = field(default_factory=list)


def _merge_runs(runs: Sequence[tuple[int | None, int, GeneratorResult]]) -> _MergedRuns:
    merged = _MergedRuns()
    for size, users, run in runs:
        part = MetricSet.from_dict(run.result["metrics"])
        merged.metrics.merge(part)
        merged.delivery = merged.delivery + DeliveryCounts.from_dict(run.result["delivery"])
        failures = ConnectFailures.from_dict(run.result["connect_failures"])
        closes = UnexpectedCloses.from_dict(run.result["unexpected_closes"])
        merged.failures.merge(failures)
        merged.closes.merge(closes)
        for reason, count in run.result["foreign_messages"].items():
            merged.foreign[reason] = merged.foreign.get(reason, 0) + int(count)
        if size is None:
            continue
        if "fanout" in part:
            merged.by_size.append(GroupSizeLatency(size, users // size, part.recorder("fanout")))
        connect = part.recorder("connect") if "connect" in part else LatencyRecorder()
        storm = JoinStorm.from_dict(run.result["join_storm"])
        merged.storms.append(
            JoinStormPhase(
                group_size=size,
                groups=users // size,
                connected=connect.count,
                connect=connect.summary(),
                presence_received=storm.joins,
                presence_after_release=storm.joins_after_release,
                # A member that failed to connect, or was closed on, announced or heard less than the room's share.
                all_joined=failures.total == 0 and closes.total == 0,
                duration_s=None if storm.duration_ns is None else storm.duration_ns / 1e9,
                settled=bool(storm.settled),
            )
        )
    return merged


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


def run_locust_cell(run: CellRun, load: GeneratorTarget) -> CellMeasurements:
    """Start the cell's stack (unless ``load.url`` is given), run the generator once per generator run, measure."""
    plan = _generator_runs(run.scenario)
    scenario = run.scenario
    # A fan-out run's spawning (and the join storm it sets off, which the line cannot know) comes on top.
    spawn_s = sum(users / scenario.load.spawn_rate for size, users, _, _ in plan if size is not None)
    show = _progress(run, total_s=spawn_s + len(plan) * (scenario.warmup_s + scenario.duration_s + scenario.grace_s))
    show("starting")
    stack: Stack | None = None
    sampler: ResourceSampler | None = None
    proxy: FaultProxy | None = None
    schedule: FaultSchedule | None = None
    supervisor: ProcessSupervisor | None = None
    runs: list[tuple[int | None, int, GeneratorResult]] = []
    try:
        if load.url is None:
            stack = Stack(stack_config(run.scenario, run.cell), run.directory / "stack").start()
            url, creds = stack.ws_url, stack.credentials_path
            redis_port = stack.redis.port if stack.redis else None
            sampler = ResourceSampler(
                stack_roots(stack, run.cell),
                redis_port=redis_port,
                # A soak compares Redis keys and groups, and the app's asyncio tasks, early against late.
                keyspace=scenario.soak is not None and redis_port is not None,
                health=_health_of(stack) if scenario.soak is not None else None,
            ).start()
        else:
            url, creds = load.url, load.credentials
        generator_url = url
        if scenario.faults:
            targets = stack_fault_targets(stack)
            if any(f.kind == "toxic" and f.target == "client" for f in scenario.faults):
                # The generator talks to the server through a fault proxy, whose toxics follow the windows.
                parts = urlsplit(url)
                proxy = FaultProxy((parts.hostname or "127.0.0.1", parts.port or 80), seed=scenario.seed).start()
                generator_url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{proxy.port}"))
                targets.proxies["client"] = proxy
            schedule = FaultSchedule(targets, scenario.faults)
            supervisor = ProcessSupervisor(targets.supervised).start()
            schedule.start()
        load_started = time.monotonic()
        for n, (size, users, rate, room_size) in enumerate(plan):
            result = _generator_run(run, load, generator_url, creds, n, size, users, rate, room_size, show)
            runs.append((size, users, result))
    finally:
        if schedule is not None:
            schedule.stop()
        if supervisor is not None:
            supervisor.stop()
        if proxy is not None:
            proxy.stop()
        if sampler is not None:
            sampler.stop()
        if stack is not None:
            show("stopping")
            stack.stop()
    return _measurements(run, load, url, runs, stack, sampler, len(plan), schedule, supervisor, load_started)


def _health_of(stack: Stack) -> Callable[[], Mapping[str, Any]]:
    def health() -> Mapping[str, Any]:
        _, body = http_get_json(stack.config.host, stack.port, "/healthz")
        return body if isinstance(body, Mapping) else {}

    return health


def _soak(
    scenario: Scenario, sampler: ResourceSampler | None, series: TimeSeries, load_started: float | None
) -> Mapping[str, Any] | None:
    """The soak verdict of a cell with ``[soak]``, on the time axis of the load (0: the generator started), over the
    warm-up and the measurement (the grace and the closing of sockets would flatter the late window)."""
    if scenario.soak is None or sampler is None or load_started is None:
        return None
    shift = load_started - sampler.started_monotonic
    span = scenario.warmup_s + scenario.duration_s
    named: dict[str, tuple[str, list[tuple[float, float]]]] = {}
    for process in sampler.processes():
        label = f"{process.name} pid {process.pid}"
        named[f"{label} rss"] = ("rss_bytes", [(s.t_s - shift, s.rss_bytes) for s in process.samples])
        named[f"{label} fds"] = ("num_fds", [(s.t_s - shift, s.num_fds) for s in process.samples])
    if sampler.redis_samples:
        named["redis used memory"] = (
            "redis_used_memory_bytes",
            [(s.t_s - shift, s.used_memory_bytes) for s in sampler.redis_samples],
        )
    if sampler.keyspace_samples:
        named["redis keys"] = ("redis_keys", [(s.t_s - shift, s.keys) for s in sampler.keyspace_samples])
        named["redis group members"] = (
            "redis_group_members",
            [(s.t_s - shift, s.group_members) for s in sampler.keyspace_samples],
        )
    for pid in sorted({t.pid for t in sampler.task_samples}):
        named[f"asyncio tasks pid {pid}"] = (
            "asyncio_tasks",
            [(t.t_s - shift, t.asyncio_tasks) for t in sampler.task_samples if t.pid == pid],
        )
    origin = sampler.started_wall + shift
    latency: dict[str, list[tuple[float, float]]] = {"service time p99 (µs)": [], "response time p99 (µs)": []}
    for point in series.points:
        t = point.epoch_s + 0.5 - origin
        if point.service_time_p99_us is not None:
            latency["service time p99 (µs)"].append((t, point.service_time_p99_us))
        if point.response_time_p99_us is not None:
            latency["response time p99 (µs)"].append((t, point.response_time_p99_us))
    within = {name: (kind, [p for p in points if p[0] <= span]) for name, (kind, points) in named.items()}
    drift = {name: [p for p in points if p[0] <= span] for name, points in latency.items() if points}
    return soak_verdict(scenario.soak, span, within, drift).to_dict()


def stack_fault_targets(stack: Stack | None) -> FaultTargets:
    """What the faults of a run may act on in ``stack`` (nothing but a client path without one): its Redis and the
    proxy in front of it, its server processes (all, or the first of several workers) and its timeclock worker,
    restarted by the harness as a process manager would (runworker and Daphne restart nothing themselves; Uvicorn's
    master replaces its own workers)."""
    targets = FaultTargets()
    if stack is None:
        return targets
    targets.redis = stack.redis
    if stack.redis_proxy is not None:
        targets.proxies["redis"] = stack.redis_proxy
    if stack.launch is not None:
        server = targets.supervised["server"] = Supervised(
            f"{stack.config.server}-server",
            current=lambda: list(stack.launch.processes) if stack.launch is not None else [],
            restart=stack.restart_server,
        )
        if stack.server_workers():
            # One of several: while a window holds it down, the whole server is held, or the supervisor would
            # start that one again before the window ends.
            targets.supervised["server_worker"] = Supervised(
                f"{stack.config.server}-worker",
                current=lambda: stack.server_workers()[:1],
                restart=stack.restore_server_workers,
                holds=(server,),
                lock=server.lock,
                watched=False,
            )
    if stack.worker is not None:
        targets.supervised["worker"] = Supervised(
            "timeclock-worker",
            current=lambda: [stack.worker] if stack.worker is not None else [],
            restart=lambda: [stack.restart_worker()],
        )
    return targets


def _progress(run: CellRun, *, total_s: float) -> Callable[..., None]:
    """``show(phase, live=None)``: the progress line of this cell, with the generator's newest figures if any."""
    started = time.monotonic()

    def show(phase: str, live: _Live | None = None) -> None:
        run.progress.update(
            ProgressState(
                phase=phase,
                cell_index=run.index,
                cell_count=run.count,
                cell_label=run.cell.label,
                elapsed_s=time.monotonic() - started,
                total_s=total_s,
                users=live.users if live else 0,
                window_s=live.window_s if live else 0,
                msgs_per_s=live.per_s if live else None,
                response_p99_us=live.response_p99_us if live else None,
                errors=live.errors if live else 0,
            )
        )

    return show


def _generator_run(
    run: CellRun,
    load: GeneratorTarget,
    url: str,
    creds: Path | None,
    n: int,
    size: int | None,
    users: int,
    rate: float,
    room_size: int,
    show: Callable[..., None],
) -> GeneratorResult:
    """One run of the Locust generator (a fan-out cell has one per group size), showing its live figures."""
    scenario = run.scenario
    arrival, shape_args, shape_env = _shape(scenario, rate / (scenario.load.rate or 1.0))
    # A fan-out run sends once its rooms are joined (the join storm is measured apart, harness.load.settle); that is
    # one send window for every user too. Aligned runs (capacity trials) settle as well where the users can: a
    # fixed warm-up from the test's start assumed the connects kept the spawn rate, and when the server accepted
    # them slower the first second of sends met the tail of the join storm (1-2 s latencies at 437 chat sockets).
    app_settles = scenario.app is not None and scenario.app.settle
    if size is not None or app_settles or (load.aligned and GENERATOR_KIND[scenario.kind] in SETTLE_KINDS):
        warmup_from = "settle"
    else:
        warmup_from = "start" if load.aligned else "connect"
    phase = "measuring" if size is None else f"measuring group size {size}"
    locust_dir = run.directory / (f"locust-size-{size}" if size is not None else "locust")
    return _with_progress(
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
        processes=load.processes,
        credentials=creds,
        run_id=f"{load.run_id}-{run.index}-{n}",
        out_dir=locust_dir,
        warmup_s=scenario.warmup_s + (users / scenario.load.spawn_rate if warmup_from == "start" else 0.0),
        warmup_from=warmup_from,
        settle_quiet_s=SETTLE_QUIET_S,
        settle_timeout_s=SETTLE_TIMEOUT_S,
        grace_s=scenario.grace_s,
        room_size=room_size,
        payload_bytes=scenario.load.payload_bytes,
        reconnect=scenario.load.reconnect,
        extra_args=(
            "--harness-seed",
            str(scenario.seed),
            *shape_args,
            *(() if load.lag_limit_ms is None else ("--harness-lag-limit-ms", f"{load.lag_limit_ms:g}")),
            *_app_args(scenario),
        ),
        extra_env=shape_env,
    )


def _app_args(scenario: Scenario) -> tuple[str, ...]:
    """The generator's arguments for a scenario of kind app: its protocol, and the Origin it asks for."""
    app = scenario.app
    if app is None:
        return ()
    return ("--harness-app", app.to_json(), *(("--harness-origin", app.origin) if app.origin else ()))


def _measurements(
    run: CellRun,
    load: GeneratorTarget,
    url: str,
    runs: Sequence[tuple[int | None, int, GeneratorResult]],
    stack: Stack | None,
    sampler: ResourceSampler | None,
    planned_runs: int,
    schedule: FaultSchedule | None = None,
    supervisor: ProcessSupervisor | None = None,
    load_started: float | None = None,
) -> CellMeasurements:
    scenario, cell = run.scenario, run.cell
    merged = _merge_runs(runs)
    series = _timeseries([result.result for _, _, result in runs])
    faults = _fault_figures(schedule.windows if schedule is not None else [], series, runs)
    metrics = merged.metrics
    return CellMeasurements(
        server=cell.server,
        layer=cell.layer,
        workers=cell.workers,
        scenario=scenario.name,
        duration_s=scenario.duration_s * planned_runs,
        metrics=metrics,
        delivery=merged.delivery,
        connect_failures=merged.failures,
        unexpected_closes=merged.closes,
        generator=_health([(size, result) for size, _, result in runs], metrics),
        server_processes=sampler.processes() if sampler is not None else (),
        parameters={
            "kind": scenario.kind,
            **({"app": asdict(scenario.app)} if scenario.app is not None else {}),
            **(
                {"settled": all(bool(JoinStorm.from_dict(r.result["join_storm"]).settled) for _, _, r in runs)}
                if scenario.app is not None and scenario.app.settle
                else {}
            ),
            "users": scenario.load.users,
            "rate_per_user": scenario.load.rate,
            "arrival": scenario.load.arrival,
            "shape": scenario.load.shape,
            # An app's message is its [app.send] template, not padded.
            "payload_bytes": None if scenario.app is not None else scenario.load.payload_bytes,
            "room_size": scenario.load.room_size,
            "group_sizes": list(scenario.load.group_sizes),
            "generator_processes": load.processes,
            "target": load.url or url,
        },
        foreign_messages=merged.foreign,
        timeseries=series,
        fanout_by_group_size=tuple(merged.by_size),
        join_storm_by_group_size=tuple(merged.storms),
        faults=faults,
        restarts=tuple(r.to_dict() for r in supervisor.restarts) if supervisor is not None else (),
        soak=_soak(scenario, sampler, series, load_started),
        layer_pressure=_pressure(stack, cell) if stack is not None else None,
        redis_samples=tuple(sampler.redis_samples) if sampler is not None else (),
    )


def _fault_figures(
    windows: Sequence[FaultWindow], series: TimeSeries, runs: Sequence[tuple[int | None, int, GeneratorResult]]
) -> tuple[dict[str, Any], ...]:
    """Each window's figures from the time series, and, when the users reconnect, what it did to the rooms (closes,
    reconnects, messages owed and lost, silent members: harness.measure.membership)."""
    points = [{"epoch_s": p.epoch_s, "sent": p.sent, "received": p.received} for p in series.points]
    # A reconnecting scenario has one generator run (fan-out's several runs cannot reconnect).
    logged = [r.result for _, _, r in runs if r.result.get("membership") is not None]
    log = MembershipLog.from_dict(logged[0]["membership"]) if logged else None
    ledger = DeliveryLedger.from_dict(logged[0]["ledger"]) if logged else None
    out = []
    for i, window in enumerate(windows):
        figures = window_figures(window, points)
        following = windows[i + 1] if i + 1 < len(windows) else None
        if log is not None and ledger is not None and window.began_wall_s is not None:
            ended = window.ended_wall_s if window.ended_wall_s is not None else window.began_wall_s
            until = following.began_wall_s if following is not None else None
            figures |= window_membership(
                log,
                ledger,
                began_ns=round(window.began_wall_s * 1e9),
                ended_ns=round(ended * 1e9),
                until_ns=None if until is None else round(until * 1e9),
                others_only=[g for _, g in log.stays if g.startswith(OTHERS_PREFIX)],
            )
        out.append(figures)
    return tuple(out)


def _pressure(stack: Stack, cell: Cell) -> dict[str, Any]:
    logs = [p.log_path for p in (stack.launch.processes if stack.launch else [])]
    if stack.worker is not None:
        logs.append(stack.worker.log_path)
    return layer_pressure(logs, layer_spec(cell.layer).backend)


def stack_roots(stack: Stack, cell: Cell) -> dict[str, int]:
    """The server-side processes of a stack to sample, by name: servers, the timeclock worker, its Redis."""
    roots = {f"{cell.server}-{i}": pid for i, pid in enumerate(stack.server_pids)}
    if stack.worker is not None:
        roots["timeclock-worker"] = stack.worker.pid
    if stack.redis is not None and stack.redis.process is not None:
        roots["redis-server"] = stack.redis.process.pid
    return roots
