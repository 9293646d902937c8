"""How long this process's garbage collections stop it, per generation, and a log line for each long one.

A server process holding thousands of sockets has millions of objects, and a full (generation 2) collection walks
all of them with the event loop stopped: every socket's messages wait. Capacity searches saw the p99 of a trial set
by one second in which deliveries waited about half a second, on processes far from a full core; this makes such
stops visible. ``GET /healthz`` reports the counts and the longest pause per generation, and a collection of at
least :data:`LOGGED_MS` is written to standard error as a ``reference_app.gc`` WARNING line, with its wall-clock
time, so a run can line it up with its own seconds.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["LOGGED_MS", "GcPauses", "install", "pauses"]

#: Collections at least this long are logged one by one.
LOGGED_MS: Final = 50.0


@dataclass
class GcPauses:
    """Collections seen since :func:`install`, per generation (0, 1, 2)."""

    counts: list[int] = field(default_factory=lambda: [0, 0, 0])
    total_ms: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    longest_ms: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    _started: float | None = None

    def callback(self, phase: str, info: dict[str, Any]) -> None:
        """A ``gc.callbacks`` entry: called at the start and the stop of every collection."""
        if phase == "start":
            self._started = time.perf_counter()
            return
        if self._started is None:  # installed in the middle of a collection
            return
        ms = (time.perf_counter() - self._started) * 1000
        self._started = None
        generation = int(info["generation"])
        self.counts[generation] += 1
        self.total_ms[generation] += ms
        self.longest_ms[generation] = max(self.longest_ms[generation], ms)
        if ms >= LOGGED_MS:
            # Written straight to stderr: a collection can start inside any code, the logging module's own
            # included, and a handler called from here could find its lock held.
            now = time.time()
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now % 1 * 1000):03d}"
            line = (
                f"{stamp} WARNING reference_app.gc [{os.getpid()}] gc generation {generation} collection stopped the "
                f"process for {ms:.1f} ms (collected {int(info.get('collected', 0))}, ended at {now:.3f})\n"
            )
            os.write(2, line.encode())

    def as_dict(self) -> dict[str, Any]:
        return {
            f"gen{g}": {
                "collections": self.counts[g],
                "total_ms": round(self.total_ms[g], 1),
                "longest_ms": round(self.longest_ms[g], 1),
            }
            for g in range(3)
        }


_pauses: GcPauses | None = None


def install() -> GcPauses:
    """Start measuring this process's collections (once; later calls return the same record)."""
    global _pauses
    if _pauses is None:
        _pauses = GcPauses()
        gc.callbacks.append(_pauses.callback)
    return _pauses


def pauses() -> GcPauses | None:
    """The record :func:`install` started, or None if it was not called in this process."""
    return _pauses
