"""Server-side resource samples taken while a run is under way: CPU, RSS and open fds per process, Redis INFO.

Sampling runs in a background thread at a fixed interval, so it works the same whether the load generator is an
asyncio loop in this process or Locust in others. A process that exits mid-run keeps the samples it had.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psutil

__all__ = [
    "KeyspaceSample",
    "ProcessSample",
    "RedisSample",
    "ResourceSampler",
    "ServerProcess",
    "TaskSample",
    "redis_info",
    "redis_keyspace",
]


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
class KeyspaceSample:
    """The stack's Redis keyspace at ``t_s``: all keys, and the channel layer's groups and their members."""

    t_s: float
    keys: int
    groups: int
    group_members: int


@dataclass(frozen=True, slots=True)
class TaskSample:
    """The asyncio tasks of the server process that answered ``GET /healthz`` at ``t_s``."""

    t_s: float
    pid: int
    asyncio_tasks: int


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


def _read_reply(stream: Any) -> Any:
    """One RESP reply (simple string, error, integer, bulk string or array) from a socket's file."""
    line = stream.readline()
    if not line:
        raise OSError("redis closed the connection")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        raise OSError(f"redis error: {body.decode(errors='replace')}")
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        return None if size < 0 else stream.read(size + 2)[:-2]
    if kind == b"*":
        return [_read_reply(stream) for _ in range(int(body))]
    raise OSError(f"unexpected redis reply {line[:40]!r}")


def _command(*args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def redis_keyspace(
    port: int, host: str = "127.0.0.1", prefix: str = "asgi", timeout: float = 5.0
) -> tuple[int, int, int]:
    """(keys, groups, group members) of a Redis used by channels-redis with ``prefix``: ``DBSIZE``, then ``SCAN`` for
    ``<prefix>:group:*`` and a pipelined ``ZCARD`` of each (the list layer keeps each group as a sorted set)."""
    with socket.create_connection((host, port), timeout=timeout) as sock, sock.makefile("rb") as stream:
        sock.sendall(_command("DBSIZE"))
        keys = int(_read_reply(stream))
        groups: list[str] = []
        cursor = "0"
        while True:
            sock.sendall(_command("SCAN", cursor, "MATCH", f"{prefix}:group:*", "COUNT", "1000"))
            reply = _read_reply(stream)
            cursor = reply[0].decode()
            groups += [key.decode() for key in reply[1]]
            if cursor == "0":
                break
        if groups:
            sock.sendall(b"".join(_command("ZCARD", g) for g in groups))
            members = sum(int(_read_reply(stream)) for _ in groups)
        else:
            members = 0
    return keys, len(groups), members


@dataclass
class _Tracked:
    name: str
    process: psutil.Process
    samples: list[ProcessSample] = field(default_factory=list)


class ResourceSampler:
    """Samples the given processes, and the children they start (Uvicorn's workers), every ``interval_s``."""

    def __init__(
        self,
        processes: Mapping[str, int],
        *,
        redis_port: int | None = None,
        interval_s: float = 1.0,
        keyspace: bool = False,
        health: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        """
        Args:
            keyspace: also sample the Redis keyspace (keys, groups, members): a soak run's series.
            health: called each sample for the app's ``/healthz`` document; its ``pid`` and ``asyncio_tasks`` make
                a task sample (a soak run's series; absent from an app that does not report them).
        """
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.roots = dict(processes)
        self.redis_port = redis_port
        self.interval_s = interval_s
        self.keyspace = keyspace
        self.health = health
        self._tracked: dict[int, _Tracked] = {}
        self.redis_samples: list[RedisSample] = []
        self.keyspace_samples: list[KeyspaceSample] = []
        self.task_samples: list[TaskSample] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        #: When sampling started (the origin of every t_s), on both clocks.
        self.started_monotonic = 0.0
        self.started_wall = 0.0

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
            if self.keyspace:
                try:
                    keys, groups, members = redis_keyspace(self.redis_port)
                    self.keyspace_samples.append(KeyspaceSample(round(now, 3), keys, groups, members))
                except (OSError, ValueError, IndexError) as exc:
                    self.errors.append(f"redis keyspace at t={now:.1f}s: {exc}")
        if self.health is not None:
            try:
                doc = self.health()
                pid, tasks = doc.get("pid"), doc.get("asyncio_tasks")
                if isinstance(pid, int) and isinstance(tasks, int):
                    self.task_samples.append(TaskSample(round(now, 3), pid, tasks))
            except (OSError, ValueError) as exc:
                self.errors.append(f"health at t={now:.1f}s: {exc}")

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample_once()

    def start(self) -> ResourceSampler:
        self._t0 = self.started_monotonic = time.monotonic()
        self.started_wall = time.time()
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
