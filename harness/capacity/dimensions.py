"""The loads a capacity search can grow, and how each one turns a scenario into the scenario of one trial.

One registry, :data:`DIMENSIONS`. A dimension names its unit, the scenario kinds it makes sense for, whether its
loads are whole numbers, and :meth:`Dimension.apply`: the scenario at a given load, everything else as the file
says. docs/capacity.md has the table.

- ``rate``: messages sent per second, all senders together, with the scenario's connections. A chat room's
  members share it evenly; a notification publisher sends it spread over the listeners.
- ``connections``: sockets held open, each sending at the scenario's per-user rate (an idle-socket scenario sends a
  heartbeat now and then). Chat rooms keep their size, so more connections mean more rooms.
- ``group_size``: members of one room or group, with the scenario's message rate into the group kept: each
  message reaches every member, so deliveries grow with the group while the messages sent stay the same.
- ``readers``: EKS readers of a timeclock scenario, each badging at the scenario's rate (``inserts / burst_s``
  badge events per second per reader), every punch going through gateway, worker and database to its kiosk.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from harness.scenario import Scenario

__all__ = ["DIMENSIONS", "Dimension", "dimension_for", "offered_rate"]


def _senders(scenario: Scenario) -> int:
    """Connections that send: every user, but for notifications, where one publisher sends to the listeners."""
    return 1 if scenario.kind == "notifications" else scenario.load.users


def offered_rate(scenario: Scenario) -> float:
    """Messages sent per second by the scenario's whole load, all senders together (a fan-out scenario's one
    publisher per group sends its rate)."""
    if scenario.timeclock is not None:
        tc = scenario.timeclock
        return tc.readers * tc.inserts / tc.burst_s
    rate = scenario.load.rate or 0.0
    if scenario.kind == "notifications":
        return rate * max(1, scenario.load.users - 1)
    if scenario.kind == "fanout":
        return rate * len(scenario.load.group_sizes)
    return rate * scenario.load.users


def _with_load(scenario: Scenario, **changes: object) -> Scenario:
    return dataclasses.replace(scenario, load=dataclasses.replace(scenario.load, **changes))  # type: ignore[arg-type]


def _apply_rate(scenario: Scenario, value: float) -> Scenario:
    per_user = value / (max(1, scenario.load.users - 1) if scenario.kind == "notifications" else scenario.load.users)
    return _with_load(scenario, rate=per_user)


def _apply_connections(scenario: Scenario, value: float) -> Scenario:
    users = int(value)
    room_size = scenario.load.room_size
    if room_size is not None and room_size > users:
        room_size = users
    return _with_load(scenario, users=users, room_size=room_size)


def _group_value(scenario: Scenario) -> float:
    if scenario.kind == "fanout":
        return float(max(scenario.load.group_sizes))
    return float(scenario.load.room_size or 2)


def _apply_group_size(scenario: Scenario, value: float) -> Scenario:
    size = int(value)
    if scenario.kind == "fanout":
        # One group; its publisher keeps the scenario's rate (messages per second into the group).
        return _with_load(scenario, users=size, group_sizes=(size,))
    # One room; the room's message rate (its members' rates added) is the scenario's, shared by the new members.
    room_rate = (scenario.load.rate or 1.0) * (scenario.load.room_size or 2)
    return _with_load(scenario, users=size, room_size=size, rate=room_rate / size)


def _apply_readers(scenario: Scenario, value: float) -> Scenario:
    assert scenario.timeclock is not None  # the dimension's kinds
    return dataclasses.replace(scenario, timeclock=dataclasses.replace(scenario.timeclock, readers=int(value)))


def _readers(scenario: Scenario) -> float:
    assert scenario.timeclock is not None
    return float(scenario.timeclock.readers)


@dataclass(frozen=True, slots=True)
class Dimension:
    """One load a capacity search can grow.

    Attributes:
        name: as given to ``--dimension``.
        unit: how its loads are written (``msg/s``, ``connections``, ``members``).
        kinds: scenario kinds it applies to.
        integer: loads are whole numbers.
        minimum_of: the smallest load that still makes the scenario (a chat room needs 2 members).
        maximum: the default ceiling of the search.
        value_of: the scenario's own load in this dimension (the default start).
        apply: the scenario at a load.
        trial_s: the default seconds a trial sends: long enough for the load's own rhythm to repeat (a reader
            badges about once a second or less, so its trials are longer).
    """

    name: str
    unit: str
    description: str
    kinds: tuple[str, ...]
    integer: bool
    minimum_of: Callable[[Scenario], float]
    maximum: float
    value_of: Callable[[Scenario], float]
    apply: Callable[[Scenario, float], Scenario]
    trial_s: float = 5.0

    def format(self, value: float) -> str:
        """A load for people: ``640 msg/s``, ``12,000 connections``."""
        if self.integer or float(value).is_integer() and value >= 100:
            text = f"{value:,.0f}"
        else:
            text = f"{value:,.3g}" if value < 100 else f"{value:,.0f}"
        return f"{text} {self.unit}"


#: The one table of capacity dimensions.
DIMENSIONS: Final[Mapping[str, Dimension]] = {
    "rate": Dimension(
        "rate",
        "msg/s",
        "messages sent per second, all senders together, at the scenario's connections",
        ("echo", "broadcast", "chat", "notifications", "app"),
        integer=False,
        minimum_of=lambda s: 0.01 * _senders(s),
        maximum=200_000.0,
        value_of=offered_rate,
        apply=_apply_rate,
    ),
    "connections": Dimension(
        "connections",
        "connections",
        "sockets held open, each at the scenario's per-user rate",
        ("echo", "broadcast", "chat", "notifications", "app"),
        integer=True,
        minimum_of=lambda s: 2.0 if s.kind in ("chat", "notifications") else 1.0,
        maximum=100_000.0,
        value_of=lambda s: float(s.load.users),
        apply=_apply_connections,
    ),
    "group_size": Dimension(
        "group_size",
        "members",
        "members of one room or group, at the scenario's message rate into the group",
        ("chat", "fanout"),
        integer=True,
        minimum_of=lambda s: 1.0 if s.kind == "fanout" else 2.0,
        maximum=50_000.0,
        value_of=_group_value,
        apply=_apply_group_size,
    ),
    "readers": Dimension(
        "readers",
        "readers",
        "EKS readers, each at the scenario's badge events per second, through gateway, worker and kiosk",
        ("timeclock",),
        integer=True,
        minimum_of=lambda s: 1.0,
        maximum=5_000.0,
        value_of=_readers,
        apply=_apply_readers,
        trial_s=15.0,
    ),
}


def dimension_for(name: str, scenario: Scenario) -> Dimension:
    """The dimension ``name`` for ``scenario``.

    Raises:
        ValueError: an unknown dimension, or one that does not apply to the scenario's kind (the message lists
            what does).
    """
    if name not in DIMENSIONS:
        raise ValueError(f"--dimension {name!r}: unknown; expected one of {', '.join(DIMENSIONS)}")
    dimension = DIMENSIONS[name]
    if scenario.kind not in dimension.kinds:
        fitting = [d.name for d in DIMENSIONS.values() if scenario.kind in d.kinds]
        raise ValueError(
            f"--dimension {name} applies to kinds {', '.join(dimension.kinds)}; scenario {scenario.name!r} is of "
            f"kind {scenario.kind}" + (f" (its dimensions: {', '.join(fitting)})" if fitting else " (none applies)")
        )
    return dimension
