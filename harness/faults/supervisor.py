"""A supervisor for the processes a chaos run may lose: what systemd's ``Restart=always`` does in production.

``runworker`` exits on a channel-layer error (a Redis restart ends its ``BZPOPMIN`` with ConnectionError) and restarts
nothing itself, and neither does the EKS gateway; a deployment runs both under a supervisor, so a chaos run does
too. :class:`ProcessSupervisor` polls its :class:`~harness.faults.injectors.Supervised` processes and starts again
any that exited on their own, recording when and why. A process a ``kill`` window holds down is left alone until
the window ends (the window restarts it). A process that dies again within ``quick_s`` of its restart (a worker
while Redis is still down) waits twice as long each time before the next, up to ``max_delay_s``, as systemd's
``RestartSec`` with a burst limit would, so a restart loop does not take the machine's cores from the run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from harness.faults.injectors import Supervised

__all__ = ["ProcessSupervisor", "Restart"]

logger = logging.getLogger("harness.faults")


@dataclass(frozen=True, slots=True)
class Restart:
    """One process the supervisor found dead and started again."""

    process: str
    wall_s: float
    monotonic_s: float
    exit_code: int | None
    old_pid: int
    new_pids: tuple[int, ...]
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "new_pids": list(self.new_pids)}


class ProcessSupervisor:
    """Restarts ``supervised`` processes that exit on their own, every ``poll_s``, until :meth:`stop`."""

    def __init__(
        self,
        supervised: Mapping[str, Supervised],
        *,
        poll_s: float = 0.2,
        quick_s: float = 5.0,
        max_delay_s: float = 4.0,
    ) -> None:
        self.supervised = dict(supervised)
        self.poll_s = poll_s
        self.quick_s = quick_s
        self.max_delay_s = max_delay_s
        self.restarts: list[Restart] = []
        # Per process: when it was last restarted, and how many quick deaths in a row it has had.
        self._last: dict[str, tuple[float, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ProcessSupervisor:
        self._thread = threading.Thread(target=self._run, name="process-supervisor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            for target in self.supervised.values():
                if not target.watched:
                    continue
                with target.lock:
                    if target.held:
                        continue
                    dead = [p for p in target.current() if not p.alive()]
                    if dead and self._due(target.name):
                        self._restart(target, dead[0].pid, dead[0].returncode())

    def _due(self, name: str) -> bool:
        last = self._last.get(name)
        if last is None:
            return True
        at, quick = last
        now = time.monotonic()
        if now - at > self.quick_s:
            self._last[name] = (at, 0)
            return True
        delay: float = min(self.max_delay_s, self.poll_s * 2.0**quick)
        return now - at >= delay

    def _restart(self, target: Supervised, old_pid: int, code: int | None) -> None:
        wall, mono = time.time(), time.monotonic()
        previous = self._last.get(target.name)
        quick = previous[1] + 1 if previous is not None and mono - previous[0] <= self.quick_s else 0
        self._last[target.name] = (mono, quick)
        try:
            started = tuple(p.pid for p in target.restart())
        except Exception as exc:
            # Tried again at the next poll; each failed attempt is on record.
            self.restarts.append(Restart(target.name, wall, mono, code, old_pid, (), f"{type(exc).__name__}: {exc}"))
            logger.error("could not restart %s: %s", target.name, exc)
            return
        self.restarts.append(Restart(target.name, wall, mono, code, old_pid, started))
        target.log.append((mono, f"{target.name} pid {old_pid} exited (code {code}); restarted as {started}"))
        logger.warning("%s pid %s exited with code %s; restarted as pid(s) %s", target.name, old_pid, code, started)
