"""The wire log: bytes both ways, kept for every connection and attached to failures."""

from __future__ import annotations

import time

__all__ = ["WireLog"]

_LOG_ENTRIES = 120
_LOG_BYTES = 48


class WireLog:
    """Bytes both ways, time-stamped and truncated; kept for every case, attached to failures only."""

    def __init__(self) -> None:
        self._t0 = time.perf_counter()
        self.entries: list[str] = []
        self.dropped = 0

    def add(self, direction: str, text: str) -> None:
        if len(self.entries) >= _LOG_ENTRIES:
            self.dropped += 1
            return
        self.entries.append(f"{time.perf_counter() - self._t0:8.3f}s {direction} {text}")

    def data(self, direction: str, data: bytes) -> None:
        shown = data[:_LOG_BYTES].hex(" ")
        more = f" ... (+{len(data) - _LOG_BYTES}B)" if len(data) > _LOG_BYTES else ""
        self.add(direction, f"{len(data)}B {shown}{more}")

    def lines(self) -> list[str]:
        tail = [f"... {self.dropped} more entries not kept"] if self.dropped else []
        return self.entries + tail
