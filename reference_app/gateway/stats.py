"""What the gateway has seen, as counters a harness can read (the status endpoint and the log lines) [D]."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GatewayStats", "ReaderState", "ReaderTarget"]


@dataclass(frozen=True, slots=True)
class ReaderTarget:
    """The reader beside one kiosk terminal: where to connect, and whose punches its keys make."""

    terminal_id: int
    name: str
    host: str
    port: int


@dataclass(slots=True)
class ReaderState:
    """The live state of one reader's client, for ``GET /readers``."""

    target: ReaderTarget
    connected: bool = False
    connects: int = 0
    failures: int = 0
    punches: int = 0
    last_end: str | None = None
    last_detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "terminal_id": self.target.terminal_id,
            "name": self.target.name,
            "host": self.target.host,
            "port": self.target.port,
            "connected": self.connected,
            "connects": self.connects,
            "failures": self.failures,
            "punches": self.punches,
            "last_end": self.last_end,
            "last_detail": self.last_detail,
        }


@dataclass
class GatewayStats:
    """Counters of one gateway process. Everything runs on one event loop, so plain ints suffice."""

    shard: str = "0/1"
    started: float = field(default_factory=time.monotonic)
    readers: dict[int, ReaderState] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    #: Levels rather than totals (punches waiting for the worker's acknowledgement).
    gauges: dict[str, int] = field(default_factory=dict)

    def add_reader(self, target: ReaderTarget) -> ReaderState:
        state = ReaderState(target)
        self.readers[target.terminal_id] = state
        return state

    def count(self, name: str, amount: int = 1) -> None:
        self.counters[name] += amount

    def gauge(self, name: str, value: int) -> None:
        self.gauges[name] = value

    def error(self, kind: str) -> None:
        self.errors[kind] += 1

    @property
    def connected(self) -> int:
        return sum(1 for reader in self.readers.values() if reader.connected)

    def snapshot(self) -> dict[str, Any]:
        """The body of ``GET /status`` and of each ``eks-gateway-status`` log line (see docs/eks.md)."""
        return {
            "shard": self.shard,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "readers": len(self.readers),
            "connected": self.connected,
            "reconnects": self.counters["reconnects"],
            "events": {name: self.counters[name] for name in sorted(self.counters)},
            "errors": {kind: self.errors[kind] for kind in sorted(self.errors)},
            "gauges": dict(sorted(self.gauges.items())),
        }
