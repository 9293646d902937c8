"""Running a capacity search: the search's next load, one trial at that load, its verdict back, until it ends.

Each trial starts from a clean server when the harness owns it: the servers are restarted (and a private Redis
flushed) before every trial, because a trial past capacity leaves a backlog (queued messages, half-served sockets)
that would otherwise be charged to the next, lower load. A ``--target`` cannot be restarted; after a failed trial
the search waits ``settle_s`` for the target to drain, and the document says so.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from harness.capacity.dimensions import Dimension, offered_rate
from harness.capacity.opening import Opening
from harness.capacity.search import Search, SearchPlan, Step
from harness.capacity.trial import CONNECTIONS_CHECK, SETTLE_S, TrialResult, run_capacity_trial
from harness.report.progress import ProgressLine, format_duration
from harness.results.format import format_ms
from harness.run.plan import Cell
from harness.scenario import Scenario, Slo

__all__ = ["CapacityRun", "SearchAborted", "Server", "run_search", "scenario_at"]


class SearchAborted(RuntimeError):
    """The search cannot mean anything: not one connection of a trial could be opened (the message says where)."""


@dataclass
class Server:
    """Where the trials go, and what can be done to it between trials.

    Attributes:
        url: the WebSocket URL (a stack's ``ws://host:port`` or a ``--target``).
        credentials: the reference app's credentials file, for kinds that log in.
        roots: server-side processes to sample (name -> pid), refreshed by ``restart``.
        restart: starts fresh server processes before a trial; None for a target the harness did not start.
        stack_per_trial: every trial starts a whole stack of its own (timeclock: sized for the trial's readers);
            ``url``, ``roots`` and ``restart`` are then unused.
    """

    url: str
    credentials: Path | None
    roots: dict[str, int]
    restart: Callable[[], dict[str, int]] | None = None
    stack_per_trial: bool = False


@dataclass
class CapacityRun:
    search: Search
    dimension: Dimension
    run_id: str
    trials: list[TrialResult] = field(default_factory=list)
    restarts: int = 0
    settles: int = 0
    wall_s: float = 0.0
    #: Trials whose connects failed, each run again opening more slowly: not judged, kept.
    reopened: list[TrialResult] = field(default_factory=list)
    opening: Opening | None = None


def scenario_at(scenario: Scenario, dimension: Dimension, load: float, *, duration_s: float) -> Scenario:
    """The scenario of one trial: ``load`` in ``dimension``, a constant shape for ``duration_s``, and a warm-up that
    opens every connection at the scenario's spawn rate and lets its joins settle before the first send (the trial
    runs with :attr:`GeneratorTarget.aligned`: the warm-up counts from the settle barrier's release, once every
    connection is open and no join has been read for a second, and every user then sends over the same window).

    A timeclock scenario's burst becomes the window: each reader keeps the scenario's badge rate (``inserts /
    burst_s``), and the window is stretched or shrunk to the nearest whole number of events per reader, so the
    offered rate is the scenario's exactly (kiosks and readers are connected before the burst begins).
    """
    at = dimension.apply(scenario, load)
    if at.timeclock is not None:
        per_reader_s = at.timeclock.inserts / at.timeclock.burst_s
        inserts = max(1, round(per_reader_s * duration_s))
        duration_s = inserts / per_reader_s
        at = dataclasses.replace(at, timeclock=dataclasses.replace(at.timeclock, inserts=inserts, burst_s=duration_s))
    return dataclasses.replace(
        at,
        duration_s=duration_s,
        warmup_s=SETTLE_S,
        grace_s=max(2.0, min(at.grace_s, 5.0)),
        load=dataclasses.replace(at.load, shape="constant", stages=()),
    )


def _connections(scenario: Scenario) -> int:
    """The connections a trial opens: the users' sockets, or a timeclock's readers (and their kiosks)."""
    return scenario.timeclock.readers if scenario.timeclock is not None else scenario.load.users


def _describe(trial: TrialResult, dimension: Dimension) -> str:
    f = trial.figures
    latency = "no latency" if f.p99_us is None else f"{f.metric} p99 {format_ms(f.p99_us)} ms"
    loss = "loss –" if f.loss_ratio is None else f"loss {f.loss_ratio:.2%}"
    cpu = "" if f.server_cpu_percent is None else f", server CPU {f.server_cpu_percent:.0f} %"
    head = f"{dimension.format(trial.load)}: {'PASS' if trial.passed else 'FAIL'} ({latency}, {loss}{cpu})"
    if trial.passed:
        return head
    return head + " — " + "; ".join(c.sentence for c in trial.failed_checks)


def _eta(search: Search, run: CapacityRun) -> str:
    low, high = search.loads_left()
    if not run.trials:
        return f"{low}–{high if high is not None else '?'} more loads"
    per_trial = sum(t.wall_s for t in run.trials) / len(run.trials)
    per_load = per_trial * (search.plan.majority if search.plan.trials > 1 else 1)
    if high is None:
        return f"at least {low} more loads (≥ {format_duration(low * per_load)})"
    span = f"{low}" if low == high else f"{low}–{high}"
    time_span = format_duration(low * per_load) + ("" if low == high else f"–{format_duration(high * per_load)}")
    return f"{span} more loads, about {time_span} left"


def run_search(
    scenario: Scenario,
    dimension: Dimension,
    plan: SearchPlan,
    *,
    slos: tuple[Slo, ...],
    server: Server,
    cell: Cell,
    trial_s: float,
    confirm_factor: float,
    out_dir: Path,
    processes: int = 0,
    settle_s: float = 5.0,
    adaptive_opening: bool = True,
    stream: TextIO,
) -> CapacityRun:
    """Search ``dimension`` of ``scenario`` until the search ends; every trial is kept in the returned run.

    ``adaptive_opening``: open a trial's connections at the rate the server takes them, from the scenario's
    spawn rate, and run a trial whose connects failed again more slowly (:mod:`harness.capacity.opening`); a
    timeclock trial opens its own way.
    """
    search = Search(plan)
    run = CapacityRun(search, dimension, uuid.uuid4().hex[:12])
    opening = run.opening = Opening(scenario.load.spawn_rate, adaptive_opening and scenario.timeclock is None)
    progress = ProgressLine(stream)
    opened_any = False  # whether any trial of this search has opened a connection

    def trial(step: Step, *, again: int = 0) -> TrialResult:
        nonlocal opened_any
        number = len(search.verdicts) + 1
        duration = trial_s * (confirm_factor if step.confirmation else 1.0)
        at = scenario_at(scenario, dimension, step.load, duration_s=duration)
        opened_at = opening.rate
        at = dataclasses.replace(at, load=dataclasses.replace(at.load, spawn_rate=opened_at))
        trial_of = "confirmation trial" if step.confirmation else f"trial {step.trial} of ≤{plan.trials}"
        faster = f", opened at {opened_at:,.0f}/s" if opened_at != opening.base or again else ""
        again_text = ", again" if again else ""
        suffix = f"-again{again}" if again else ""  # each run its own directory: nothing of the others overwritten
        print(
            f"[capacity] load {number} ({step.phase.value}): {dimension.format(step.load)}, {trial_of}, "
            f"{duration:g} s{faster}{again_text}; {_eta(search, run)}",
            file=stream,
            flush=True,
        )
        # The trial this one follows: a re-run follows the run it repeats.
        previous = run.reopened[-1] if again else run.trials[-1] if run.trials else None
        if server.stack_per_trial:
            run.restarts += 1
        elif server.restart is not None:
            server.roots = server.restart()
            run.restarts += 1
        elif previous is not None and not previous.passed:
            time.sleep(settle_s)
            run.settles += 1
        result = run_capacity_trial(
            at,
            cell=cell,
            url=server.url,
            credentials=server.credentials,
            server_roots=server.roots,
            slos=slos,
            load=step.load,
            offered_per_s=offered_rate(at),
            step=number,
            phase=step.phase.value,
            trial=step.trial,
            out_dir=out_dir / "trials" / f"load-{number:02d}-{step.phase.value}-{step.trial}{suffix}",
            run_id=run.run_id,
            processes=processes,
            progress=progress,
        )
        progress.close()
        print(f"[capacity]   {_describe(result, dimension)}", file=stream, flush=True)
        f = result.figures
        opened_any = opened_any or f.connect_failures < _connections(at)
        if not opened_any and f.deliveries_per_s == 0:
            # Nothing of a smaller load would connect either: stop rather than descend through every load. Once a
            # trial has opened sockets the URL is right, and a trial that opens none is the server's (or the
            # generator's) failure at that load, judged like any other.
            raise SearchAborted(
                f"not one of the {_connections(at):,} connections to {server.url or 'the stack'} could be opened "
                f"({f.connect_failures:,} connect failures; the generator's log is in {result.directory}): "
                "is the URL right and the server up?"
            )
        connect = f.connect_p99_us / 1000 if f.connect_p99_us is not None else None
        others_held = all(c.passed for c in result.checks if c.name != CONNECTIONS_CHECK)
        if opening.after(
            opened_at=opened_at,
            connections=_connections(at),
            connect_failures=f.connect_failures,
            connect_p99_ms=connect,
            others_held=others_held,
        ):
            run.reopened.append(result)
            print(
                f"[capacity]   {f.connect_failures:,} connects failed while opening at {opened_at:,.0f}/s: the trial "
                f"runs again at {opening.rate:,.0f}/s, the fastest the search opens from now on",
                file=stream,
                flush=True,
            )
            return trial(step, again=again + 1)
        return result

    t0 = time.monotonic()
    try:
        while (step := search.next_step()) is not None:
            run.trials.append(trial(step))
            search.record(run.trials[-1].passed)
    finally:
        progress.close()
        run.wall_s = time.monotonic() - t0
    return run
