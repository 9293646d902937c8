"""The soak verdict: is every resource of the server side flat, not merely bounded? (docs/reliability.md#soak)

A leak that grows by a few kilobytes a minute stays under any ceiling for hours; a verdict of "bounded" misses it.
After a settle period longer than the channel layer's message expiry (so queues and groups of the start-up are gone),
each series (RSS and open fds per process, asyncio tasks per process, Redis memory, keys and group members) is
judged twice:

* the median of an **early** window (right after the settle period) against the median of a **late** window (the last
  ``window_s`` of the run): the late one may exceed the early one by at most the allowance;
* the **trend** over everything after the settle period (the Theil–Sen slope, robust to the spikes of a busy second),
  projected over that span, must stay within the same allowance.

The allowance is ``max_growth`` of the early median, but never less than the series' noise floor (a few fds, a few
MiB of RSS), so an idle series is not failed for one socket more. Latency drift is judged the same way on the
per-second p99s (the medians of the early and late windows, and the trend), against ``max_latency_growth``.

Pure: series in, verdicts out.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

__all__ = ["NOISE_FLOORS", "SeriesVerdict", "SoakSettings", "SoakVerdict", "soak_verdict", "theil_sen_slope"]

#: Growth below these is noise whatever the ratio (bytes, counts).
NOISE_FLOORS: Final[Mapping[str, float]] = {
    "rss_bytes": 8 * 2**20,
    "num_fds": 4,
    "asyncio_tasks": 8,
    "redis_used_memory_bytes": 2 * 2**20,
    "redis_keys": 8,
    "redis_group_members": 8,
}


@dataclass(frozen=True, slots=True)
class SoakSettings:
    """``settle_s`` from the start of the load; the early window follows it, the late window ends the run."""

    settle_s: float
    window_s: float
    max_growth: float = 0.05
    max_latency_growth: float = 0.25

    def check(self, duration_s: float) -> None:
        if self.settle_s < 0 or self.window_s <= 0:
            raise ValueError(f"[soak]: settle_s must be >= 0 and window_s > 0, got {self.settle_s}, {self.window_s}")
        if self.settle_s + 2 * self.window_s > duration_s:
            raise ValueError(
                f"[soak]: settle_s {self.settle_s:g} + two windows of {self.window_s:g} s do not fit in the "
                f"{duration_s:g} s run; lengthen the run or shorten the windows"
            )


@dataclass(frozen=True, slots=True)
class SeriesVerdict:
    """One series judged: its early and late medians, the trend projected over the judged span, the allowance."""

    name: str
    samples: int
    early: float | None
    late: float | None
    trend: float | None
    allowance: float | None
    flat: bool | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SoakVerdict:
    settings: SoakSettings
    early_window: tuple[float, float]
    late_window: tuple[float, float]
    series: tuple[SeriesVerdict, ...]
    latency: tuple[SeriesVerdict, ...]

    @property
    def flat(self) -> bool:
        """Every series that could be judged is flat, and at least one could."""
        judged = [s.flat for s in (*self.series, *self.latency) if s.flat is not None]
        return bool(judged) and all(judged)

    def to_dict(self) -> dict[str, Any]:
        return {
            "settle_s": self.settings.settle_s,
            "window_s": self.settings.window_s,
            "max_growth": self.settings.max_growth,
            "max_latency_growth": self.settings.max_latency_growth,
            "early_window_s": list(self.early_window),
            "late_window_s": list(self.late_window),
            "series": [s.to_dict() for s in self.series],
            "latency": [s.to_dict() for s in self.latency],
            "flat": self.flat,
        }

    def sentences(self) -> list[str]:
        growing = [s for s in (*self.series, *self.latency) if s.flat is False]
        if not growing:
            judged = sum(1 for s in (*self.series, *self.latency) if s.flat is not None)
            return [f"soak: flat: {judged} series judged, none grew beyond its allowance"]
        return [f"soak: GROWING: {s.name}: {s.reason}" for s in growing]


def theil_sen_slope(points: Sequence[tuple[float, float]]) -> float | None:
    """The median of the pairwise slopes (per second); None with fewer than two distinct times.

    Above 400 points, every k-th point is used (the median of ~80,000 slopes is as robust, and quadratic cost is not).
    """
    step = max(1, len(points) // 400)
    thinned = list(points[::step])
    slopes = [(y2 - y1) / (t2 - t1) for i, (t1, y1) in enumerate(thinned) for t2, y2 in thinned[i + 1 :] if t2 != t1]
    return statistics.median(slopes) if slopes else None


def _judge(
    name: str,
    points: Sequence[tuple[float, float]],
    early: tuple[float, float],
    late: tuple[float, float],
    max_growth: float,
    floor: float,
) -> SeriesVerdict:
    first = [v for t, v in points if early[0] <= t < early[1]]
    last = [v for t, v in points if late[0] <= t <= late[1]]
    judged = [(t, v) for t, v in points if t >= early[0]]
    if len(first) < 3 or len(last) < 3:
        return SeriesVerdict(
            name, len(points), None, None, None, None, None, "too few samples in the early or late window"
        )
    early_median, late_median = statistics.median(first), statistics.median(last)
    allowance = max(max_growth * abs(early_median), floor)
    slope = theil_sen_slope(judged)
    trend = None if slope is None else slope * (judged[-1][0] - judged[0][0])
    grew = late_median - early_median
    flat = grew <= allowance and (trend is None or trend <= allowance)
    reason = (
        f"early median {early_median:,.0f}, late {late_median:,.0f} ({grew:+,.0f}); trend {trend:+,.0f} over the run "
        f"after settling; allowance {allowance:,.0f}"
        if trend is not None
        else f"early median {early_median:,.0f}, late {late_median:,.0f}; allowance {allowance:,.0f}"
    )
    return SeriesVerdict(name, len(points), early_median, late_median, trend, allowance, flat, reason)


def soak_verdict(
    settings: SoakSettings,
    duration_s: float,
    series: Mapping[str, tuple[str, Sequence[tuple[float, float]]]],
    latency: Mapping[str, Sequence[tuple[float, float]]],
) -> SoakVerdict:
    """Judge each series.

    Args:
        duration_s: the span of the load, seconds from its start (the series' time origin).
        series: name -> (kind, points): kind picks the noise floor (a key of NOISE_FLOORS), points are (t_s, value).
        latency: name -> per-second p99s in µs, (t_s, value).
    """
    early = (settings.settle_s, settings.settle_s + settings.window_s)
    late = (duration_s - settings.window_s, duration_s)
    judged = tuple(
        _judge(name, points, early, late, settings.max_growth, NOISE_FLOORS[kind])
        for name, (kind, points) in sorted(series.items())
    )
    drift = tuple(
        _judge(name, points, early, late, settings.max_latency_growth, 1_000.0)  # 1 ms of p99 is noise
        for name, points in sorted(latency.items())
    )
    return SoakVerdict(settings, early, late, judged, drift)
