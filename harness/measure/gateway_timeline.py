"""The EKS gateways' reader connections over a chaos run, and what each fault window did to them.

The gateways' ``GET /status`` gives totals only (readers connected now, reconnects since the process started), so a
run that wants them per window polls it and keeps a timeline: :meth:`GatewayTimeline.add` takes one poll's status
documents (None for a shard that did not answer: a killed gateway holds no reader), and :meth:`GatewayTimeline.window`
turns the samples of a window's span into its figures. Sans-I/O: the polling is the caller's.

A restarted gateway starts its counters at zero; a shard whose uptime went down is counted from zero again, so the
reconnects of a span are never negative and never lost to a restart. A gateway's first connection to each reader
(after its own start, or a restart) is not a reconnect: a killed gateway shows as readers dropped and the time until
all are back, not as reconnects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GatewaySample", "GatewayTimeline"]


@dataclass(frozen=True, slots=True)
class GatewaySample:
    """One poll of every gateway shard (CLOCK_MONOTONIC ns)."""

    at_ns: int
    #: Readers the gateways held connected (a shard that did not answer holds none).
    connected: int
    #: Reconnects over all shards since the timeline began, across gateway restarts.
    reconnects: int
    #: Shards that answered.
    answered: int


@dataclass
class _Shard:
    uptime_s: float = -1.0
    reconnects: int = 0


@dataclass
class GatewayTimeline:
    """Polls of the gateways' status, turned into per-window figures.

    Args:
        shards: how many gateway processes the run has (each poll gives one status per shard, in the same order).
        interval_s: how often the caller polls; the times a window reports are this coarse.
    """

    shards: int
    interval_s: float
    samples: list[GatewaySample] = field(default_factory=list)
    _last: list[_Shard] = field(default_factory=list, repr=False)
    _reconnects: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ValueError(f"a gateway timeline needs at least one shard, got {self.shards}")
        self._last = [_Shard() for _ in range(self.shards)]

    def add(self, at_ns: int, statuses: Sequence[Mapping[str, Any] | None]) -> GatewaySample:
        """Record one poll: each shard's ``/status`` document, or None if it did not answer."""
        if len(statuses) != self.shards:
            raise ValueError(f"a poll must give one status per shard ({self.shards}), got {len(statuses)}")
        connected = answered = 0
        for shard, status in zip(self._last, statuses, strict=True):
            if status is None:
                continue
            answered += 1
            connected += int(status["connected"])
            uptime, total = float(status["uptime_s"]), int(status["reconnects"])
            # A shorter uptime than last time is a new process: its counter began at zero.
            since = total if uptime < shard.uptime_s or total < shard.reconnects else total - shard.reconnects
            self._reconnects += since
            shard.uptime_s, shard.reconnects = uptime, total
        sample = GatewaySample(at_ns, connected, self._reconnects, answered)
        self.samples.append(sample)
        return sample

    def window(self, began_ns: int, ended_ns: int, until_ns: int | None, readers: int) -> dict[str, Any]:
        """A fault window's figures from its start to the next window's (``until_ns``; None: to the last poll).

        ``gateway_reconnects``: reconnects counted by polls in the span; ``gateway_readers_dropped``: the most
        readers not connected at one poll; ``gateway_first_drop_after_s``: from the fault's start to the first poll
        that saw a reader not connected (the time to detect, as the gateway sees it); ``gateway_readers_back_after_s``:
        from the fault's end to the first poll after the span's last drop, when every reader was connected again and
        stayed so until the next window (0: back before the fault ended; None: none dropped, or not all were back
        before the next window). Empty when no poll fell in the span.
        """
        span = [s for s in self.samples if s.at_ns >= began_ns and (until_ns is None or s.at_ns < until_ns)]
        if not span:
            return {}
        before = [s for s in self.samples if s.at_ns < began_ns]
        start = before[-1].reconnects if before else 0
        dropped = [s for s in span if s.connected < readers]
        back: float | None = None
        if dropped:
            # Back for good: the first whole poll after the span's last drop.
            whole = [s for s in span if s.at_ns > dropped[-1].at_ns]
            if whole:
                back = round(max(0, whole[0].at_ns - ended_ns) / 1e9, 3)
        return {
            "gateway_reconnects": span[-1].reconnects - start,
            "gateway_readers_dropped": max(0, readers - min(s.connected for s in span)),
            "gateway_first_drop_after_s": (round(max(0, dropped[0].at_ns - began_ns) / 1e9, 3) if dropped else None),
            "gateway_readers_back_after_s": back,
            "gateway_polls": len(span),
            "gateway_poll_s": self.interval_s,
        }
