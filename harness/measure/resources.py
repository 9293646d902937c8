"""Server-side resource samples taken while a run is under way: CPU, RSS and open fds per process, Redis INFO.

Sampling runs in a background thread at a fixed interval, so it works the same whether the load generator is an
asyncio loop in this process or Locust in others. A process that exits mid-run keeps the samples it had.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import psutil

__all__ = ["ProcessSample", "RedisSample", "ResourceSampler", "ServerProcess", "redis_info"]


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One sample of a server-side process; ``t_s`` counts from the sampler's start (the stack was ready then, the
    generator not started yet)."""

    t_s: float
    cpu_percent: float
    rss_bytes: int
    num_fds: int


@dataclass(frozen=True, slots=True)
class RedisSample:
    """One ``INFO`` sample of the stack's redis-server; ``t_s`` as for :class:`ProcessSample`."""

    t_s: float
    ops_per_sec: int
    used_memory_bytes: int
    connected_clients: int


@dataclass(frozen=True, slots=True)
class ServerProcess:
    """The samples of one server-side process (ASGI worker, timeclock worker, redis-server)."""

    name: str
    pid: int
    samples: tuple[ProcessSample, ...]


def redis_info(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> dict[str, str]:
    """``INFO`` of a Redis server as a flat dict, over a raw socket (no client library needed)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(b"INFO\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("redis closed the connection during INFO")
            data += chunk
        header, _, rest = data.partition(b"\r\n")
        if not header.startswith(b"$"):
            raise OSError(f"unexpected INFO reply {header[:40]!r}")
        size = int(header[1:])
        while len(rest) < size:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("redis closed the connection during INFO")
            rest += chunk
    info: dict[str, str] = {}
    for line in rest[:size].decode(errors="replace").splitlines():
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            info[key] = value
    return info


@dataclass
class _Tracked:
    name: str
    process: psutil.Process
    samples: list[ProcessSample] = field(default_factory=list)


class ResourceSampler:
    """Samples the given processes, and the children they start (Uvicorn's workers), every ``interval_s``."""

    def __init__(self, processes: Mapping[str, int], *, redis_port: int | None = None, interval_s: float = 1.0) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.roots = dict(processes)
        self.redis_port = redis_port
        self.interval_s = interval_s
        self._tracked: dict[int, _Tracked] = {}
        self.redis_samples: list[RedisSample] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def track(self, name: str, pid: int) -> None:
        """Sample one more process (and its children) from the next sample on, e.g. one started after :meth:`start`."""
        # A new dict, not an insertion: the sampling thread may be iterating over the old one.
        self.roots = {**self.roots, name: pid}

    def _discover(self) -> None:
        for name, pid in self.roots.items():
            try:
                root = psutil.Process(pid)
                family = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            for proc in family:
                if proc.pid not in self._tracked:
                    label = name if proc.pid == pid else f"{name}/child"
                    # The first cpu_percent() call only sets the baseline for the next one.
                    try:
                        proc.cpu_percent(None)
                    except psutil.Error:
                        continue
                    self._tracked[proc.pid] = _Tracked(label, proc)

    def sample_once(self) -> None:
        now = time.monotonic() - self._t0
        self._discover()
        for tracked in self._tracked.values():
            try:
                with tracked.process.oneshot():
                    sample = ProcessSample(
                        t_s=round(now, 3),
                        cpu_percent=round(tracked.process.cpu_percent(None), 1),
                        rss_bytes=int(tracked.process.memory_info().rss),
                        num_fds=int(tracked.process.num_fds()),
                    )
            except psutil.Error:
                continue
            tracked.samples.append(sample)
        if self.redis_port is not None:
            try:
                info = redis_info(self.redis_port)
                self.redis_samples.append(
                    RedisSample(
                        t_s=round(now, 3),
                        ops_per_sec=int(info.get("instantaneous_ops_per_sec", "0")),
                        used_memory_bytes=int(info.get("used_memory", "0")),
                        connected_clients=int(info.get("connected_clients", "0")),
                    )
                )
            except (OSError, ValueError) as exc:
                self.errors.append(f"redis INFO at t={now:.1f}s: {exc}")

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample_once()

    def start(self) -> ResourceSampler:
        self._t0 = time.monotonic()
        self._discover()
        self._thread = threading.Thread(target=self._loop, name="resource-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5 * self.interval_s)

    def processes(self) -> tuple[ServerProcess, ...]:
        """Every process sampled, in pid order, with its samples so far."""
        return tuple(ServerProcess(t.name, pid, tuple(t.samples)) for pid, t in sorted(self._tracked.items()))
