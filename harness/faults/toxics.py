"""What a fault does to the bytes on one direction of a TCP link: Toxiproxy's vocabulary, as pure decisions.

This kernel has no netem and Toxiproxy's binaries cannot be fetched here (docs/anchors: chaos and scale-out), so the
harness proxies TCP itself (:mod:`harness.faults.proxy`) and asks a :class:`LinkState` what to do with each chunk it
reads: forward it at some time, hold it for ever, or tear the connection down. No sockets, no clock of its own:
the caller passes the time, so every decision is repeatable from a seed.

Toxics (one per direction at a time):

* :class:`Latency`: each chunk leaves ``delay_ms`` ± ``jitter_ms`` (uniform, seeded) after it was read, never
  before the chunk read before it (TCP keeps order).
* :class:`Bandwidth`: at most ``bytes_per_s``; a chunk leaves when the bytes before it have drained.
* :class:`Blackhole`: chunks are swallowed and the connection stays open (Toxiproxy's ``timeout`` with 0): a peer
  that stopped answering.
* :class:`HalfOpen`: the far side is closed (it sees the connection end) while the near side is left open and
  silent: a peer that vanished without a FIN, as after a crash or a network partition. Set on a direction, it
  closes the side that direction writes to and swallows what comes from the other.
* :class:`ResetPeer`: the connection is reset (RST) as soon as a chunk comes, or at once for new connections.
* :class:`LimitData`: after ``bytes`` bytes in this direction the connection is closed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = [
    "DIRECTIONS",
    "Bandwidth",
    "Direction",
    "Blackhole",
    "Forward",
    "HalfOpen",
    "Latency",
    "LimitData",
    "LinkState",
    "ResetPeer",
    "Toxic",
    "TOXICS",
    "parse_toxic",
]

_NS: Final = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Latency:
    delay_ms: float
    jitter_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Bandwidth:
    bytes_per_s: float


@dataclass(frozen=True, slots=True)
class Blackhole:
    pass


@dataclass(frozen=True, slots=True)
class HalfOpen:
    pass


@dataclass(frozen=True, slots=True)
class ResetPeer:
    pass


@dataclass(frozen=True, slots=True)
class LimitData:
    bytes: int


Toxic = Latency | Bandwidth | Blackhole | HalfOpen | ResetPeer | LimitData
#: The one table of toxics: name -> class, and the parameters each takes (name -> (type, unit)).
TOXICS: Final[dict[str, tuple[type, dict[str, str]]]] = {
    "latency": (Latency, {"delay_ms": "ms", "jitter_ms": "ms"}),
    "bandwidth": (Bandwidth, {"bytes_per_s": "bytes/s"}),
    "blackhole": (Blackhole, {}),
    "half_open": (HalfOpen, {}),
    "reset_peer": (ResetPeer, {}),
    "limit_data": (LimitData, {"bytes": "bytes"}),
}


def parse_toxic(text: str) -> Toxic:
    """``latency:delay_ms=50,jitter_ms=10``, ``blackhole``, ``bandwidth:bytes_per_s=10000`` …

    Raises:
        ValueError: naming the toxic or parameter that is wrong and what was expected.
    """
    name, _, params = text.partition(":")
    name = name.strip()
    if name not in TOXICS:
        raise ValueError(f"toxic {name!r}: expected one of {', '.join(TOXICS)}")
    cls, accepted = TOXICS[name]
    values: dict[str, float | int] = {}
    for item in filter(None, (p.strip() for p in params.split(","))):
        key, sep, raw = item.partition("=")
        if not sep or key not in accepted:
            expected = ", ".join(f"{k}=<{u}>" for k, u in accepted.items()) or "no parameters"
            raise ValueError(f"toxic {name}: {item!r}: expected {expected}")
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"toxic {name}: {key}={raw!r}: expected a number of {accepted[key]}") from None
        if not (math.isfinite(number) and number >= 0):
            raise ValueError(f"toxic {name}: {key}={raw}: expected a number >= 0")
        values[key] = int(number) if key == "bytes" else number
    missing = [k for k in accepted if k not in values and k not in ("jitter_ms",)]
    if missing:
        raise ValueError(f"toxic {name}: missing {', '.join(missing)}")
    if name == "bandwidth" and not values["bytes_per_s"] > 0:
        raise ValueError("toxic bandwidth: bytes_per_s must be > 0")
    toxic: Toxic = cls(**values)
    return toxic


@dataclass(frozen=True, slots=True)
class Forward:
    """What to do with one chunk: send it at ``at_ns`` (None: hold it for ever), or ``reset`` / ``close`` the
    connection."""

    at_ns: int | None
    reset: bool = False
    close: bool = False


@dataclass(slots=True)
class LinkState:
    """One direction of one proxied connection: the toxic on it and what it has let through so far."""

    seed: int = 0
    toxic: Toxic | None = None
    _rng: random.Random = field(init=False)
    _last_ns: int = field(default=0, init=False)
    _sent: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def decide(self, size: int, now_ns: int) -> Forward:
        """What to do with a chunk of ``size`` bytes read at ``now_ns``."""
        toxic = self.toxic
        at = max(now_ns, self._last_ns)
        if isinstance(toxic, ResetPeer):
            return Forward(None, reset=True)
        if isinstance(toxic, Blackhole | HalfOpen):
            return Forward(None)
        if isinstance(toxic, LimitData):
            if self._sent + size > toxic.bytes:
                return Forward(None, close=True)
        elif isinstance(toxic, Latency):
            jitter = self._rng.uniform(-toxic.jitter_ms, toxic.jitter_ms) if toxic.jitter_ms else 0.0
            at = max(at, now_ns + round(max(0.0, toxic.delay_ms + jitter) * 1e6))
        elif isinstance(toxic, Bandwidth):
            at = at + round(size / toxic.bytes_per_s * _NS)
        self._last_ns = at
        self._sent += size
        return Forward(at)


#: ``upstream``: client → server bytes; ``downstream``: server → client.
Direction = Literal["upstream", "downstream"]
DIRECTIONS: Final[tuple[Direction, ...]] = ("upstream", "downstream")
