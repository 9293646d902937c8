"""Planning a run: the matrix cells, the generator runs of a cell, the load shape and the stack each cell needs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness.report.progress import ProgressLine
from harness.scenario import SCENARIO_KINDS, Scenario
from harness.stack import StackConfig, StackError
from harness.stack.layers import layer_spec
from harness.stack.network import find_free_port_range

__all__ = [
    "GENERATOR_KIND",
    "TIMECLOCK",
    "Cell",
    "CellRun",
    "GeneratorTarget",
    "UnsupportedScenario",
    "plan_cells",
    "stack_config",
]

#: Scenario kind -> the Locust generator's kind, for the kinds Locust drives (from the one table of kinds).
GENERATOR_KIND: Final[Mapping[str, str]] = {
    kind: spec.generator for kind, spec in SCENARIO_KINDS.items() if spec.generator is not None
}

#: The timeclock kind is driven by the EKS path in this process (emulator, gateway, kiosk sockets), not by Locust.
TIMECLOCK: Final = "timeclock"


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
class CellRun:
    """One cell of a run, as every cell runner gets it."""

    scenario: Scenario
    cell: Cell
    #: 1-based position in the run, and the run's cell count.
    index: int
    count: int
    #: The run directory; the cell writes under :attr:`directory`.
    run_dir: Path
    progress: ProgressLine

    @property
    def directory(self) -> Path:
        """``cell-NN-<server>-<layer>-<W>w/`` in the run directory."""
        c = self.cell
        return self.run_dir / f"cell-{self.index:02d}-{c.server}-{c.layer}-{c.workers}w"


@dataclass(frozen=True)
class GeneratorTarget:
    """Where and how the Locust generator loads a cell: the run's own stack (``url`` None) or ``--target``."""

    url: str | None
    credentials: Path | None
    processes: int
    run_id: str
    #: Every user sends over the same window, from the scenario's warm-up after the settle barrier's release (all
    #: connected, joins quiet; harness.load.settle), or after the last user was spawned for kinds that cannot wait
    #: there (the capacity search's trials); otherwise each user's warm-up counts from its own connect. A fan-out
    #: scenario's runs always count it from the settle barrier.
    aligned: bool = False
    #: The generator counts as saturated above this send-lag p99 (ms); None keeps its default (docs/generator.md).
    lag_limit_ms: float | None = None


def plan_cells(scenario: Scenario, target: str | None) -> list[Cell]:
    if target is not None:
        if scenario.kind == TIMECLOCK:
            raise UnsupportedScenario(
                f"scenario {scenario.name!r} drives EKS readers through the gateway of a stack it starts; "
                "it cannot run against --target"
            )
        if not scenario.generic and scenario.kind not in GENERATOR_KIND:
            raise UnsupportedScenario(f"scenario {scenario.name!r} ({scenario.kind}) cannot run against --target")
        if scenario.soak is not None:
            raise UnsupportedScenario(
                f"scenario {scenario.name!r} has [soak], which samples the processes and the Redis of a stack the "
                "harness starts; run it without --target"
            )
        if stack_faults := [f.label for f in scenario.faults if f.needs_stack]:
            raise UnsupportedScenario(
                f"scenario {scenario.name!r}: the fault window(s) {'; '.join(stack_faults)} act on the processes of "
                "a stack the harness starts (its Redis, worker, gateway); against --target only toxics on the "
                "client path can run"
            )
        return [Cell("external", "external", 1)]
    if scenario.app is not None:
        raise UnsupportedScenario(
            f"scenario {scenario.name!r} measures your own app: give its base URL with --target ws://host:port "
            f"([app].path {scenario.app.path!r} is appended to it)"
        )
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


def stack_config(scenario: Scenario, cell: Cell) -> StackConfig:
    """The reference-app stack one cell of ``scenario`` runs against: demo users, rooms and employees for its load
    (a timeclock scenario: a terminal per reader, their readers on a block of free ports, an employee per badge
    event).

    Raises:
        StackError: a timeclock scenario on a layer that lives inside one process.
    """
    if scenario.timeclock is not None:
        tc = scenario.timeclock
        if not layer_spec(cell.layer).shared_across_processes:
            raise StackError(
                f"--layer {cell.layer} lives inside one server process, but a timeclock's punches go from the EKS "
                "gateway to the timeclock worker, processes of their own: use --layer redis or redis-pubsub"
            )
        return StackConfig(
            server=cell.server,
            layer=cell.layer,
            workers=cell.workers,
            seed=scenario.seed,
            users=2,
            rooms=1,
            employees=tc.readers * tc.inserts,
            terminals=tc.readers,
            reader_base_port=find_free_port_range(tc.readers, seed=scenario.seed),
            startup_timeout=120,
            redis_proxy=_redis_path_faults(scenario),
        )
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
        redis_proxy=_redis_path_faults(scenario),
    )


def _redis_path_faults(scenario: Scenario) -> bool:
    return any(f.kind == "toxic" and f.target == "redis" for f in scenario.faults)
