"""Open-model send schedules and the coordinated-omission bookkeeping around them.

A schedule fixes *when each message should be sent* before the run starts,
independent of how fast the server replies. That is the open model: a slow
server makes messages late, it does not make the generator send fewer of them.
Each schedule yields intended send times as integer nanosecond offsets from
the start of the run, in non-decreasing order.

:class:`Pacer` walks a schedule against a monotonic clock. A sender asks it
for the next slot, waits ``slot.wait_ns`` if it is early, sends, and stamps
the envelope with both the intended and the actual send time. On the reply:

* **service time** = receive - actual send: what the
  system took once the message was on the wire;
* **response time** = receive - intended send:
  what a user who wanted to send on schedule experienced. Measuring from the
  intended time is the wrk2 correction for coordinated omission: when the
  generator falls behind (because it waited for the server or was itself
  overloaded), the delay is charged to the latency instead of disappearing.
* **send lag** = actual send - intended send (0 when early): how far
  behind schedule the generator was. Large lag means the generator, not the
  server, may be the bottleneck.

Late slots are never skipped: a sender that fell behind sends them as fast as
it can, and their response times carry the lag.

The collector (:meth:`harness.measure.aggregation.Collector.record_envelope`) computes all three per delivery.
This module imports neither gevent nor asyncio; the caller does the waiting.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol, runtime_checkable

__all__ = [
    "NS_PER_S",
    "ConstantRate",
    "Pacer",
    "Poisson",
    "Ramp",
    "RateCurve",
    "Schedule",
    "Slot",
    "Steps",
    "build_schedule",
    "parse_stages",
]

NS_PER_S: Final = 1_000_000_000


def _check_positive(name: str, value: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0 ({unit}), got {value!r}")
    return float(value)


def _check_phase(phase: float) -> float:
    if isinstance(phase, bool) or not isinstance(phase, int | float) or not 0.0 <= phase < 1.0:
        raise ValueError(f"phase must be a fraction of a gap in [0, 1), got {phase!r}")
    return float(phase)


def _check_non_negative(name: str, value: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0 ({unit}), got {value!r}")
    return float(value)


@runtime_checkable
class Schedule(Protocol):
    """A finite sequence of intended send times."""

    @property
    def duration_ns(self) -> int:
        """Length of the schedule; every offset is below it."""
        ...

    def offsets_ns(self) -> Iterator[int]:
        """Yield intended send times in ns from the start, non-decreasing."""
        ...


@dataclass(frozen=True, slots=True)
class ConstantRate:
    """Evenly spaced sends: offsets ``φ/rate, (1+φ)/rate, (2+φ)/rate, ...`` below the duration.

    Args:
        rate_per_s: messages per second, > 0.
        duration_s: schedule length in seconds, > 0.
        phase: φ, where in the first gap the first send falls, as a fraction of a gap in [0, 1).

    Raises:
        ValueError: if an argument is not a finite positive number or the phase is outside [0, 1).
    """

    rate_per_s: float
    duration_s: float
    phase: float = 0.0

    def __post_init__(self) -> None:
        _check_positive("rate_per_s", self.rate_per_s, "messages per second")
        _check_positive("duration_s", self.duration_s, "seconds")
        _check_phase(self.phase)

    @property
    def duration_ns(self) -> int:
        return round(self.duration_s * NS_PER_S)

    def offsets_ns(self) -> Iterator[int]:
        end = self.duration_ns
        interval = NS_PER_S / self.rate_per_s
        i = self.phase
        while True:
            # Computed from the index, not accumulated, so rounding never drifts.
            t = round(i * interval)
            if t >= end:
                return
            yield t
            i += 1


@dataclass(frozen=True, slots=True)
class Poisson:
    """Poisson arrivals: exponential gaps with mean ``1/rate``, reproducible from ``seed``.

    The first send is one random gap after the start, not at 0.

    Args:
        rate_per_s: mean messages per second, > 0.
        duration_s: schedule length in seconds, > 0.
        seed: seed of the private random generator; the same seed gives the
            same offsets on every platform.

    Raises:
        ValueError: if an argument is invalid.
    """

    rate_per_s: float
    duration_s: float
    seed: int

    def __post_init__(self) -> None:
        _check_positive("rate_per_s", self.rate_per_s, "messages per second")
        _check_positive("duration_s", self.duration_s, "seconds")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an int, got {self.seed!r}")

    @property
    def duration_ns(self) -> int:
        return round(self.duration_s * NS_PER_S)

    def offsets_ns(self) -> Iterator[int]:
        rng = random.Random(self.seed)
        end = self.duration_ns
        mean_gap_ns = NS_PER_S / self.rate_per_s
        t = 0.0
        while True:
            t += rng.expovariate(1.0) * mean_gap_ns
            offset = round(t)
            if offset >= end:
                return
            yield offset


@dataclass(frozen=True, slots=True)
class Ramp:
    """Rate changing linearly from ``start_rate_per_s`` to ``end_rate_per_s``.

    The n-th send (n = 0, 1, ...) is at the time when the integral of the
    rate reaches n, so the spacing follows the instantaneous rate exactly and
    the count is ``(start + end) / 2 * duration`` (rounded up).

    Args:
        start_rate_per_s: rate at the start, >= 0.
        end_rate_per_s: rate at the end, >= 0; not both 0.
        duration_s: ramp length in seconds, > 0.

    Raises:
        ValueError: if an argument is invalid.
    """

    start_rate_per_s: float
    end_rate_per_s: float
    duration_s: float

    def __post_init__(self) -> None:
        _check_non_negative("start_rate_per_s", self.start_rate_per_s, "messages per second")
        _check_non_negative("end_rate_per_s", self.end_rate_per_s, "messages per second")
        _check_positive("duration_s", self.duration_s, "seconds")
        if self.start_rate_per_s == 0 and self.end_rate_per_s == 0:
            raise ValueError("start_rate_per_s and end_rate_per_s cannot both be 0 (a ramp must send something)")

    @property
    def duration_ns(self) -> int:
        return round(self.duration_s * NS_PER_S)

    def offsets_ns(self) -> Iterator[int]:
        a = float(self.start_rate_per_s)
        slope = (self.end_rate_per_s - a) / self.duration_s  # messages per s^2
        end = self.duration_ns
        n = 0
        while True:
            # Solve a*t + slope*t^2/2 = n for t >= 0, in the form that does not
            # cancel when slope is small: t = 2n / (a + sqrt(a^2 + 2*slope*n)).
            disc = a * a + 2.0 * slope * n
            if disc < 0:
                return  # a falling ramp that ends at rate 0 never reaches n
            denom = a + math.sqrt(disc)
            if n == 0:
                t_s = 0.0
            elif denom == 0:
                return
            else:
                t_s = 2.0 * n / denom
            t = round(t_s * NS_PER_S)
            if t >= end:
                return
            yield t
            n += 1


@dataclass(frozen=True, slots=True, init=False)
class Steps:
    """Piecewise-constant rate: each step is ``(rate_per_s, duration_s)``.

    Within a step sends are evenly spaced from the step's start, at the same phase as in
    :class:`ConstantRate`; a step with rate 0 is a pause.

    Args:
        steps: at least one ``(rate_per_s >= 0, duration_s > 0)`` pair.
        phase: where in each step's first gap its first send falls, as a fraction of a gap in [0, 1).

    Raises:
        ValueError: if ``steps`` is empty, a step is invalid or the phase is outside [0, 1).
    """

    steps: tuple[tuple[float, float], ...]
    phase: float

    def __init__(self, steps: Sequence[tuple[float, float]], phase: float = 0.0) -> None:
        checked: list[tuple[float, float]] = []
        for i, step in enumerate(steps):
            if not isinstance(step, tuple | list) or len(step) != 2:
                raise ValueError(f"steps[{i}] must be a (rate_per_s, duration_s) pair, got {step!r}")
            rate = _check_non_negative(f"steps[{i}] rate_per_s", step[0], "messages per second")
            duration = _check_positive(f"steps[{i}] duration_s", step[1], "seconds")
            checked.append((rate, duration))
        if not checked:
            raise ValueError("steps must contain at least one (rate_per_s, duration_s) pair, got none")
        object.__setattr__(self, "steps", tuple(checked))
        object.__setattr__(self, "phase", _check_phase(phase))

    @property
    def duration_ns(self) -> int:
        return round(sum(d for _, d in self.steps) * NS_PER_S)

    def offsets_ns(self) -> Iterator[int]:
        elapsed_s = 0.0
        for rate, duration in self.steps:
            base = round(elapsed_s * NS_PER_S)
            elapsed_s += duration
            end = round(elapsed_s * NS_PER_S)
            if rate == 0:
                continue
            interval = NS_PER_S / rate
            i = self.phase
            while (t := base + round(i * interval)) < end:
                yield t
                i += 1


@dataclass(frozen=True, slots=True, init=False)
class RateCurve:
    """Sends following a rate that changes over time, with evenly spaced or Poisson arrivals.

    The rate is piecewise linear: each segment is ``(start_rate_per_s, end_rate_per_s, duration_s)``, so a ramp
    through several stages is one segment per stage and steps are segments with equal ends. With ``Λ(t)`` the
    integral of the rate, the n-th send is where ``Λ`` reaches a target: ``n`` itself for ``constant`` arrivals
    (as :class:`Ramp`, which one constant segment reproduces exactly), or the n-th arrival of a unit-rate Poisson
    process for ``poisson`` ones. Mapping unit-rate arrivals through ``Λ⁻¹`` (time rescaling) gives a Poisson
    process whose rate is the curve at every instant, so a burst of Poisson traffic stays Poisson.

    Args:
        segments: at least one ``(start >= 0, end >= 0, duration > 0)`` triple.
        arrival: ``constant`` or ``poisson``.
        seed: seed of the Poisson arrivals (ignored for ``constant``).
        phase: for ``constant`` arrivals, the targets are ``n + phase``; a fraction in [0, 1).

    Raises:
        ValueError: if a segment is invalid, every rate is 0, ``arrival`` is unknown or the phase is outside [0, 1).
    """

    segments: tuple[tuple[float, float, float], ...]
    arrival: Literal["constant", "poisson"]
    seed: int
    phase: float

    def __init__(
        self,
        segments: Sequence[tuple[float, float, float]],
        arrival: Literal["constant", "poisson"],
        seed: int = 0,
        phase: float = 0.0,
    ) -> None:
        checked: list[tuple[float, float, float]] = []
        for i, segment in enumerate(segments):
            if not isinstance(segment, tuple | list) or len(segment) != 3:
                raise ValueError(f"segments[{i}] must be a (start_rate, end_rate, duration_s) triple, got {segment!r}")
            start = _check_non_negative(f"segments[{i}] start rate", segment[0], "messages per second")
            end = _check_non_negative(f"segments[{i}] end rate", segment[1], "messages per second")
            duration = _check_positive(f"segments[{i}] duration_s", segment[2], "seconds")
            checked.append((start, end, duration))
        if not checked:
            raise ValueError("segments must contain at least one (start_rate, end_rate, duration_s) triple, got none")
        if all(start == 0 and end == 0 for start, end, _ in checked):
            raise ValueError("every segment has rate 0: the curve would send nothing")
        if arrival not in ("constant", "poisson"):
            raise ValueError(f"arrival must be 'constant' or 'poisson', got {arrival!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        object.__setattr__(self, "segments", tuple(checked))
        object.__setattr__(self, "arrival", arrival)
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "phase", _check_phase(phase))

    @property
    def duration_ns(self) -> int:
        return round(sum(d for _, _, d in self.segments) * NS_PER_S)

    def _targets(self) -> Iterator[float]:
        if self.arrival == "constant":
            yield from (n + self.phase for n in itertools.count())
            return
        rng = random.Random(self.seed)
        s = 0.0
        while True:
            s += rng.expovariate(1.0)
            yield s

    def offsets_ns(self) -> Iterator[int]:
        end_ns = self.duration_ns
        targets = self._targets()
        target = next(targets)
        mass_before = 0.0  # Λ at the start of the current segment
        elapsed_s = 0.0
        for a, b, d in self.segments:
            slope = (b - a) / d
            mass = (a + b) / 2 * d
            while target - mass_before < mass:
                u = target - mass_before
                # Solve a*τ + slope*τ²/2 = u for τ in [0, d), in the form that does not cancel when slope is small.
                denom = a + math.sqrt(max(0.0, a * a + 2.0 * slope * u))
                tau = 0.0 if u == 0 else (2.0 * u / denom if denom > 0 else d)
                t = round((elapsed_s + min(tau, d)) * NS_PER_S)
                if t >= end_ns:
                    return
                yield t
                target = next(targets)
            mass_before += mass
            elapsed_s += d


def parse_stages(text: str) -> list[tuple[float, float]]:
    """``"rate:seconds,rate:seconds"`` as (rate, seconds) pairs.

    Raises:
        ValueError: naming the stage that is not ``rate:seconds``.
    """
    stages = []
    for i, part in enumerate(p for p in text.split(",") if p.strip()):
        try:
            rate, seconds = part.split(":")
            stages.append((float(rate), float(seconds)))
        except ValueError:
            raise ValueError(f"stage {i} is {part.strip()!r}; expected rate:seconds, e.g. 5:10") from None
    return stages


def build_schedule(
    *,
    arrival: str,
    shape: str,
    rate: float,
    rate_end: float,
    stages: Sequence[tuple[float, float]],
    duration_s: float,
    seed: int,
) -> Schedule:
    """The schedule of one sender from the generator's options.

    Args:
        arrival: ``constant`` (evenly spaced) or ``poisson``; ``ramp`` and ``steps`` are the older spelling of
            that shape with constant arrivals.
        shape: ``constant``, ``ramp`` or ``steps``.
        rate: the rate of a constant shape, and where a ramp starts.
        rate_end: where a ramp without stages ends.
        stages: (rate, seconds) pairs: each held (steps), or reached at the end of its stage (ramp).
        duration_s: length of a constant shape or of a ramp without stages.
        seed: seed of Poisson arrivals, and of the phase of constant ones.

    Constant arrivals start at a phase drawn from ``seed``: senders that start one gap apart (20 users spawned at
    20 per second, each sending 20 per second) would otherwise send in lockstep, every gap a burst of all of them,
    and the queue that burst builds would be measured as the server's latency. With one seed per sender the
    phases are independent, and the same seed gives the same phase in every run, so paired runs share them.

    Raises:
        ValueError: for an unknown arrival or shape, or values a schedule refuses.
    """
    if arrival in ("ramp", "steps"):
        arrival, shape = "constant", arrival
    if arrival not in ("constant", "poisson"):
        raise ValueError(f"arrival must be constant or poisson, got {arrival!r}")
    poisson = arrival == "poisson"
    phase = 0.0 if poisson else random.Random(seed).random()
    if shape == "constant":
        return Poisson(rate, duration_s, seed=seed) if poisson else ConstantRate(rate, duration_s, phase)
    if shape == "steps":
        if not poisson:
            return Steps(stages, phase)
        return RateCurve([(r, r, seconds) for r, seconds in stages], "poisson", seed)
    if shape != "ramp":
        raise ValueError(f"shape must be constant, ramp or steps, got {shape!r}")
    segments, start = [], rate
    for end, seconds in stages or [(rate_end, duration_s)]:
        segments.append((start, end, seconds))
        start = end
    return RateCurve(segments, "poisson" if poisson else "constant", seed, phase)


# Not frozen: one is built per message sent, and a frozen dataclass's __init__ costs three times as much.
@dataclass(slots=True)
class Slot:
    """One scheduled send as handed out by :class:`Pacer`.

    Attributes:
        seq: index of the send in the schedule (0, 1, ...), usable as the
            envelope ``seq``.
        intended_ns: absolute intended send time on the pacer's clock.
        wait_ns: how long to wait before sending (0 if already due or late).
        lag_ns: how late the slot already is at the time it was handed out
            (0 if early).
    """

    seq: int
    intended_ns: int
    wait_ns: int
    lag_ns: int


class Pacer:
    """Hands out the slots of a schedule against a monotonic clock.

    Args:
        schedule: the schedule to follow.
        start_ns: clock reading (e.g. ``time.monotonic_ns()``) that offset 0
            maps to. Several senders sharing a ``start_ns`` share a timeline.
    """

    __slots__ = ("_offsets", "_start_ns", "_next_seq", "max_lag_ns", "late_slots")

    def __init__(self, schedule: Schedule, start_ns: int) -> None:
        self._offsets = schedule.offsets_ns()
        self._start_ns = start_ns
        self._next_seq = 0
        #: Largest lag seen when handing out a slot.
        self.max_lag_ns = 0
        #: Slots that were already due when handed out.
        self.late_slots = 0

    @property
    def start_ns(self) -> int:
        """Clock reading that offset 0 maps to."""
        return self._start_ns

    @property
    def handed_out(self) -> int:
        """Slots handed out so far."""
        return self._next_seq

    def next_slot(self, now_ns: int) -> Slot | None:
        """Return the next slot relative to ``now_ns``, or None when the schedule is done.

        The caller must send every slot it receives (waiting ``wait_ns`` first
        if early); skipping late ones would hide exactly the delays the
        schedule exists to expose.
        """
        offset = next(self._offsets, None)
        if offset is None:
            return None
        intended = self._start_ns + offset
        lag = max(0, now_ns - intended)
        if lag:
            self.late_slots += 1
            self.max_lag_ns = max(self.max_lag_ns, lag)
        slot = Slot(seq=self._next_seq, intended_ns=intended, wait_ns=max(0, intended - now_ns), lag_ns=lag)
        self._next_seq += 1
        return slot
