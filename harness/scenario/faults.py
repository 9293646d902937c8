"""The ``[[faults]]`` of a scenario: fault windows on a schedule (docs/faults.md).

Each entry is one window, from ``start_s`` seconds after the cell's load began, for ``duration_s`` seconds, of one
``kind``:

* ``toxic``: a TCP toxic (``harness/faults/toxics.py``) through the harness's fault proxy, on the ``client`` path
  (generator → server) or the ``redis`` path (every app process → Redis);
* ``kill``: processes of the stack (``redis``, the timeclock ``worker``, the EKS ``gateway``, the ``server``
  processes, or one ``server_worker`` of several) killed with ``signal`` (KILL or TERM) and restarted, as a
  supervisor would, when the window ends (Uvicorn's master replaces its own worker at once);
* ``pause``: a process stopped with SIGSTOP and continued with SIGCONT when the window ends;
* ``client_kill``: ``CLIENT KILL TYPE normal|pubsub`` on the stack's Redis at the window's start;
* ``flush``: ``FLUSHALL`` on the stack's Redis at the window's start: its data gone with its connections kept (a
  failover to an empty replica, an operator's mistake), so group memberships vanish under sockets that stay open;
* ``eks``: a fault of the EKS emulator's catalogue on a ``fraction`` of the readers, for the window.

The kinds that need a stack the harness started (everything but a ``client`` toxic) are refused with a ``--target``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from harness.faults.toxics import Toxic, parse_toxic
from harness.scenario.checker import _Checker

__all__ = [
    "EKS_FAULTS",
    "FAULT_DIRECTIONS",
    "FAULT_KINDS",
    "FAULT_TARGETS",
    "FaultKind",
    "FaultSpec",
    "parse_faults",
]

FaultDirection = Literal["upstream", "downstream", "both"]
FAULT_DIRECTIONS: Final[tuple[FaultDirection, ...]] = ("upstream", "downstream", "both")
FaultKind = Literal["toxic", "kill", "pause", "client_kill", "flush", "eks"]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = ("toxic", "kill", "pause", "client_kill", "flush", "eks")
#: The EKS emulator's fault catalogue (eks_emulator/faults.py; tests/faults keeps the two lists equal). The harness
#: drives the emulator through its control API and does not import it.
EKS_FAULTS: Final = (
    "fin", "rst", "reboot", "blackhole", "flap", "slow", "split", "coalesce", "bad_length", "unknown_command",
    "garbage", "read_error", "pulled_mid_read", "ek_other", "bounce", "second_client",
)  # fmt: skip
#: What each kind may be aimed at.
FAULT_TARGETS: Final[dict[FaultKind, tuple[str, ...]]] = {
    "toxic": ("client", "redis"),
    "kill": ("redis", "worker", "gateway", "server", "server_worker"),
    "pause": ("redis", "worker", "gateway", "server", "server_worker"),
    "client_kill": ("normal", "pubsub"),
    "flush": ("redis",),
    "eks": EKS_FAULTS,
}
_DEFAULT_TARGET: Final[dict[FaultKind, str | None]] = {
    "toxic": "client",
    "kill": None,
    "pause": None,
    "client_kill": None,
    "flush": "redis",
    "eks": None,
}


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One fault window.

    Attributes:
        start_s: seconds after the cell's load began (its generator, or its badge events, started).
        duration_s: seconds the fault lasts (a killed process stays down this long).
        kind: toxic, kill, pause, client_kill, flush or eks.
        target: the toxic's path, the process, the Redis client type, or the EKS fault (``FAULT_TARGETS``).
        toxic: the toxic as written (``blackhole``, ``latency:delay_ms=200``); toxic kind only.
        direction: ``upstream`` (towards the server), ``downstream`` or ``both``; toxic kind only.
        signal: ``KILL`` or ``TERM``; kill kind only.
        fraction: the share of readers an ``eks`` fault is injected into.
    """

    start_s: float
    duration_s: float
    kind: FaultKind = "toxic"
    target: str = "client"
    toxic: str | None = None
    direction: FaultDirection = "both"
    signal: Literal["KILL", "TERM"] = "KILL"
    fraction: float = 1.0

    @property
    def path(self) -> str:
        """The toxic's path (client or redis); the target of a toxic."""
        return self.target

    @property
    def label(self) -> str:
        """A short name for summaries: ``blackhole (upstream, client path)``, ``kill -KILL redis``."""
        if self.kind == "toxic":
            return f"{self.toxic} ({self.direction}, {self.target} path)"
        if self.kind == "kill":
            return f"kill -{self.signal} {self.target}"
        if self.kind == "eks":
            return f"eks {self.target} on {self.fraction:.0%} of readers"
        return f"{self.kind} {self.target}"

    @property
    def needs_stack(self) -> bool:
        """Whether only a stack the harness started offers what the fault acts on."""
        return not (self.kind == "toxic" and self.target == "client")

    def parsed(self) -> Toxic:
        if self.toxic is None:
            raise ValueError(f"a {self.kind} fault has no toxic")
        return parse_toxic(self.toxic)


_KEYS: Final[dict[FaultKind, tuple[str, ...]]] = {
    "toxic": ("toxic", "direction", "path", "target"),
    "kill": ("target", "signal"),
    "pause": ("target",),
    "client_kill": ("target",),
    "flush": ("target",),
    "eks": ("target", "fraction"),
}


def _fraction(c: _Checker, value: Any, key: str) -> float:
    fraction = c.number(value, key, minimum=0, inclusive=False)
    if fraction > 1:
        raise c.expected(key, "a share of the readers, > 0 and <= 1", value)
    return fraction


def _one(c: _Checker, item: Any, at: str) -> FaultSpec:
    t = c.table(item, at)
    # A window with a toxic and no kind is a toxic: the form of the first scenarios with faults.
    kind = cast(FaultKind, c.choice(t["kind"], f"{at}.kind", FAULT_KINDS) if "kind" in t else "toxic")
    c.keys(t, at, ("start_s", "duration_s"), ("kind", *_KEYS[kind]))
    start_s = c.number(t["start_s"], f"{at}.start_s", minimum=0, inclusive=True)
    duration_s = c.number(t["duration_s"], f"{at}.duration_s", minimum=0, inclusive=False)
    if kind == "toxic" and "path" in t and "target" in t:
        raise c.fail(f"{at}.path", "give the toxic's path once, as path or as target")
    raw_target = t.get("target", t.get("path", _DEFAULT_TARGET[kind]))
    if raw_target is None:
        raise c.fail(f"{at}.target", f"a {kind} fault needs a target: one of {', '.join(FAULT_TARGETS[kind])}")
    target = c.choice(raw_target, f"{at}.{'path' if 'path' in t else 'target'}", FAULT_TARGETS[kind])
    if kind != "toxic":
        return FaultSpec(
            start_s,
            duration_s,
            kind,
            target,
            signal=cast(Literal["KILL", "TERM"], c.choice(t["signal"], f"{at}.signal", ("KILL", "TERM")))
            if "signal" in t
            else "KILL",
            fraction=_fraction(c, t["fraction"], f"{at}.fraction") if "fraction" in t else 1.0,
        )
    if "toxic" not in t:
        raise c.fail(f"{at}.toxic", 'a toxic fault needs its toxic, e.g. toxic = "blackhole"')
    toxic = c.string(t["toxic"], f"{at}.toxic")
    try:
        parse_toxic(toxic)
    except ValueError as exc:
        raise c.fail(f"{at}.toxic", str(exc)) from None
    direction = cast(
        FaultDirection, c.choice(t["direction"], f"{at}.direction", FAULT_DIRECTIONS) if "direction" in t else "both"
    )
    return FaultSpec(start_s, duration_s, "toxic", target, toxic=toxic, direction=direction)


def parse_faults(c: _Checker, raw: Any) -> tuple[FaultSpec, ...]:
    """Validate ``[[faults]]``; windows may not overlap, so each window's figures are its own fault's."""
    specs = [_one(c, item, f"[[faults]][{i}]") for i, item in enumerate(c.array(raw, "[[faults]]", "tables"))]
    ordered = sorted(specs, key=lambda s: s.start_s)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b.start_s < a.start_s + a.duration_s:
            raise c.fail(
                "[[faults]]",
                f"the window at {b.start_s:g} s starts before the one at {a.start_s:g} s ends "
                f"({a.start_s + a.duration_s:g} s): one fault at a time",
            )
    return tuple(specs)
