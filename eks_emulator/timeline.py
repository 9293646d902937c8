"""One heap of scheduled callbacks for a whole fleet, driven by a single event-loop timer [D].

Thousands of devices with a sleeping task each would cost a task and a timer per device; here the whole
workload is one heap, and only its earliest entry has a timer armed on the loop.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable

__all__ = ["Timeline"]

logger = logging.getLogger(__name__)


class Timeline:
    """Callbacks scheduled at offsets (seconds) from ``start()``; entries may be added before or after it."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], object]]] = []
        self._order = itertools.count()
        self._origin: float | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None
        self.fired = 0

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def started(self) -> bool:
        return self._origin is not None

    def elapsed(self) -> float:
        """Seconds since ``start()`` (0 before)."""
        if self._origin is None:
            return 0.0
        return asyncio.get_running_loop().time() - self._origin

    def start(self) -> None:
        """Fix offset 0 at the current loop time and begin firing due entries."""
        self._origin = asyncio.get_running_loop().time()
        self._arm()

    def at(self, offset_s: float, callback: Callable[[], object]) -> None:
        """Run ``callback`` at ``offset_s`` after start; entries with equal offsets run in insertion order."""
        heapq.heappush(self._heap, (offset_s, next(self._order), callback))
        self._arm()

    def after(self, delay_s: float, callback: Callable[[], object]) -> None:
        """Run ``callback`` ``delay_s`` from now (requires a started timeline)."""
        self.at(self.elapsed() + delay_s, callback)

    def close(self) -> None:
        """Drop every pending entry and the armed timer."""
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._armed_for = None
        self._heap.clear()

    def _arm(self) -> None:
        if self._origin is None or not self._heap:
            return
        when = self._origin + self._heap[0][0]
        if self._handle is not None:
            if self._armed_for is not None and self._armed_for <= when:
                return
            self._handle.cancel()
        self._armed_for = when
        self._handle = asyncio.get_running_loop().call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_for = None
        assert self._origin is not None
        now = asyncio.get_running_loop().time() - self._origin
        while self._heap and self._heap[0][0] <= now:
            _, _, callback = heapq.heappop(self._heap)
            self.fired += 1
            try:
                callback()
            except Exception:
                # One bad entry (e.g. an insert into a device that is shutting down) must not stop the rest.
                logger.exception("timeline entry failed")
        self._arm()
