"""How long an emulated reader takes to answer: a seeded distribution [D].

The real service time of reads and writes is not published; the anchors propose uniform 20-80 ms.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass

__all__ = ["Distribution", "ServiceTime"]


class Distribution(enum.StrEnum):
    FIXED = "fixed"
    UNIFORM = "uniform"
    LOGNORMAL = "lognormal"


@dataclass(frozen=True, slots=True)
class ServiceTime:
    """A service-time distribution in seconds.

    ``fixed``: always ``a``. ``uniform``: between ``a`` and ``b``. ``lognormal``: median ``a``, shape
    (sigma of the underlying normal) ``b``, so a heavy tail can be tried without changing the median.
    """

    distribution: Distribution
    a: float
    b: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.a) and math.isfinite(self.b)) or self.a < 0 or self.b < 0:
            raise ValueError(f"service time parameters must be finite and >= 0, got {self.a}, {self.b}")
        if self.distribution is Distribution.UNIFORM and self.b < self.a:
            raise ValueError(f"uniform service time needs low <= high, got {self.a}, {self.b}")
        if self.distribution is Distribution.LOGNORMAL and self.a == 0:
            raise ValueError("lognormal service time needs a median > 0")

    @classmethod
    def fixed(cls, seconds: float) -> ServiceTime:
        return cls(Distribution.FIXED, seconds)

    @classmethod
    def uniform(cls, low: float, high: float) -> ServiceTime:
        return cls(Distribution.UNIFORM, low, high)

    @classmethod
    def lognormal(cls, median: float, sigma: float) -> ServiceTime:
        return cls(Distribution.LOGNORMAL, median, sigma)

    @classmethod
    def parse(cls, spec: str) -> ServiceTime:
        """Parse ``fixed:S``, ``uniform:LOW,HIGH`` or ``lognormal:MEDIAN,SIGMA`` (seconds)."""
        name, _, params = spec.partition(":")
        try:
            distribution = Distribution(name)
        except ValueError:
            choices = ", ".join(d.value for d in Distribution)
            raise ValueError(f"unknown service-time distribution {name!r}; use one of {choices}") from None
        try:
            values = [float(v) for v in params.split(",")] if params else []
        except ValueError:
            raise ValueError(f"service time {spec!r}: parameters must be numbers") from None
        wanted = 1 if distribution is Distribution.FIXED else 2
        if len(values) != wanted:
            raise ValueError(f"service time {spec!r}: {distribution.value} takes {wanted} number(s)")
        return cls(distribution, *values)

    def draw(self, rng: random.Random) -> float:
        if self.distribution is Distribution.FIXED:
            return self.a
        if self.distribution is Distribution.UNIFORM:
            return rng.uniform(self.a, self.b)
        return rng.lognormvariate(math.log(self.a), self.b)

    def __str__(self) -> str:
        if self.distribution is Distribution.FIXED:
            return f"fixed:{self.a:g}"
        return f"{self.distribution.value}:{self.a:g},{self.b:g}"
