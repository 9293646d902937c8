"""Running a scenario's fault windows against a :class:`~harness.faults.proxy.FaultProxy`, and what they did.

:class:`FaultSchedule` starts a thread that puts each window's toxic on at its time and takes it off at its end,
recording when each really happened (monotonic and wall clock). :func:`window_figures` then reads the cell's
per-second time series for what a window did: the deliveries during it, and how long after its end the first
delivery came (at the series' one-second resolution).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.faults.proxy import FaultProxy
from harness.faults.toxics import DIRECTIONS, Direction
from harness.scenario.faults import FaultSpec

__all__ = ["FaultSchedule", "FaultWindow", "window_figures"]


@dataclass(slots=True)
class FaultWindow:
    """One window as it happened: its spec, and when its toxic went on and came off (None: never)."""

    spec: FaultSpec
    began_wall_s: float | None = None
    began_monotonic_s: float | None = None
    ended_wall_s: float | None = None
    ended_monotonic_s: float | None = None


class FaultSchedule:
    """Puts ``specs`` on ``proxy`` on time, counted from :meth:`start`; :meth:`stop` takes any toxic off."""

    def __init__(self, proxy: FaultProxy, specs: Sequence[FaultSpec]) -> None:
        self.proxy = proxy
        self.windows = [FaultWindow(spec) for spec in sorted(specs, key=lambda s: s.start_s)]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> FaultSchedule:
        t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(t0,), name="fault-schedule", daemon=True)
        self._thread.start()
        return self

    def _directions(self, window: FaultWindow) -> tuple[Direction, ...]:
        d = window.spec.direction
        return DIRECTIONS if d == "both" else (d,)

    def _run(self, t0: float) -> None:
        for window in self.windows:
            if self._stop.wait(max(0.0, t0 + window.spec.start_s - time.monotonic())):
                return
            toxic = window.spec.parsed()
            for direction in self._directions(window):
                self.proxy.set_toxic(direction, toxic)
            window.began_monotonic_s, window.began_wall_s = time.monotonic(), time.time()
            ended = self._stop.wait(max(0.0, t0 + window.spec.start_s + window.spec.duration_s - time.monotonic()))
            for direction in self._directions(window):
                self.proxy.set_toxic(direction, None)
            window.ended_monotonic_s, window.ended_wall_s = time.monotonic(), time.time()
            if ended:
                return

    def stop(self) -> None:
        """End the schedule; a window still on is taken off now (and its end recorded as now)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


def window_figures(window: FaultWindow, points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The window as result.json records it, with what the cell's time series says about it."""
    spec = window.spec
    out: dict[str, Any] = {
        "toxic": spec.toxic,
        "path": spec.path,
        "direction": spec.direction,
        "start_s": spec.start_s,
        "duration_s": spec.duration_s,
        "began_wall_s": window.began_wall_s,
        "ended_wall_s": window.ended_wall_s,
        "deliveries_during": None,
        "sent_during": None,
        "recovered_after_s": None,
    }
    if window.began_wall_s is None or window.ended_wall_s is None:
        return out
    begin, end = int(window.began_wall_s), int(window.ended_wall_s)
    during = [p for p in points if begin <= int(p["epoch_s"]) <= end]
    out["deliveries_during"] = sum(int(p["received"]) for p in during)
    out["sent_during"] = sum(int(p["sent"]) for p in during)
    after = [int(p["epoch_s"]) for p in points if int(p["epoch_s"]) > end and int(p["received"]) > 0]
    # Whole seconds of the series: the first second after the end that saw a delivery.
    out["recovered_after_s"] = (min(after) - end) if after else None
    return out
