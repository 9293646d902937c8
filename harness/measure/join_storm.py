"""The join storm of a room: its members connecting and the presence frames that sets off.

In the reference app every chat join sends a ``presence`` event to the whole room, the joining member included
(``reference_app/chat/consumers.py``: ``group_add``, accept, then ``group_send``). N members joining one after the
other therefore deliver N(N+1)/2 presence frames: the k-th member to join (k = 1..N) receives its own join and the
joins of everyone after it, N - k + 1 frames. Joins that overlap deliver more: a member added to the group before an
earlier member's announcement went out receives that one too, up to N² frames when every member is in the group
before anyone announces. So a room whose every member joined delivers between N(N+1)/2 and N² frames
(:func:`presence_bounds`); fewer means frames were lost. At 1,000 members that is at least 500,500 frames, far more
than the fan-out a room of that size is measured for, so a fan-out scenario measures the storm as a phase of its own
and starts sending only once it is over (the settle barrier, ``harness.load.settle``).

:class:`JoinStorm` is what one generator process saw of it; the master merges the processes' records. Times are
``time.monotonic_ns()``: on one host every process reads the same clock (the generator compares envelope send times
across its processes the same way, docs/measurement.md). This module imports neither locust nor gevent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["JoinStorm", "presence_bounds"]


def presence_bounds(groups: int, size: int) -> tuple[int, int]:
    """Join presence frames ``groups`` rooms of ``size`` members deliver when every member joins: N(N+1)/2 each
    when the joins come one after the other, N² when they all overlap (see the module's docstring).

    Raises:
        ValueError: for a negative count or a size below 1.
    """
    if groups < 0 or size < 1:
        raise ValueError(f"need groups >= 0 and size >= 1, got groups={groups}, size={size}")
    return groups * size * (size + 1) // 2, groups * size * size


def _min(values: Iterable[int | None]) -> int | None:
    return min((v for v in values if v is not None), default=None)


def _max(values: Iterable[int | None]) -> int | None:
    return max((v for v in values if v is not None), default=None)


@dataclass(slots=True)
class JoinStorm:
    """Connect attempts and presence frames of one generator process, and when its users were let send.

    Attributes:
        connects: connect attempts that ended, opened or failed.
        first_connect_ns: when the first attempt started.
        last_connect_ns: when the last attempt ended.
        joins: ``presence`` frames announcing a join.
        last_presence_ns: when the last presence frame of any event (a join, or a leave) was read.
        released_ns: when the settle barrier let the users send; None without a barrier, or if it never did.
        joins_after_release: join frames read after that (by the time of the read, not of the handling): join
            traffic inside the send window.
        settled: True when the barrier found the room quiet before its time-out, False when it timed out or never
            released; None without a barrier.
    """

    connects: int = 0
    first_connect_ns: int | None = None
    last_connect_ns: int | None = None
    joins: int = 0
    last_presence_ns: int | None = None
    released_ns: int | None = None
    joins_after_release: int = 0
    settled: bool | None = None

    def connect_attempted(self, started_ns: int, ended_ns: int) -> None:
        """Count one connect attempt that started at ``started_ns`` and ended (opened or failed) at ``ended_ns``."""
        self.connects += 1
        if self.first_connect_ns is None or started_ns < self.first_connect_ns:
            self.first_connect_ns = started_ns
        if self.last_connect_ns is None or ended_ns > self.last_connect_ns:
            self.last_connect_ns = ended_ns

    def presence(self, *, join: bool, read_ns: int) -> None:
        """Count one presence frame read at ``read_ns``; only joins are the storm's, every event is activity."""
        if join:
            self.joins += 1
            # By the read, not by when it is handled: a frame read before the release may be handled after it
            # (received in a batch, or in the read that carried the 101 response).
            if self.released_ns is not None and read_ns > self.released_ns:
                self.joins_after_release += 1
        if self.last_presence_ns is None or read_ns > self.last_presence_ns:
            self.last_presence_ns = read_ns

    def release(self, at_ns: int, *, settled: bool) -> None:
        """Record that the users were let send at ``at_ns``, the room quiet (``settled``) or the time-out over."""
        self.released_ns = at_ns
        self.settled = settled

    @property
    def duration_ns(self) -> int | None:
        """First connect attempt → last presence frame; None when no presence frame was read."""
        if self.first_connect_ns is None or self.last_presence_ns is None:
            return None
        return max(0, self.last_presence_ns - self.first_connect_ns)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JoinStorm:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__})

    @classmethod
    def merged(cls, storms: Iterable[JoinStorm]) -> JoinStorm:
        """The storm every process saw together: counts added, the earliest start, the latest ends.

        The merge is settled only if every process's barrier was: one process still hearing joins at its time-out
        is enough for the window to hold join traffic.
        """
        parts = list(storms)
        verdicts = [s.settled for s in parts if s.settled is not None]
        return cls(
            connects=sum(s.connects for s in parts),
            first_connect_ns=_min(s.first_connect_ns for s in parts),
            last_connect_ns=_max(s.last_connect_ns for s in parts),
            joins=sum(s.joins for s in parts),
            last_presence_ns=_max(s.last_presence_ns for s in parts),
            released_ns=_max(s.released_ns for s in parts),
            joins_after_release=sum(s.joins_after_release for s in parts),
            settled=all(verdicts) if verdicts else None,
        )

    def result_dict(self) -> dict[str, Any]:
        """The ``join_storm`` object of the generator's result: the record plus its durations in seconds."""
        duration = self.duration_ns
        released_after = (
            None
            if self.released_ns is None or self.first_connect_ns is None
            else max(0, self.released_ns - self.first_connect_ns) / 1e9
        )
        return {
            **self.to_dict(),
            "duration_s": None if duration is None else duration / 1e9,
            "released_after_s": released_after,
        }
