"""The figures of a running generator's newest whole seconds, for the live progress line.

The master (or local runner) combines every process's per-second buckets (:class:`~harness.measure.aggregation.
Second`) over a short window: what the cell is doing now, not the cumulative percentiles of the result. It runs once
a second beside a generator that spends only a few milliseconds of CPU a second, so it works on the seconds'
tallies (sparse ``{HDR bucket: count}``), never on whole histograms.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from harness.measure.aggregation import LIKE, Collector
from harness.measure.latency import buckets_percentile

__all__ = ["LIVE_WINDOW_S", "LiveFigures", "LiveWindow", "ProcessNow", "collector_now", "snapshot_now"]

#: Whole seconds the live figures cover: long enough for a p99 of a few hundred samples, short enough to follow a
#: burst.
LIVE_WINDOW_S: Final = 5


@dataclass(frozen=True, slots=True)
class LiveFigures:
    """What the generator measured over its newest complete seconds, for the progress line of a running cell.

    Attributes:
        window_s: seconds the figures cover (fewer than asked at the start of a run); 0 when none yet.
        deliveries_per_s: messages received per second over the window.
        response_time_p99_us: p99 response time (from the intended send) over the window's deliveries; None
            without any.
        connections: connections open now.
        errors: connect failures plus unexpected closes since the start.
    """

    window_s: int
    deliveries_per_s: float | None
    response_time_p99_us: int | None
    connections: int
    errors: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: What the window needs of one second: the second, its deliveries and its response-time tally (bucket, count).
RecentSecond = tuple[int, int, Iterable[Sequence[int]]]


@dataclass(frozen=True, slots=True)
class ProcessNow:
    """One generator process as the live figures need it.

    Attributes:
        first_second: its first recorded second (the window is shorter than asked until that is long enough ago).
        recent: ``(second, deliveries, response buckets)`` from the start of the window on, in any order; the
            others may be left out, so a long run costs no more per second than a short one.
        errors: its connect failures plus unexpected closes so far.
        connections: its connections open now.
    """

    first_second: int | None
    recent: Iterable[RecentSecond]
    errors: int
    connections: int


def collector_now(collector: Collector, *, start: int, end: int) -> ProcessNow:
    """The live view of a collector in this process (the local runner's own)."""
    series = collector.series
    recent: list[RecentSecond] = [
        (t, series[t].deliveries, series[t].response.items()) for t in range(start, end) if t in series
    ]
    return ProcessNow(
        # Seconds are added in time order, so the first key is the first second (without a scan of all of them).
        first_second=next(iter(series), None),
        recent=recent,
        errors=collector.connect_failures.total + collector.unexpected_closes.total,
        connections=collector.connections,
    )


def snapshot_now(snapshot: Mapping[str, Any], *, start: int) -> ProcessNow:
    """The live view of a process from its newest snapshot."""
    series = snapshot["series"]
    recent: list[RecentSecond] = []
    for t, _sends, deliveries, _errors, _open, _service, response in reversed(series):
        if t < start:
            break
        recent.append((int(t), int(deliveries), response))
    connections = next((int(entry[4]) for entry in reversed(series) if entry[4] is not None), 0)
    errors = sum(int(n) for n in snapshot["connect_failures"].values())
    errors += sum(int(n) for n in snapshot["unexpected_closes"].values())
    return ProcessNow(series[0][0] if series else None, recent, errors, connections)


class LiveWindow:
    """Combines the processes' newest seconds into :class:`LiveFigures`, each second added once and taken out once.

    The window's tally is kept up to date rather than rebuilt: a call adds the seconds that entered the window and
    subtracts the ones that left it, so its cost follows what changed, not the window's length.

    Args:
        window_s: length of the window in whole seconds.
    """

    def __init__(self, window_s: int = LIVE_WINDOW_S) -> None:
        self.window_s = window_s
        # (process, second) -> (deliveries, response-time tally) of each second in the window, as first read.
        self._closed: dict[tuple[str, int], tuple[int, tuple[tuple[int, int], ...]]] = {}
        self._tally: dict[int, int] = {}
        self._deliveries = 0

    def figures(self, processes: Mapping[str, ProcessNow], *, end: int) -> LiveFigures:
        """The figures of the window of whole seconds ending before ``end``.

        Args:
            processes: per process id, its :class:`ProcessNow`. A second before ``end`` must not change any more:
                it is read the first time it is seen and kept while it is in the window.
            end: first second not in the window (the current, incomplete second, or the oldest newest second any
                process has reported).
        """
        start = end - self.window_s
        for key in [key for key in self._closed if not start <= key[1] < end]:
            deliveries, buckets = self._closed.pop(key)
            self._deliveries -= deliveries
            for index, count in buckets:
                left = self._tally[index] - count
                if left:
                    self._tally[index] = left
                else:
                    del self._tally[index]
        for process, now in processes.items():
            for t, second_deliveries, pairs in now.recent:
                key = (process, t)
                if not start <= t < end or key in self._closed:
                    continue
                kept = tuple((int(i), int(c)) for i, c in pairs)
                self._closed[key] = (second_deliveries, kept)
                self._deliveries += second_deliveries
                for index, count in kept:
                    self._tally[index] = self._tally.get(index, 0) + count
        firsts = [p.first_second for p in processes.values() if p.first_second is not None]
        span = max(0, end - max(start, min(firsts))) if firsts else 0
        return LiveFigures(
            window_s=span,
            deliveries_per_s=self._deliveries / span if span else None,
            response_time_p99_us=buckets_percentile(self._tally, 99.0, like=LIKE),
            connections=sum(p.connections for p in processes.values()),
            errors=sum(p.errors for p in processes.values()),
        )
