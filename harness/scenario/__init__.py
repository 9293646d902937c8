"""Declarative load scenarios: ``scenarios/*.toml`` parsed into frozen dataclasses.

A scenario says *what* load to offer (shape, rates, sizes, seed, duration), on which matrix of servers, channel layers
and worker counts, and which service-level objectives decide pass or fail. The format is documented key by key in
docs/scenarios.md.

Validation is strict because a typo in a load file silently changes what is measured: every error names the file,
the key and the expected form, e.g. ``scenarios/x.toml: [load].rate: expected a number > 0, got "fast"``, and
unknown keys are refused with the list of accepted ones. Indexes in ``[[slos]][0]`` and ``[[load.stages]][0]``
count from 0.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, cast, get_args

from harness.measure.latency import KNOWN_METRICS
from harness.measure.soak import SoakSettings
from harness.scenario.app import AppProtocol, parse_app
from harness.scenario.checker import ScenarioError, _Checker, _opt, _show
from harness.scenario.faults import FaultSpec, parse_faults
from harness.scenario.gate import GateTable, parse_gate
from harness.scenario.overrides import Override, apply_overrides
from harness.stack.layers import LAYERS
from harness.stack.servers import SERVERS

__all__ = [
    "ARRIVALS",
    "GateTable",
    "KINDS",
    "SCENARIO_KINDS",
    "KindSpec",
    "SCENARIO_DIR",
    "SHAPES",
    "STATISTICS",
    "Arrival",
    "Kind",
    "LatencySlo",
    "Load",
    "LossSlo",
    "Matrix",
    "Scenario",
    "ScenarioError",
    "Shape",
    "Slo",
    "Stage",
    "Statistic",
    "ThroughputSlo",
    "Timeclock",
    "available_scenarios",
    "load_any",
    "load_named",
    "load_scenario",
    "parse_scenario",
]

Kind = Literal["chat", "fanout", "notifications", "timeclock", "connect-storm", "echo", "broadcast", "app"]
Arrival = Literal["constant", "poisson"]
Shape = Literal["constant", "ramp", "steps"]
Statistic = Literal["p50", "p90", "p99", "p99_9", "max"]

KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
ARRIVALS: Final[tuple[Arrival, ...]] = get_args(Arrival)
SHAPES: Final[tuple[Shape, ...]] = get_args(Shape)
STATISTICS: Final[tuple[Statistic, ...]] = get_args(Statistic)

#: Connections opened per second when ``[load].spawn_rate`` is not given.
DEFAULT_SPAWN_RATE: Final = 50.0

_PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent.parent
SCENARIO_DIR: Final = _PROJECT_ROOT / "scenarios"

# Scenario names become directory names (reports/<timestamp>-<name>/) and HTML text, so keep them to a safe alphabet.
_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True, slots=True)
class KindSpec:
    """What a scenario kind takes in ``[load]`` and how ``harness run`` drives it.

    Attributes:
        rate: ``[load].rate`` is ``required``, ``optional`` or ``refused``.
        room_size: ``[load].room_size`` is ``required``, ``optional`` or ``refused``.
        group_sizes: ``[load].group_sizes`` is required (and refused for other kinds).
        cross_connection: messages travel between connections through the channel layer, so an in-process layer
            with several server workers would keep members on different workers apart.
        generic: runs against any server given with ``--target`` and may set ``generic = true`` (echo and
            broadcast: a plain echo or broadcast server; app: the user's own app, always generic).
        generator: the Locust generator's ``--harness-kind`` that drives it; None when ``harness run`` drives it
            itself (timeclock: EKS readers, gateway and kiosk sockets).
        reconnect: ``[load].reconnect`` is accepted (one socket per user in one generator run).
    """

    rate: Literal["required", "optional", "refused"]
    room_size: Literal["required", "optional", "refused"] = "refused"
    group_sizes: bool = False
    cross_connection: bool = False
    generic: bool = False
    generator: str | None = None
    reconnect: bool = False


#: The one table of scenario kinds.
SCENARIO_KINDS: Final[Mapping[Kind, KindSpec]] = {
    "chat": KindSpec("required", room_size="required", cross_connection=True, generator="chat", reconnect=True),
    "fanout": KindSpec("required", group_sizes=True, cross_connection=True, generator="chat"),
    "notifications": KindSpec("required", cross_connection=True, generator="notifications"),
    "timeclock": KindSpec("refused", cross_connection=True),
    "connect-storm": KindSpec("optional", generator="connect-storm"),
    "echo": KindSpec("required", generic=True, generator="echo", reconnect=True),
    "broadcast": KindSpec("required", cross_connection=True, generic=True, generator="broadcast", reconnect=True),
    "app": KindSpec("required", room_size="optional", cross_connection=True, generic=True, generator="app"),
}


@dataclass(frozen=True, slots=True)
class Matrix:
    """The cells a scenario runs in: every server × layer × worker count.

    Attributes:
        servers: names from ``harness.stack.servers.SERVERS``.
        layers: names from ``harness.stack.layers.LAYERS``.
        workers: server worker process counts, each >= 1.
    """

    servers: tuple[str, ...] = ("daphne", "uvicorn")
    layers: tuple[str, ...] = ("inmemory",)
    workers: tuple[int, ...] = (1,)

    def cells(self) -> list[tuple[str, str, int]]:
        """Return ``(server, layer, workers)`` for every cell, in run order."""
        return [(s, la, w) for s in self.servers for la in self.layers for w in self.workers]


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage of a ``ramp`` or ``steps`` load shape.

    For ``steps`` the values hold for ``duration_s``; for ``ramp`` they are reached linearly at the end of the stage,
    starting from the previous stage (or from ``[load]`` for the first one).
    """

    duration_s: float
    users: int
    rate: float | None = None


@dataclass(frozen=True, slots=True)
class Load:
    """The offered load.

    Attributes:
        users: WebSocket connections (chat members, group members, kiosks, ...).
        spawn_rate: connections opened per second while starting.
        arrival: message send times: evenly spaced (``constant``) or ``poisson`` with the scenario seed.
        rate: messages per second per user (per publisher for ``fanout``); None where the kind has no rate.
        payload_bytes: size every message is padded to.
        shape: ``constant``, or ``ramp``/``steps`` through :attr:`stages`.
        stages: the stages of a ``ramp`` or ``steps`` shape; empty for ``constant``.
        room_size: chat only: users per room; every member receives every message of its room (N:N).
        group_sizes: fanout only: members of each group; one publisher per group.
        reconnect: chat, echo and broadcast: a user whose socket closes connects again with jittered backoff, as
            a page would, and is owed what was sent while it was a member (docs/reliability.md).
    """

    users: int
    spawn_rate: float
    arrival: Arrival = "constant"
    rate: float | None = None
    payload_bytes: int = 256
    shape: Shape = "constant"
    stages: tuple[Stage, ...] = ()
    room_size: int | None = None
    group_sizes: tuple[int, ...] = ()
    reconnect: bool = False


@dataclass(frozen=True, slots=True)
class Timeclock:
    """Timeclock shift change: EKS readers insert badge events through the gateway in a burst.

    Attributes:
        readers: emulated EKS readers.
        inserts: badge events per reader during the burst.
        burst_s: length of the burst in seconds, from the end of the warm-up.
    """

    readers: int
    inserts: int
    burst_s: float


@dataclass(frozen=True, slots=True)
class LatencySlo:
    """``statistic`` of latency ``metric`` must be <= ``limit_ms``."""

    metric: str
    statistic: Statistic
    limit_ms: float


@dataclass(frozen=True, slots=True)
class LossSlo:
    """Lost deliveries / expected deliveries must be <= ``max_lost_ratio`` (0 = no loss allowed)."""

    max_lost_ratio: float


@dataclass(frozen=True, slots=True)
class ThroughputSlo:
    """Messages received per second of the measurement window must be >= ``min_msgs_per_s``."""

    min_msgs_per_s: float


Slo = LatencySlo | LossSlo | ThroughputSlo


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario file, validated.

    Attributes:
        name: short name, ``[a-z0-9-]``; used in report directory names.
        description: one or two sentences for humans.
        kind: what the clients do (see docs/scenarios.md for each kind).
        generic: True if the scenario only needs a plain echo/broadcast WebSocket server and so runs against any
            server given with ``--target``.
        duration_s: measurement window in seconds (warm-up and grace excluded).
        warmup_s: seconds of load before measuring starts, discarded.
        grace_s: seconds to wait after the last send before counting losses.
        seed: seed for Poisson arrivals and every other random choice, so a run can be repeated.
        matrix: servers × layers × workers to run.
        load: offered load.
        slos: objectives checked per cell.
        timeclock: the shift-change burst, for kind ``timeclock`` only.
        gate: how ``harness gate`` runs and judges it (its defaults when the file has no ``[gate]`` table).
        app: kind ``app`` only: the user's own app's protocol (``[app]``).
        faults: fault windows (``[[faults]]``, docs/faults.md).
        soak: judge the server side flat, not merely bounded, early against late (``[soak]``, docs/reliability.md).
        source: the file the scenario was read from, or None.
        overrides: the command-line overrides applied to the file, as ``KEY=VALUE`` in order
            (harness.scenario.overrides).
    """

    name: str
    description: str
    kind: Kind
    generic: bool
    duration_s: float
    seed: int
    load: Load
    warmup_s: float = 2.0
    grace_s: float = 2.0
    matrix: Matrix = field(default_factory=Matrix)
    slos: tuple[Slo, ...] = ()
    timeclock: Timeclock | None = None
    gate: GateTable = field(default_factory=GateTable)
    app: AppProtocol | None = None
    faults: tuple[FaultSpec, ...] = ()
    soak: SoakSettings | None = None
    source: str | None = None
    overrides: tuple[str, ...] = ()

    @property
    def total_s(self) -> float:
        """Seconds of load per cell: warm-up + measurement + grace (server start-up not included)."""
        return self.warmup_s + self.duration_s + self.grace_s

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict of the resolved scenario, for the ``config`` of result.json."""
        data = asdict(self)
        data["total_s"] = self.total_s
        return data


def _matrix(c: _Checker, raw: Any) -> Matrix:
    t = c.table(raw, "[matrix]")
    c.keys(t, "[matrix]", (), ("servers", "layers", "workers"))
    default = Matrix()

    def names(key: str, known: Sequence[str]) -> tuple[str, ...]:
        items = c.array(t[key], f"[matrix].{key}", "names")
        return tuple(c.choice(v, f"[matrix].{key}[{i}]", known) for i, v in enumerate(items))

    servers = names("servers", sorted(SERVERS)) if "servers" in t else default.servers
    layers = names("layers", sorted(LAYERS)) if "layers" in t else default.layers
    if "workers" in t:
        items = c.array(t["workers"], "[matrix].workers", "integers >= 1")
        workers = tuple(c.integer(v, f"[matrix].workers[{i}]", minimum=1) for i, v in enumerate(items))
    else:
        workers = default.workers
    for key, values in (("servers", servers), ("layers", layers), ("workers", workers)):
        if len(set(values)) != len(values):
            raise c.expected(f"[matrix].{key}", "distinct values", list(values))
    return Matrix(servers, layers, workers)


def _stages(c: _Checker, raw: Any, *, has_rate: bool) -> tuple[Stage, ...]:
    items = c.array(raw, "[[load.stages]]", "tables")
    stages = []
    for i, item in enumerate(items):
        prefix = f"[[load.stages]][{i}]"
        t = c.table(item, prefix)
        c.keys(t, prefix, ("duration_s", "users", *(("rate",) if has_rate else ())), ())
        stages.append(
            Stage(
                duration_s=c.number(t["duration_s"], f"{prefix}.duration_s", minimum=0, inclusive=False),
                users=c.integer(t["users"], f"{prefix}.users", minimum=1),
                rate=c.number(t["rate"], f"{prefix}.rate", minimum=0, inclusive=False) if has_rate else None,
            )
        )
    return tuple(stages)


def _load(c: _Checker, raw: Any, kind: Kind) -> Load:
    t = c.table(raw, "[load]")
    spec = SCENARIO_KINDS[kind]
    required = ["users"]
    # The app kind's message is its [app.send] template, not a padded envelope.
    optional = ["spawn_rate", "arrival", "shape", "stages", *(() if kind == "app" else ("payload_bytes",))]
    if spec.rate == "required":
        required.append("rate")
    elif spec.rate == "optional":
        optional.append("rate")
    if spec.room_size == "required":
        required.append("room_size")
    elif spec.room_size == "optional":
        optional.append("room_size")
    if spec.group_sizes:
        required.append("group_sizes")
    if spec.reconnect:
        optional.append("reconnect")
    c.keys(t, "[load]", required, optional)

    users = c.integer(t["users"], "[load].users", minimum=1)
    shape = cast(Shape, _opt(t, "shape", "constant", lambda v: c.choice(v, "[load].shape", SHAPES)))
    rate = _opt(t, "rate", None, lambda v: c.number(v, "[load].rate", minimum=0, inclusive=False))
    if shape == "constant":
        if "stages" in t:
            raise c.fail("[[load.stages]]", 'stages need shape = "ramp" or "steps"; shape is "constant"')
        stages: tuple[Stage, ...] = ()
    else:
        if "stages" not in t:
            raise c.fail("[[load.stages]]", f'missing; shape = "{shape}" needs at least one stage')
        stages = _stages(c, t["stages"], has_rate=rate is not None)

    room_size = None
    if "room_size" in t:
        room_size = c.integer(t["room_size"], "[load].room_size", minimum=2)
        if room_size > users:
            raise c.fail("[load].room_size", f"room_size {room_size} is larger than users {users}")
    group_sizes: tuple[int, ...] = ()
    if "group_sizes" in t:
        items = c.array(t["group_sizes"], "[load].group_sizes", "integers >= 1")
        group_sizes = tuple(c.integer(v, f"[load].group_sizes[{i}]", minimum=1) for i, v in enumerate(items))
        if sum(group_sizes) > users:
            raise c.fail(
                "[load].group_sizes",
                f"the groups need {sum(group_sizes)} member connections but users is {users}",
            )
    return Load(
        users=users,
        spawn_rate=_opt(
            t, "spawn_rate", DEFAULT_SPAWN_RATE, lambda v: c.number(v, "[load].spawn_rate", minimum=0, inclusive=False)
        ),
        arrival=cast(Arrival, _opt(t, "arrival", "constant", lambda v: c.choice(v, "[load].arrival", ARRIVALS))),
        rate=rate,
        payload_bytes=_opt(t, "payload_bytes", 256, lambda v: c.integer(v, "[load].payload_bytes", minimum=64)),
        shape=shape,
        stages=stages,
        room_size=room_size,
        group_sizes=group_sizes,
        reconnect=_opt(t, "reconnect", False, lambda v: c.boolean(v, "[load].reconnect")),
    )


def _slos(c: _Checker, raw: Any) -> tuple[Slo, ...]:
    if not isinstance(raw, list):
        raise c.expected("[[slos]]", "an array of tables", raw)
    slos: list[Slo] = []
    for i, item in enumerate(raw):
        prefix = f"[[slos]][{i}]"
        t = c.table(item, prefix)
        if "limit_ms" in t or "metric" in t or "statistic" in t:
            c.keys(t, prefix, ("metric", "statistic", "limit_ms"), ())
            slos.append(
                LatencySlo(
                    metric=c.choice(t["metric"], f"{prefix}.metric", KNOWN_METRICS),
                    statistic=cast(Statistic, c.choice(t["statistic"], f"{prefix}.statistic", STATISTICS)),
                    limit_ms=c.number(t["limit_ms"], f"{prefix}.limit_ms", minimum=0, inclusive=False),
                )
            )
        elif "max_lost_ratio" in t:
            c.keys(t, prefix, ("max_lost_ratio",), ())
            ratio = c.number(t["max_lost_ratio"], f"{prefix}.max_lost_ratio", minimum=0, inclusive=True)
            if ratio >= 1:
                raise c.expected(f"{prefix}.max_lost_ratio", "a ratio in [0, 1)", t["max_lost_ratio"])
            slos.append(LossSlo(ratio))
        elif "min_msgs_per_s" in t:
            c.keys(t, prefix, ("min_msgs_per_s",), ())
            slos.append(
                ThroughputSlo(c.number(t["min_msgs_per_s"], f"{prefix}.min_msgs_per_s", minimum=0, inclusive=False))
            )
        else:
            raise c.fail(
                prefix,
                "expected one objective: metric + statistic + limit_ms, or max_lost_ratio, or min_msgs_per_s; "
                f"got keys {', '.join(sorted(t)) or '(none)'}",
            )
    return tuple(slos)


def _soak(c: _Checker, raw: Any, span_s: float) -> SoakSettings:
    t = c.table(raw, "[soak]")
    c.keys(t, "[soak]", (), ("settle_s", "window_s", "max_growth", "max_latency_growth"))
    # Longer than the layers' 60 s message expiry: what the start-up queued has expired before the early window.
    settle_s = c.number(t["settle_s"], "[soak].settle_s", minimum=0, inclusive=True) if "settle_s" in t else 120.0
    window_s = c.number(t["window_s"], "[soak].window_s", minimum=0, inclusive=False) if "window_s" in t else 300.0
    growth = c.number(t["max_growth"], "[soak].max_growth", minimum=0, inclusive=True) if "max_growth" in t else 0.05
    latency = (
        c.number(t["max_latency_growth"], "[soak].max_latency_growth", minimum=0, inclusive=True)
        if "max_latency_growth" in t
        else 0.25
    )
    settings = SoakSettings(settle_s, window_s, growth, latency)
    try:
        settings.check(span_s)
    except ValueError as exc:
        raise c.fail("[soak]", str(exc).removeprefix("[soak]: ")) from None
    return settings


def _timeclock(c: _Checker, raw: Any) -> Timeclock:
    t = c.table(raw, "[timeclock]")
    c.keys(t, "[timeclock]", ("readers", "inserts", "burst_s"), ())
    return Timeclock(
        readers=c.integer(t["readers"], "[timeclock].readers", minimum=1),
        inserts=c.integer(t["inserts"], "[timeclock].inserts", minimum=1),
        burst_s=c.number(t["burst_s"], "[timeclock].burst_s", minimum=0, inclusive=False),
    )


_TOP_REQUIRED: Final = ("name", "description", "kind", "duration_s", "seed", "load")
_TOP_OPTIONAL: Final = (
    "generic", "warmup_s", "grace_s", "matrix", "slos", "timeclock", "gate", "app", "faults", "soak",
)  # fmt: skip


def parse_scenario(
    data: Mapping[str, Any], *, where: str = "<scenario>", source: str | None = None, directory: Path | None = None
) -> Scenario:
    """Validate an already-parsed TOML document and return the :class:`Scenario`.

    Args:
        data: the TOML document as a dict.
        where: how to name the document in error messages (normally its path).
        source: recorded in :attr:`Scenario.source`.
        directory: the file's directory, where an ``[app].adapter`` module is looked for first.

    Raises:
        ScenarioError: naming ``where``, the key and the expected form, on the first problem found.
    """
    c = _Checker(where)
    c.keys(data, "", _TOP_REQUIRED, _TOP_OPTIONAL)
    name = c.string(data["name"], "name", pattern=_NAME_RE, form="a name of a-z, 0-9 and '-' (at most 63)")
    kind = cast(Kind, c.choice(data["kind"], "kind", KINDS))
    generic = _opt(data, "generic", False, lambda v: c.boolean(v, "generic"))
    if generic and not SCENARIO_KINDS[kind].generic:
        *others, last = (k for k, spec in SCENARIO_KINDS.items() if spec.generic)
        generic_kinds = f"{', '.join(others)} and {last}"
        raise c.fail("generic", f"only kinds {generic_kinds} work against any server; kind is {kind}")
    duration_s = c.number(data["duration_s"], "duration_s", minimum=0, inclusive=False)
    load = _load(c, data["load"], kind)
    if load.stages:
        total = sum(s.duration_s for s in load.stages)
        if not math.isclose(total, duration_s, rel_tol=1e-9, abs_tol=1e-9):
            raise c.fail("[[load.stages]]", f"stage durations add up to {total:g} s but duration_s is {duration_s:g}")
    timeclock: Timeclock | None = None
    if kind == "timeclock":
        if "timeclock" not in data:
            raise c.fail("[timeclock]", "missing; kind timeclock needs readers, inserts and burst_s")
        tc = _timeclock(c, data["timeclock"])
        if tc.burst_s > duration_s:
            raise c.fail("[timeclock].burst_s", f"the burst ({tc.burst_s:g} s) is longer than duration_s")
        timeclock = tc
    elif "timeclock" in data:
        raise c.fail("[timeclock]", f"only for kind timeclock; kind is {kind}")
    app: AppProtocol | None = None
    if kind == "app":
        if "app" not in data:
            raise c.fail("[app]", "missing; kind app needs path and [app.send] (docs/your-app.md)")
        app = parse_app(c, data["app"], directory)
        generic = True
    elif "app" in data:
        raise c.fail("[app]", f"only for kind app; kind is {kind}")
    matrix = _matrix(c, data["matrix"]) if "matrix" in data else Matrix()
    if kind == "timeclock":
        local = [layer for layer in matrix.layers if not LAYERS[layer].shared_across_processes]
        if local:
            raise c.fail(
                "[matrix].layers",
                f"{', '.join(local)} lives inside one server process, but a timeclock's punches go from the EKS "
                "gateway to the timeclock worker, processes of their own; use layers redis or redis-pubsub",
            )
    if SCENARIO_KINDS[kind].cross_connection:
        for layer in matrix.layers:
            if not LAYERS[layer].shared_across_processes and max(matrix.workers) > 1:
                raise c.fail(
                    "[matrix]",
                    f"layer {layer} lives inside one server process, so with workers > 1 {kind} messages would not "
                    "reach members on other workers; use layers redis or redis-pubsub for workers > 1",
                )
    return Scenario(
        name=name,
        description=c.string(data["description"], "description"),
        kind=kind,
        generic=generic,
        duration_s=duration_s,
        seed=c.integer(data["seed"], "seed", minimum=0),
        load=load,
        warmup_s=_opt(data, "warmup_s", 2.0, lambda v: c.number(v, "warmup_s", minimum=0, inclusive=True)),
        grace_s=_opt(data, "grace_s", 2.0, lambda v: c.number(v, "grace_s", minimum=0, inclusive=True)),
        matrix=matrix,
        slos=_slos(c, data["slos"]) if "slos" in data else (),
        timeclock=timeclock,
        gate=parse_gate(c, data["gate"], KNOWN_METRICS) if "gate" in data else GateTable(),
        app=app,
        faults=parse_faults(c, data["faults"]) if "faults" in data else (),
        soak=_soak_for(c, data, kind, duration_s),
        source=source,
    )


def _soak_for(c: _Checker, data: Mapping[str, Any], kind: Kind, duration_s: float) -> SoakSettings | None:
    if "soak" not in data:
        return None
    if kind == "timeclock":
        raise c.fail("[soak]", "a timeclock burst is not a soak; use a chat, notifications or app scenario")
    warmup = data.get("warmup_s", 2.0)
    return _soak(c, data["soak"], duration_s + (warmup if isinstance(warmup, int | float) else 0.0))


def _display(path: Path) -> str:
    """Name a file relative to the project (``scenarios/x.toml``) when it is inside it, as users refer to it."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(_PROJECT_ROOT).as_posix()
    except ValueError:
        return str(path)


def load_scenario(path: str | Path, overrides: Sequence[Override] = ()) -> Scenario:
    """Read and validate one scenario file, then the same with ``overrides`` applied, if any.

    The file is validated on its own first, so that a mistake in it is reported as the file's, and one that only
    an override makes is reported with the overrides named.

    Raises:
        ScenarioError: if the file cannot be read, is not TOML, or is not a valid scenario, alone or with the
            overrides; the message names the file (and the overrides), the key and the expected form.
    """
    p = Path(path)
    where = _display(p)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{where}: cannot read: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{where}: not valid TOML: {exc}") from exc
    scenario = parse_scenario(data, where=where, source=where, directory=p.resolve().parent)
    if not overrides:
        return scenario
    with_overrides = f"{where} with {', '.join(o.given for o in overrides)}"
    changed = parse_scenario(
        apply_overrides(data, overrides), where=with_overrides, source=where, directory=p.resolve().parent
    )
    return replace(changed, overrides=tuple(o.text for o in overrides))


def available_scenarios(directory: Path = SCENARIO_DIR) -> list[str]:
    """Return the names of the scenario files in ``directory``, sorted."""
    return sorted(p.stem for p in directory.glob("*.toml"))


def load_named(name: str, directory: Path = SCENARIO_DIR, overrides: Sequence[Override] = ()) -> Scenario:
    """Load ``<directory>/<name>.toml`` (with ``overrides``); the file's own ``name`` must match the file name.

    Raises:
        ScenarioError: if there is no such scenario (the message lists the available ones) or the file is invalid.
    """
    if not _NAME_RE.match(name):
        raise ScenarioError(f"scenario name {_show(name)}: expected a name of a-z, 0-9 and '-'")
    path = directory / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(available_scenarios(directory)) or "(none)"
        raise ScenarioError(f"no scenario {_show(name)} in {_display(directory)}; available: {known}")
    scenario = load_scenario(path)
    if scenario.name != name:
        raise ScenarioError(
            f"{_display(path)}: name: expected {_show(name)} (the file name), got {_show(scenario.name)}"
        )
    return load_scenario(path, overrides) if overrides else scenario


def load_any(name_or_path: str, overrides: Sequence[Override] = ()) -> Scenario:
    """A scenario given on a command line: a path to a ``.toml`` file (or any existing file), else a name from
    ``scenarios/``; with the command line's ``overrides`` applied.

    Raises:
        ScenarioError: as :func:`load_scenario` and :func:`load_named`.
    """
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return load_scenario(path, overrides)
    return load_named(name_or_path, overrides=overrides)
