"""Reconnect delays: capped exponential backoff with full jitter [D].

After a mass reboot every reader fails at the same moment. With a plain exponential backoff every gateway
client would then retry in lock-step, and each wave of connects would meet the same still-rebooting
readers. "Full jitter" draws each delay uniformly from ``[0, min(cap, base * 2**failures)]``, which spreads
the retries of N clients over the whole window (see the AWS architecture blog "Exponential Backoff And
Jitter", and docs/eks.md#reconnect-policy).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["Backoff", "BackoffPolicy"]


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """The bounds of the reconnect delay.

    Args:
        base_s: the ceiling of the first delay after a failure.
        max_s: no delay is ever longer than this.
    """

    base_s: float = 0.5
    max_s: float = 30.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.base_s) and self.base_s > 0):
            raise ValueError(f"backoff base must be a number > 0 seconds, got {self.base_s!r}")
        if not (math.isfinite(self.max_s) and self.max_s >= self.base_s):
            raise ValueError(f"backoff maximum must be a number >= the base ({self.base_s} s), got {self.max_s!r}")

    def ceiling(self, failures: int) -> float:
        """The largest delay after ``failures`` consecutive failures (0: the first one)."""
        if failures < 0:
            raise ValueError(f"failures must be >= 0, got {failures}")
        # 2**failures overflows a float long before 1100 failures; the cap is reached far earlier anyway.
        if failures >= 64:
            return self.max_s
        return min(self.max_s, self.base_s * (2.0**failures))


class Backoff:
    """The failure count of one reader and the delays drawn from it.

    A session that ended after it was proven healthy calls ``reset``; every other ending calls ``next_delay``,
    which draws from the current ceiling and then doubles it (up to the cap).
    """

    def __init__(self, policy: BackoffPolicy, rng: random.Random | None = None) -> None:
        self.policy = policy
        self.failures = 0
        self._rng = rng if rng is not None else random.Random()

    def next_delay(self) -> float:
        delay = self._rng.uniform(0.0, self.policy.ceiling(self.failures))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
