"""Running a scenario's fault windows, and what they did.

:class:`FaultSchedule` starts a thread that begins each window's fault at its time and ends it at its end (a toxic
on and off, a process killed and restarted, ...: :mod:`harness.faults.injectors`), recording when each really
happened (monotonic and wall clock) and what the injector said it did. :func:`window_figures` then reads the cell's
per-second time series for what a window did: the deliveries during it, and how long after its end the first
delivery came (at the series' one-second resolution).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.faults.injectors import FaultTargets, Injector, injector_for
from harness.scenario.faults import FaultSpec

__all__ = ["FaultSchedule", "FaultWindow", "window_figures"]

logger = logging.getLogger("harness.faults")


@dataclass(slots=True)
class FaultWindow:
    """One window as it happened: its spec, when its fault began and ended (None: never), and what the injector
    said it did then (or the error that stopped it)."""

    spec: FaultSpec
    injector: Injector
    began_wall_s: float | None = None
    began_monotonic_s: float | None = None
    ended_wall_s: float | None = None
    ended_monotonic_s: float | None = None
    began: str | None = None
    ended: str | None = None
    error: str | None = None


class FaultSchedule:
    """Runs ``specs`` over ``targets`` on time, counted from :meth:`start`; :meth:`stop` ends a window still on.

    Raises:
        UnavailableFault: (at construction, before anything runs) a window needs what ``targets`` lacks.
    """

    def __init__(self, targets: FaultTargets, specs: Sequence[FaultSpec]) -> None:
        self.windows = [
            FaultWindow(spec, injector_for(spec, targets)) for spec in sorted(specs, key=lambda s: s.start_s)
        ]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> FaultSchedule:
        t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(t0,), name="fault-schedule", daemon=True)
        self._thread.start()
        return self

    def _run(self, t0: float) -> None:
        for window in self.windows:
            if self._stop.wait(max(0.0, t0 + window.spec.start_s - time.monotonic())):
                return
            window.began_monotonic_s, window.began_wall_s = time.monotonic(), time.time()
            try:
                window.began = window.injector.begin()
            except Exception as exc:
                # Reported with its window; whatever it did change is restored at once, and the run goes on.
                window.error = f"{window.spec.label} could not begin: {type(exc).__name__}: {exc}"
                logger.error("%s", window.error)
                self._end(window)
                continue
            logger.info("fault window %s began: %s", window.spec.label, window.began)
            stopped = self._stop.wait(max(0.0, t0 + window.spec.start_s + window.spec.duration_s - time.monotonic()))
            self._end(window)
            if stopped:
                return

    def _end(self, window: FaultWindow) -> None:
        try:
            window.ended = window.injector.end()
        except Exception as exc:
            # Not restored (a process that did not come back): the figures after this window cannot be trusted.
            failed = f"{window.spec.label} could not end: {type(exc).__name__}: {exc}"
            window.error = f"{window.error}; {failed}" if window.error else failed
            logger.error("%s", window.error)
        window.ended_monotonic_s, window.ended_wall_s = time.monotonic(), time.time()
        logger.info("fault window %s ended: %s", window.spec.label, window.ended)

    def stop(self) -> None:
        """End the schedule; a window still on is ended now (and its end recorded as now)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


def window_figures(window: FaultWindow, points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The window as result.json records it, with what the cell's time series says about it."""
    spec = window.spec
    out: dict[str, Any] = {
        "kind": spec.kind,
        "target": spec.target,
        "label": spec.label,
        "toxic": spec.toxic,
        "path": spec.path if spec.kind == "toxic" else None,
        "direction": spec.direction if spec.kind == "toxic" else None,
        "start_s": spec.start_s,
        "duration_s": spec.duration_s,
        "began_wall_s": window.began_wall_s,
        "ended_wall_s": window.ended_wall_s,
        "deliveries_during": None,
        "sent_during": None,
        "recovered_after_s": None,
        "began": window.began,
        "ended": window.ended,
        "error": window.error,
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
