"""What each kind of fault window does when it begins and when it ends (docs/faults.md).

A run offers what its faults may act on as :class:`FaultTargets`: the fault proxies of its paths, the stack's Redis,
its supervised processes (the timeclock worker, the EKS gateways), and the EKS emulator's control API.
:func:`injector_for` turns a window's :class:`~harness.scenario.faults.FaultSpec` into an :class:`Injector` over them;
each ``begin`` and ``end`` returns a sentence of what it did (pids, connections closed), which the window records.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.faults.proxy import FaultProxy
from harness.faults.toxics import DIRECTIONS, Direction
from harness.scenario.faults import FaultSpec
from harness.stack.processes import SignalledProcess
from harness.stack.redis import RedisServer

__all__ = ["FaultTargets", "Injector", "Supervised", "UnavailableFault", "injector_for"]


class UnavailableFault(RuntimeError):
    """The run offers nothing the fault could act on (a Redis fault on the in-memory layer, say)."""


class Injector(Protocol):
    def begin(self) -> str: ...

    def end(self) -> str: ...


@dataclass
class Supervised:
    """Processes the harness keeps running as a supervisor would: ``restart`` starts a killed one again.

    Args:
        current: the processes as they are now (a restart replaces them).
        restart: start them again after a kill; returns the new processes.
    """

    name: str
    current: Callable[[], Sequence[SignalledProcess]]
    restart: Callable[[], Sequence[SignalledProcess]]
    #: (monotonic time, what happened) of every kill and restart, for the run's log.
    log: list[tuple[float, str]] = field(default_factory=list)
    #: Held down by a kill window: a supervisor must not restart it before the window ends.
    held: bool = False
    #: Other targets a kill window on this one holds down too: the whole server while one of its processes is down,
    #: lest the supervisor restart that one early (they share this target's lock).
    holds: tuple[Supervised, ...] = ()
    #: Whether the supervisor restarts it when it dies on its own; False when another target's restart covers it
    #: (the first of several server workers: the server's own restart brings back whichever of them died).
    watched: bool = True
    #: Taken by whoever kills, restarts or inspects the processes (the fault schedule, the supervisor).
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class FaultTargets:
    proxies: dict[str, FaultProxy] = field(default_factory=dict)
    redis: RedisServer | None = None
    supervised: dict[str, Supervised] = field(default_factory=dict)
    #: POST a fault (the control API's body) to the EKS emulator; returns the readers it went into.
    eks_inject: Callable[[dict[str, Any]], list[int]] | None = None
    #: Clear every fault of the EKS emulator.
    eks_clear: Callable[[], None] | None = None


def _directions(spec: FaultSpec) -> tuple[Direction, ...]:
    return DIRECTIONS if spec.direction == "both" else (spec.direction,)


@dataclass
class _Toxic:
    proxy: FaultProxy
    spec: FaultSpec

    def begin(self) -> str:
        toxic = self.spec.parsed()
        for direction in _directions(self.spec):
            self.proxy.set_toxic(direction, toxic)
        return f"{self.spec.toxic} on the {self.spec.target} path ({self.spec.direction})"

    def end(self) -> str:
        for direction in _directions(self.spec):
            self.proxy.set_toxic(direction, None)
        return "toxic off"


@dataclass
class _ClientKill:
    redis: RedisServer
    client_type: str

    def begin(self) -> str:
        closed = self.redis.client_kill(self.client_type)
        return f"CLIENT KILL TYPE {self.client_type} closed {closed} connection(s)"

    def end(self) -> str:
        return "nothing to undo"


@dataclass
class _Flush:
    redis: RedisServer

    def begin(self) -> str:
        self.redis.flush()
        return "FLUSHALL: every key gone (queued messages, group memberships), connections kept"

    def end(self) -> str:
        return "nothing to undo"


@dataclass
class _ProcessKill:
    target: Supervised
    sig: signal.Signals

    def begin(self) -> str:
        with self.target.lock:
            for held in (self.target, *self.target.holds):
                held.held = True
            # The ones signalled, not whatever runs by the time they are waited for (a master replaces its worker).
            killed = list(self.target.current())
            for process in killed:
                process.send_signal(self.sig)
        pids = [process.pid for process in killed]
        for process in killed:
            process.wait_exit(10.0)
            # A TERM that is ignored for 10 s is not the fault asked for: say so rather than restart over it.
            if process.alive():
                raise RuntimeError(f"{process.name} (pid {process.pid}) did not exit within 10 s of {self.sig.name}")
        said = f"{self.target.name} pid(s) {', '.join(map(str, pids))} killed with {self.sig.name}"
        self.target.log.append((time.monotonic(), said))
        return said

    def end(self) -> str:
        began = time.monotonic()
        with self.target.lock:
            try:
                started = self.target.restart()
            finally:
                for held in (self.target, *self.target.holds):
                    held.held = False
        said = (
            f"{self.target.name} restarted as pid(s) {', '.join(str(p.pid) for p in started)} "
            f"in {time.monotonic() - began:.2f} s"
        )
        self.target.log.append((time.monotonic(), said))
        return said


@dataclass
class _ProcessPause:
    target: Supervised
    #: The processes stopped: the ones continued, whatever runs by then.
    paused: list[SignalledProcess] = field(default_factory=list)

    def begin(self) -> str:
        self.paused = list(self.target.current())
        for process in self.paused:
            process.send_signal(signal.SIGSTOP)
        return f"{self.target.name} pid(s) {', '.join(str(p.pid) for p in self.paused)} stopped (SIGSTOP)"

    def end(self) -> str:
        gone = [p for p in self.paused if not p.alive()]
        for process in self.paused:
            if process.alive():
                process.send_signal(signal.SIGCONT)
        continued = ", ".join(str(p.pid) for p in self.paused if p.alive())
        said = f"{self.target.name} pid(s) {continued} continued (SIGCONT)"
        if gone:
            # Uvicorn's master kills a worker that stops answering its health check, and starts another.
            said += f"; pid(s) {', '.join(str(p.pid) for p in gone)} had been killed meanwhile"
        return said


@dataclass
class _Eks:
    inject: Callable[[dict[str, Any]], list[int]]
    clear: Callable[[], None]
    spec: FaultSpec

    def begin(self) -> str:
        body: dict[str, Any] = {
            "kind": self.spec.target,
            "fraction": self.spec.fraction,
            "duration_s": self.spec.duration_s,
        }
        if self.spec.target in ("reboot", "flap"):
            # The reader is down for the window and comes back with its key as it was.
            body |= {"down_s": self.spec.duration_s, "keep_key": True}
        readers = self.inject(body)
        return f"eks fault {self.spec.target} injected into {len(readers)} reader(s)"

    def end(self) -> str:
        self.clear()
        return "eks faults cleared"


def _redis_supervised(redis: RedisServer | None) -> Supervised | None:
    if redis is None:
        return None
    # Restarted empty on its own port: it keeps nothing on disk, so the channels and groups it held are gone.
    return Supervised(
        "redis-server",
        current=lambda: [redis.process] if redis.process is not None else [],
        restart=lambda: [redis.restart()],
    )


def injector_for(spec: FaultSpec, targets: FaultTargets) -> Injector:
    """The injector of ``spec`` over ``targets``; UnavailableFault names what the run lacks."""
    if spec.kind == "toxic":
        proxy = targets.proxies.get(spec.target)
        if proxy is None:
            raise UnavailableFault(f"{spec.label}: this run has no fault proxy on the {spec.target} path")
        return _Toxic(proxy, spec)
    if spec.kind == "eks":
        if targets.eks_inject is None or targets.eks_clear is None:
            raise UnavailableFault(f"{spec.label}: this run has no EKS emulator (timeclock scenarios have)")
        return _Eks(targets.eks_inject, targets.eks_clear, spec)
    if spec.target == "redis" or spec.kind in ("client_kill", "flush"):
        if targets.redis is None:
            raise UnavailableFault(
                f"{spec.label}: this run has no Redis of its own to fault (the in-memory layer, or --redis-url)"
            )
        if spec.kind == "client_kill":
            return _ClientKill(targets.redis, spec.target)
        if spec.kind == "flush":
            return _Flush(targets.redis)
    supervised = _redis_supervised(targets.redis) if spec.target == "redis" else targets.supervised.get(spec.target)
    if supervised is None and spec.target == "server_worker":
        raise UnavailableFault(
            f"{spec.label}: one server worker needs a server of several processes ([matrix] workers >= 2); with one, "
            "the target is server"
        )
    if supervised is None:
        raise UnavailableFault(f"{spec.label}: this run has no {spec.target} process")
    if spec.kind == "kill":
        return _ProcessKill(supervised, signal.Signals[f"SIG{spec.signal}"])
    return _ProcessPause(supervised)
