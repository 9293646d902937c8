"""One capacity trial: the scenario at one load, run as a Locust cell, and whether it held.

A trial passes when every predicate holds (docs/capacity.md):

- every objective (``--slo`` or the scenario's ``[[slos]]``), judged as ``harness run`` judges a cell;
- **send rate**: the generator kept the offered rate. The count of sends scatters around rate × window (Poisson
  arrivals, each user's phase), so what is compared is time: the sends went out within the window plus the
  largest send lag, and that stretch may exceed the window by at most 1 % (achieved rate >= 99 % of the rate of
  the same sends on time);
- **generator**: no generator process was saturated (CPU or send lag beyond its health limits);
- **connections**: no connect failed and no socket closed unexpectedly.

Warm-up: every connection is opened (at the scenario's spawn rate) and its join traffic has a settle time before
the first message is sent, so the judged window holds a steady connection count and no join storm.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from harness.capacity.little import LittleCheck, little_check
from harness.measure.aggregation import GENERATOR_LAG_LIMIT_MS
from harness.measure.cpu import machine_cpu
from harness.measure.resources import ResourceSampler, ServerProcess
from harness.report.progress import ProgressLine
from harness.results import build_cell
from harness.results.format import user_error_sentence
from harness.results.model import CellDoc
from harness.run.cell import run_locust_cell, stack_roots
from harness.run.plan import Cell, CellRun, GeneratorTarget, stack_config
from harness.run.timeclock import run_timeclock_cell
from harness.scenario import LatencySlo, Scenario, Slo
from harness.scenario.slo_text import DEFAULT_LATENCY_METRIC, slo_text
from harness.stack import Stack

__all__ = [
    "CONNECTIONS_CHECK",
    "SEND_RATE_RATIO",
    "SETTLE_S",
    "Check",
    "ProcessCpu",
    "TrialFigures",
    "TrialResult",
    "judge",
    "lag_limit_ms",
    "run_capacity_trial",
]

#: The name of the predicate that every connect succeeded and no socket closed unexpectedly.
CONNECTIONS_CHECK: Final = "connections"
#: The achieved send rate must be at least this share of the offered one.
SEND_RATE_RATIO: Final = 0.99
#: Seconds between the last connection opened and the first message sent, for joins and their broadcasts to end.
SETTLE_S: Final = 2.0
#: A trial's generator counts as saturated when its send-lag p99 exceeds this share of the tightest latency
#: objective (or the generator's own limit, if larger). Latencies run from each message's intended send, so a lag
#: can only make a trial look worse, never better; it decides the verdict only when it is a real share of the
#: budget. The generator's own 5 ms limit suits microsecond measurements: against p99 < 250 ms it flagged
#: processes at 8 % of a core whose lag p99 was 6 ms (the highest few of ~150 sends).
LAG_SHARE: Final = 0.1


def lag_limit_ms(slos: tuple[Slo, ...]) -> float:
    """The send-lag p99 (ms) above which a trial's generator counts as saturated: LAG_SHARE of the tightest
    latency objective, at least the generator's own limit."""
    limits = [s.limit_ms for s in slos if isinstance(s, LatencySlo)]
    return max(GENERATOR_LAG_LIMIT_MS, LAG_SHARE * min(limits)) if limits else GENERATOR_LAG_LIMIT_MS


@dataclass(frozen=True, slots=True)
class Check:
    """One predicate of a trial: its name (``slo p99<=250ms``, ``send rate``, ``generator``, ``connections``),
    whether it held, and one sentence with the measured value and the limit."""

    name: str
    passed: bool
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pass": self.passed, "sentence": self.sentence}


@dataclass(frozen=True, slots=True)
class ProcessCpu:
    """One sampled server-side process's mean CPU over the send window (100 = one core).

    The servers' CPU added up hides which process is the bottleneck: a Python process cannot use more than one
    core, so a trial whose busiest process sits near 100 % is limited by that process, whatever the sum says.
    """

    name: str
    pid: int
    cpu_percent: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pid": self.pid, "cpu_percent": self.cpu_percent}


@dataclass(frozen=True, slots=True)
class TrialFigures:
    """What a trial measured; a figure the trial could not measure is None, never 0.

    Latencies are the judged metric's (µs, over the send window); ``offered_per_s`` is the load's nominal send rate,
    ``achieved_per_s`` the sends over the time they took; ``server_cpu_percent`` the mean, over the send window, of
    the server processes' CPU added up (100 = one core); ``server_rss_bytes`` their peak added-up RSS;
    ``generator_cpu_percent`` the busiest generator process's mean CPU, ``generator_cpu_total_percent`` all of
    them added up (the generator's share of the machine); ``server_processes`` every sampled server-side process
    (ASGI servers, their children, the timeclock worker, Redis) with its own mean CPU, busiest first;
    ``opened_per_s`` the warm-up's spawn rate and ``connect_p99_us`` its handshakes' p99 (None for a timeclock
    trial, whose readers and kiosks open their own way).
    """

    metric: str
    p50_us: float | None
    p99_us: float | None
    max_us: float | None
    sent: int
    offered_per_s: float
    achieved_per_s: float | None
    deliveries_per_s: float
    expected: int
    lost: int
    duplicated: int
    loss_ratio: float | None
    connect_failures: int
    unexpected_closes: int
    server_cpu_percent: float | None
    server_rss_bytes: int | None
    server_fds: int | None
    generator_cpu_percent: float | None
    generator_cpu_total_percent: float | None
    generator_bound: bool
    steal_percent: float | None
    server_processes: tuple[ProcessCpu, ...] = ()
    #: Connections opened per second in the warm-up (the spawn rate, all generator processes together).
    opened_per_s: float | None = None
    #: Connect time p99 (µs): the handshakes' queue while opening.
    connect_p99_us: float | None = None

    def to_dict(self) -> dict[str, Any]:
        doc = {name: getattr(self, name) for name in self.__slots__}
        doc["server_processes"] = [p.to_dict() for p in self.server_processes]
        return doc


@dataclass(frozen=True)
class TrialResult:
    """One trial of the search, as capacity.json records it."""

    step: int
    load: float
    phase: str
    trial: int
    duration_s: float
    started_at: float
    wall_s: float
    passed: bool
    checks: tuple[Check, ...]
    figures: TrialFigures
    directory: str
    little: LittleCheck | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "load": self.load,
            "phase": self.phase,
            "trial": self.trial,
            "duration_s": self.duration_s,
            "started_at": self.started_at,
            "wall_s": self.wall_s,
            "pass": self.passed,
            "checks": [c.to_dict() for c in self.checks],
            "figures": self.figures.to_dict(),
            "directory": self.directory,
            "little": None if self.little is None else self.little.to_dict(),
            "notes": list(self.notes),
        }


def judged_metric(slos: tuple[Slo, ...]) -> str:
    """The latency metric a trial reports: the first latency objective's, else response time."""
    return next((s.metric for s in slos if isinstance(s, LatencySlo)), DEFAULT_LATENCY_METRIC)


def judge(cell: CellDoc, slos: tuple[Slo, ...], figures: TrialFigures, duration_s: float) -> list[Check]:
    """The predicates of one trial, from its cell document (with its SLO verdicts) and figures."""
    checks = [
        Check(f"slo {slo_text(slo)}", bool(v["pass"]), str(v.get("sentence", "")))
        for slo, v in zip(slos, cell["slo_verdicts"], strict=True)
    ]
    if figures.achieved_per_s is None or figures.sent == 0:
        checks.append(Check("send rate", False, "nothing was sent: no achieved send rate"))
    else:
        kept = figures.achieved_per_s / (figures.sent / duration_s)
        checks.append(
            Check(
                "send rate",
                kept >= SEND_RATE_RATIO,
                f"achieved {figures.achieved_per_s:,.1f} msg/s = {kept:.1%} of the same {figures.sent:,} sends on "
                f"time over {duration_s:g} s ({'>=' if kept >= SEND_RATE_RATIO else '<'} {SEND_RATE_RATIO:.0%}); "
                f"offered {figures.offered_per_s:,.1f} msg/s",
            )
        )
    reasons = [str(r) for r in cell["generator_health"]["generator_bound_reasons"]]
    crashed = user_error_sentence(cell)
    checks.append(
        Check(
            "generator",
            not figures.generator_bound and crashed is None,
            crashed
            if crashed is not None
            else "the generator kept up"
            if not figures.generator_bound
            else "the generator was saturated: " + "; ".join(reasons),
        )
    )
    broken = figures.connect_failures + figures.unexpected_closes
    checks.append(
        Check(
            CONNECTIONS_CHECK,
            broken == 0,
            f"{figures.connect_failures:,} connects failed, {figures.unexpected_closes:,} sockets closed unexpectedly",
        )
    )
    return checks


def _window(cell: CellDoc) -> tuple[int, int] | None:
    """The wall-clock seconds [first, last] in which messages were sent."""
    points = cell.get("timeseries", {}).get("points", [])
    seconds = [int(p["epoch_s"]) for p in points if int(p["sent"]) > 0]
    return (min(seconds), max(seconds)) if seconds else None


@dataclass(frozen=True, slots=True)
class _ServerFigures:
    cpu_percent: float | None
    rss_bytes: int | None
    fds: int | None
    processes: tuple[ProcessCpu, ...]


def _server_figures(
    processes: tuple[ServerProcess, ...], sampler_t0: float, window: tuple[int, int] | None
) -> _ServerFigures:
    """Mean added-up CPU over the send window, peak added-up RSS and fds, and each process's mean CPU over the
    window, from the sampler's samples."""

    def inside(t_s: float) -> bool:
        # A sample covers the interval before it: keep those that end inside the send window.
        return window is not None and window[0] + 1 <= sampler_t0 + t_s <= window[1] + 1

    by_time: dict[float, list[tuple[float, int, int]]] = {}
    for process in processes:
        for sample in process.samples:
            by_time.setdefault(sample.t_s, []).append((sample.cpu_percent, sample.rss_bytes, sample.num_fds))
    if not by_time:
        return _ServerFigures(None, None, None, ())
    rss = max(sum(s[1] for s in rows) for rows in by_time.values())
    fds = max(sum(s[2] for s in rows) for rows in by_time.values())
    sums = [sum(s[0] for s in rows) for t, rows in by_time.items() if inside(t)]
    each = []
    for process in processes:
        cpu = [sample.cpu_percent for sample in process.samples if inside(sample.t_s)]
        if cpu:
            each.append(ProcessCpu(process.name, process.pid, sum(cpu) / len(cpu)))
    each.sort(key=lambda p: -p.cpu_percent)
    return _ServerFigures(sum(sums) / len(sums) if sums else None, rss, fds, tuple(each))


def run_capacity_trial(
    scenario: Scenario,
    *,
    cell: Cell,
    url: str,
    credentials: Path | None,
    server_roots: dict[str, int],
    slos: tuple[Slo, ...],
    load: float,
    offered_per_s: float,
    step: int,
    phase: str,
    trial: int,
    out_dir: Path,
    run_id: str,
    processes: int = 0,
    progress: ProgressLine,
) -> TrialResult:
    """Run ``scenario`` (already at the trial's load, length and warm-up) once against ``url`` and judge it.

    A timeclock scenario starts its own stack for the trial (``url`` and ``server_roots`` are not used).

    Args:
        server_roots: server-side processes on this machine to sample (name -> pid); empty for a target the
            harness did not start, whose CPU and memory are then not reported.
        load: the load in the search's dimension (recorded, not applied: ``scenario`` is already at it).
        offered_per_s: the load's nominal send rate (messages per second, all senders).
    """
    started_at, t0 = time.time(), time.monotonic()
    run = CellRun(scenario, cell, 1, 1, out_dir, progress)
    with contextlib.ExitStack() as owned:
        stack = None
        if scenario.timeclock is not None:
            # The EKS path (emulator, gateway, kiosks) is started per trial with a stack of its own, sized for
            # the trial's readers: a clean database and layer every time.
            stack = owned.enter_context(Stack(stack_config(scenario, cell), run.directory / "stack"))
            server_roots = stack_roots(stack, cell)
        sampler = ResourceSampler(server_roots, interval_s=0.5).start() if server_roots else None
        sampler_t0 = time.time()
        machine_before = machine_cpu()
        try:
            if stack is not None:
                assert sampler is not None  # a stack of ours has processes to sample
                measurements = run_timeclock_cell(run, stack=stack, drain_s=scenario.grace_s, sampler=sampler)
            else:
                target = GeneratorTarget(
                    url,
                    credentials,
                    processes,
                    f"{run_id}-{step}-{trial}",
                    aligned=True,
                    lag_limit_ms=lag_limit_ms(slos),
                )
                measurements = run_locust_cell(run, target)
        finally:
            if sampler is not None:
                sampler.stop()
    wall = time.monotonic() - t0
    machine_after = machine_cpu()
    doc = build_cell(measurements, slos)
    window = _window(doc)
    server = _server_figures(sampler.processes() if sampler else (), sampler_t0, window)
    metric = judged_metric(slos)
    latency = doc["metrics"].get(metric)
    connect = doc["metrics"].get("connect")
    sent = sum(int(p["sent"]) for p in doc.get("timeseries", {}).get("points", []))
    lag = doc["generator_health"]["send_lag"]
    lag_max_s = float(lag["max"]) / 1e6 if int(lag["count"]) else None
    delivery = doc["delivery"]
    expected = int(delivery["expected"])
    health = doc["generator_health"]
    steal = None
    if machine_before is not None and machine_after is not None:
        steal = machine_after.steal_percent_since(machine_before)
    timed = latency is not None and int(latency["count"]) > 0
    beyond = int(latency["out_of_range"]) if latency is not None else 0
    figures = TrialFigures(
        metric=metric,
        p50_us=float(latency["p50"]) if latency and timed else None,
        p99_us=float(latency["p99"]) if latency and timed else None,
        max_us=float(latency["max_out_of_range"] if beyond else latency["max"]) if latency and timed else None,
        sent=sent,
        offered_per_s=offered_per_s,
        achieved_per_s=sent / (scenario.duration_s + lag_max_s) if sent and lag_max_s is not None else None,
        deliveries_per_s=int(delivery["received"]) / scenario.duration_s,
        expected=expected,
        lost=int(delivery["lost"]),
        duplicated=int(delivery["duplicated"]),
        loss_ratio=int(delivery["lost"]) / expected if expected else None,
        connect_failures=measurements.connect_failures.total,
        unexpected_closes=sum(int(n) for n in doc["unexpected_closes"].values()),
        server_cpu_percent=server.cpu_percent,
        server_rss_bytes=server.rss_bytes,
        server_fds=server.fds,
        generator_cpu_percent=max((float(p["cpu_percent"]["mean"]) for p in health["processes"]), default=None),
        generator_cpu_total_percent=sum(float(p["cpu_percent"]["mean"]) for p in health["processes"])
        if health["processes"]
        else None,
        generator_bound=bool(health["generator_bound"]),
        steal_percent=steal,
        server_processes=server.processes,
        opened_per_s=scenario.load.spawn_rate if scenario.timeclock is None else None,
        connect_p99_us=float(connect["p99"]) if connect and int(connect["count"]) else None,
    )
    checks = judge(doc, slos, figures, scenario.duration_s)
    # The time in flight is the service time: a timeclock punch's is its insert -> kiosk time.
    service = doc["metrics"].get("service_time") or doc["metrics"].get("eks_insert_to_kiosk")
    little = little_check(
        [(int(p["epoch_s"]), int(p["sent"]), int(p["received"])) for p in doc.get("timeseries", {}).get("points", [])],
        window_s=scenario.duration_s,
        deliveries_per_send=expected / sent if sent else 0.0,
        latency_mean_s=float(service["mean"]) / 1e6 if service and int(service["count"]) else None,
    )
    notes = [f"Little's law: {little.sentence}"] if little.flagged else []
    if beyond:
        # The objective is judged with them (harness.results.slo); the table's p50 and p99 leave them out.
        notes.append(f"{beyond:,} {metric} samples beyond the histogram's range: p50 and p99 shown without them")
    return TrialResult(
        step=step,
        load=load,
        phase=phase,
        trial=trial,
        duration_s=scenario.duration_s,
        started_at=started_at,
        wall_s=wall,
        passed=all(c.passed for c in checks),
        checks=tuple(checks),
        figures=figures,
        directory=str(run.directory),
        little=little,
        notes=tuple(notes),
    )
