"""The ``[[faults]]`` of a scenario: network faults on a schedule, through the harness's fault proxy (docs/faults.md).

Each entry is one fault window: a toxic (``harness/faults/toxics.py``) put on the client → server path (between the
generator and the server: the only path a ``--target`` run has) from ``start_s`` seconds after the cell's load
began, for ``duration_s`` seconds, on one direction or both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from harness.faults.toxics import Toxic, parse_toxic
from harness.scenario.checker import _Checker

__all__ = ["FAULT_DIRECTIONS", "FaultSpec", "parse_faults"]

FaultDirection = Literal["upstream", "downstream", "both"]
FAULT_DIRECTIONS: Final[tuple[FaultDirection, ...]] = ("upstream", "downstream", "both")


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One fault window.

    Attributes:
        toxic: the toxic as written (``blackhole``, ``latency:delay_ms=200``), parsed by :meth:`parsed`.
        start_s: seconds after the cell's load began (its generator started) when it is put on.
        duration_s: seconds it stays on.
        direction: ``upstream`` (client → server), ``downstream`` or ``both``.
        path: ``client``: between the generator and the server.
    """

    toxic: str
    start_s: float
    duration_s: float
    direction: FaultDirection = "both"
    path: Literal["client"] = "client"

    def parsed(self) -> Toxic:
        return parse_toxic(self.toxic)


def parse_faults(c: _Checker, raw: Any) -> tuple[FaultSpec, ...]:
    """Validate ``[[faults]]``; windows may not overlap (one toxic per direction at a time)."""
    specs = []
    for i, item in enumerate(c.array(raw, "[[faults]]", "tables")):
        at = f"[[faults]][{i}]"
        t = c.table(item, at)
        c.keys(t, at, ("toxic", "start_s", "duration_s"), ("direction", "path"))
        toxic = c.string(t["toxic"], f"{at}.toxic")
        try:
            parse_toxic(toxic)
        except ValueError as exc:
            raise c.fail(f"{at}.toxic", str(exc)) from None
        specs.append(
            FaultSpec(
                toxic=toxic,
                start_s=c.number(t["start_s"], f"{at}.start_s", minimum=0, inclusive=True),
                duration_s=c.number(t["duration_s"], f"{at}.duration_s", minimum=0, inclusive=False),
                direction=cast(
                    FaultDirection,
                    c.choice(t["direction"], f"{at}.direction", FAULT_DIRECTIONS) if "direction" in t else "both",
                ),
                path=cast(
                    Literal["client"], c.choice(t["path"], f"{at}.path", ("client",)) if "path" in t else "client"
                ),
            )
        )
    ordered = sorted(specs, key=lambda s: s.start_s)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b.start_s < a.start_s + a.duration_s:
            raise c.fail(
                "[[faults]]",
                f"the window at {b.start_s:g} s starts before the one at {a.start_s:g} s ends "
                f"({a.start_s + a.duration_s:g} s): one toxic at a time",
            )
    return tuple(specs)
