"""A hiccup meter: how late a thread that only sleeps wakes up, as a gauge of stalls of the whole machine.

A thread asks for 1 ms sleeps and records how much later than asked it woke. A stall of the VM (steal, a noisy
neighbour, a swap storm) delays every process alike, so a long oversleep here during a trial says the trial's
latencies were disturbed by the machine, not by the server under test (the idea of Gil Tene's jHiccup).
"""

from __future__ import annotations

import threading
import time

__all__ = ["HiccupMeter"]


class HiccupMeter:
    """Measures the longest oversleep of a 1 ms sleep between :meth:`start` and :meth:`stop`.

    Args:
        resolution_s: the sleep asked for each time.
    """

    def __init__(self, resolution_s: float = 0.001) -> None:
        self.resolution_s = resolution_s
        self.max_ms = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            before = time.monotonic()
            time.sleep(self.resolution_s)
            late = time.monotonic() - before - self.resolution_s
            self.samples += 1
            if late * 1000 > self.max_ms:
                self.max_ms = late * 1000

    def start(self) -> HiccupMeter:
        self._thread = threading.Thread(target=self._loop, name="hiccup-meter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> float:
        """Stop and return the longest oversleep in ms."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        return self.max_ms

    def __enter__(self) -> HiccupMeter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
