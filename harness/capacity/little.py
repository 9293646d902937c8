"""Little's law on a trial: the messages in flight should equal throughput × time in flight (L = λW).

Two independent readings of one trial:

- **L measured**: at every second boundary of the send window, the deliveries owed so far (messages sent × the
  deliveries each one makes) minus those made, from the generator's per-second counts; averaged.
- **λW**: deliveries per second times the mean service time (actual send → receive) of the HDR histogram.

In a steady state they agree; a gap beyond :data:`GAP_LIMIT` says the trial was not steady (a queue still growing
at the end), that deliveries went unaccounted, or that latencies were taken from the wrong clock.

What limits the reading, so it is only judged when it can resolve 10 %: a delivery is counted in its second when
the generator *handles* it, up to one receive batch (10 ms) after it was read and timed, which adds up to
λ × 10 ms to L; and a handful of instants sample L's time average only roughly. The check is therefore made when
the mean time in flight is at least :data:`MIN_LATENCY_S` (the batch then biases L by at most 10 %) and at least
:data:`MIN_IN_FLIGHT` deliveries are in flight; otherwise it says why it was not made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["GAP_LIMIT", "MIN_IN_FLIGHT", "MIN_LATENCY_S", "LittleCheck", "little_check"]

GAP_LIMIT: Final = 0.10
MIN_LATENCY_S: Final = 0.1
MIN_IN_FLIGHT: Final = 20.0


@dataclass(frozen=True, slots=True)
class LittleCheck:
    """The two readings and what they say; ``gap`` is L measured / λW − 1, None when not judged."""

    in_flight: float | None
    throughput_per_s: float
    latency_mean_s: float | None
    expected_in_flight: float | None
    gap: float | None
    flagged: bool
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def little_check(
    seconds: Sequence[tuple[int, int, int]],
    *,
    window_s: float,
    deliveries_per_send: float,
    latency_mean_s: float | None,
) -> LittleCheck:
    """Compare the two readings.

    Args:
        seconds: (epoch second, messages sent, deliveries counted) for every second of the trial, in order.
        window_s: the length of the send window (whole seconds of the counts would misstate it by up to one).
        deliveries_per_send: the deliveries each message makes (expected deliveries / messages sent).
        latency_mean_s: mean service time of the deliveries, None without any.
    """
    sending = [s for s in seconds if s[1] > 0]
    received = sum(s[2] for s in seconds)
    if not sending or latency_mean_s is None or deliveries_per_send <= 0:
        return LittleCheck(None, 0.0, latency_mean_s, None, None, False, "not made: nothing was sent and timed")
    first, last = sending[0][0], sending[-1][0]
    # Every delivery counted belongs to a message of the window, those read after its end included.
    throughput = received / window_s
    expected = throughput * latency_mean_s
    owed = delivered = 0.0
    samples: list[float] = []
    for epoch, sent, got in seconds:
        owed += sent * deliveries_per_send
        delivered += got
        # The boundaries at the ends of the seconds strictly inside the send window: the first one is at least a
        # second after the first send, so the flight has filled (W is under a second wherever the check is judged).
        if first < epoch < last:
            samples.append(owed - delivered)
    in_flight = sum(samples) / len(samples) if samples else None
    why = None
    if latency_mean_s >= 1.0:
        why = f"a mean of {latency_mean_s:.3g} s in flight is longer than the one-second counts can follow"
    elif latency_mean_s < MIN_LATENCY_S or expected < MIN_IN_FLIGHT or in_flight is None:
        why = (
            f"λW = {expected:.3g} deliveries in flight at a mean of {latency_mean_s * 1000:.3g} ms; per-second counts "
            f"resolve 10 % only from {MIN_LATENCY_S * 1000:g} ms and {MIN_IN_FLIGHT:g} in flight ({received:,} "
            "deliveries counted)"
        )
    if why is not None or in_flight is None:
        return LittleCheck(in_flight, throughput, latency_mean_s, expected, None, False, f"not judged: {why}")
    gap = in_flight / expected - 1
    flagged = abs(gap) > GAP_LIMIT
    return LittleCheck(
        in_flight,
        throughput,
        latency_mean_s,
        expected,
        gap,
        flagged,
        f"L measured {in_flight:,.1f} vs λW {expected:,.1f} ({throughput:,.1f}/s × {latency_mean_s * 1000:,.1f} ms): "
        f"{gap:+.0%}{' beyond ±10 %: not a steady state, unaccounted deliveries or a clock mix-up' if flagged else ''}",
    )
