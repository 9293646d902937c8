"""Named ASGI server implementations a stack can run. Adding one (Hypercorn, Granian) is one entry in SERVERS."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psutil

from harness.stack.network import listening_socket
from harness.stack.processes import ChildProcess, ManagedProcess, ProcessError, SignalledProcess, copy_fd_of

__all__ = ["SERVERS", "ServerLaunch", "ServerSpec", "server_spec"]


@dataclass
class ServerLaunch:
    """What a server implementation starts: processes, and how to tell they are all serving."""

    processes: list[ManagedProcess]
    #: Regex that appears once per ready server process in the logs of ``processes``.
    ready_marker: re.Pattern[str]
    expected_ready: int
    #: Sockets the harness bound for the children; closed once they run.
    inherited: list[socket.socket]

    def ready_count(self) -> int:
        return sum(len(self.ready_marker.findall(p.log_text())) for p in self.processes)

    def start(self) -> ServerLaunch:
        for process in self.processes:
            process.start()
        # The children hold their own copies now; ours would keep the port open after they exit.
        for sock in self.inherited:
            sock.close()
        return self

    def wait_ready(self, *, timeout: float = 30.0) -> None:
        """Return once every process logged its ready marker; raise ProcessError if one exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if not process.alive():
                    raise ProcessError(f"{process.name} exited during start-up; its log ends with:\n{process.tail()}")
            if self.ready_count() >= self.expected_ready:
                return
            time.sleep(0.05)
        raise ProcessError(
            f"{self.ready_count()} of {self.expected_ready} server processes ready after {timeout:.0f} s; "
            f"logs in {', '.join(str(p.log_path) for p in self.processes)}"
        )

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        for sock in self.inherited:
            sock.close()


class ServerSpec(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    #: The server program, as conformance labels name it ("daphne", "uvicorn").
    @property
    def program(self) -> str: ...

    #: The WebSocket implementation it runs ("autobahn", "wsproto"), or None when the server picks one at start-up.
    @property
    def ws_impl(self) -> str | None: ...

    #: The largest WebSocket message the server accepts by default, in bytes.
    @property
    def max_message_size(self) -> int: ...

    def launch(
        self,
        *,
        app: str,
        host: str,
        port: int,
        workers: int,
        env: dict[str, str],
        log_dir: Path,
        python: str = sys.executable,
        cwd: Path | None = None,
    ) -> ServerLaunch:
        """The processes that serve ``app``, not started; ``python`` is the interpreter of the app's environment."""
        ...

    def worker_processes(self, launch: ServerLaunch) -> list[SignalledProcess]:
        """The processes that each serve a share of the connections, when there are several (a fault may take
        one); none when one process is the whole server."""
        ...

    def restore_workers(self, launch: ServerLaunch, *, timeout: float) -> list[SignalledProcess]:
        """After some of :meth:`worker_processes` died while the rest served on, have their number again, as the
        server's own supervisor or a process manager would; returns them.

        Raises:
            ProcessError: they were not back within ``timeout`` seconds.
        """
        ...


@dataclass(frozen=True)
class Daphne:
    """Daphne has no worker flag: N processes adopt one listening socket that the harness binds (``--fd``).

    The kernel then spreads accepted connections over the processes that wait on the shared accept queue, as it does
    for Uvicorn's workers; this is how Channels' deployment docs run several Daphnes under a process manager.
    """

    name: str = "daphne"
    description: str = "Daphne 4 (Twisted + autobahn); N processes sharing one listening socket"
    program: str = "daphne"
    ws_impl: str | None = "autobahn"
    #: Daphne's --websocket_max_message_size default, which it passes to autobahn as maxMessagePayloadSize.
    max_message_size: int = 1024 * 1024

    def launch(
        self,
        *,
        app: str,
        host: str,
        port: int,
        workers: int,
        env: dict[str, str],
        log_dir: Path,
        python: str = sys.executable,
        cwd: Path | None = None,
    ) -> ServerLaunch:
        sock = listening_socket(host, port)
        fd = sock.fileno()
        processes = [
            ManagedProcess(
                name=f"daphne-{i}",
                argv=[
                    python,
                    "-m",
                    "daphne",
                    "--fd",
                    str(fd),
                    "--access-log",
                    os.devnull,
                    "-v",
                    "1",
                    app,
                ],
                log_path=log_dir / f"daphne-{i}.log",
                env=env,
                cwd=cwd,
                pass_fds=(fd,),
            )
            for i in range(workers)
        ]
        return ServerLaunch(processes, re.compile(r"Listening on TCP address"), workers, [sock])

    def worker_processes(self, launch: ServerLaunch) -> list[SignalledProcess]:
        return list(launch.processes) if len(launch.processes) > 1 else []

    def restore_workers(self, launch: ServerLaunch, *, timeout: float) -> list[SignalledProcess]:
        """Start each dead Daphne again on the listening socket its siblings share: the harness closed its own copy
        once they ran (or the port would outlive them all), so it takes one from a live sibling (pidfd_getfd)."""
        live = [p for p in launch.processes if p.alive()]
        if not live:
            raise ProcessError("no Daphne process is left to share its listening socket; restart the server")
        # Twisted closes the descriptor it was given once it has adopted a copy, so the number on the command line is
        # gone (or reused) in the live process: find its listening socket by what the kernel says it is.
        listening = [c.fd for c in psutil.Process(live[0].pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN]
        if len(listening) != 1:
            raise ProcessError(f"{live[0].name} (pid {live[0].pid}) has {len(listening)} listening sockets, not one")
        for i, dead in enumerate(launch.processes):
            if dead.alive():
                continue
            fd = copy_fd_of(live[0].pid, listening[0])
            try:
                argv = list(dead.argv)
                argv[argv.index("--fd") + 1] = str(fd)
                before = len(launch.ready_marker.findall(dead.log_text()))
                again = dataclasses.replace(dead, argv=argv, pass_fds=(fd,)).start()
            finally:
                os.close(fd)
            launch.processes[i] = again
            deadline = time.monotonic() + timeout
            while len(launch.ready_marker.findall(again.log_text())) <= before:
                if not again.alive() or time.monotonic() > deadline:
                    raise ProcessError(f"{again.name} did not serve again within {timeout:.0f} s:\n{again.tail()}")
                time.sleep(0.05)
        return list(launch.processes)


@dataclass(frozen=True)
class Uvicorn:
    name: str = "uvicorn"
    description: str = "Uvicorn with uvloop/httptools and its default WebSocket implementation; --workers N"
    ws: str = "auto"
    program: str = "uvicorn"
    #: Uvicorn's --ws-max-size default.
    max_message_size: int = 16 * 1024 * 1024

    @property
    def ws_impl(self) -> str | None:
        # "auto" is whichever library is installed, so it names no implementation a check result can be tied to.
        return None if self.ws == "auto" else self.ws

    def launch(
        self,
        *,
        app: str,
        host: str,
        port: int,
        workers: int,
        env: dict[str, str],
        log_dir: Path,
        python: str = sys.executable,
        cwd: Path | None = None,
    ) -> ServerLaunch:
        argv = [python, "-m", "uvicorn", app, "--host", host, "--port", str(port), "--no-access-log"]
        argv += ["--ws", self.ws, "--lifespan", "on", "--timeout-graceful-shutdown", "5"]
        if workers > 1:
            argv += ["--workers", str(workers)]
        process = ManagedProcess(name=self.name, argv=argv, log_path=log_dir / f"{self.name}.log", env=env, cwd=cwd)
        return ServerLaunch([process], re.compile(r"Application startup complete"), workers, [])

    def worker_processes(self, launch: ServerLaunch) -> list[SignalledProcess]:
        """Uvicorn's worker children (spawned by multiprocessing, beside its resource tracker), oldest first."""
        if launch.expected_ready < 2 or not launch.processes[0].alive():
            return []
        try:
            children = psutil.Process(launch.processes[0].pid).children()
            workers = [c for c in children if "multiprocessing.spawn" in " ".join(c.cmdline())]
            workers.sort(key=lambda c: c.create_time())
        except psutil.NoSuchProcess:
            return []
        return [ChildProcess(f"{self.name}-worker", c) for c in workers]

    def restore_workers(self, launch: ServerLaunch, *, timeout: float) -> list[SignalledProcess]:
        """Uvicorn's master replaces a dead worker itself (it checks every half second): wait for it to have all
        of them running again, each through its application start-up."""
        deadline = time.monotonic() + timeout
        while True:
            workers = [w for w in self.worker_processes(launch) if w.alive()]
            log = launch.processes[0].log_text()
            started = all(f"Started server process [{w.pid}]" in log for w in workers)
            # Every process started so far has finished its start-up (the lines of workers interleave).
            complete = log.count("Started server process [") <= len(launch.ready_marker.findall(log))
            if len(workers) >= launch.expected_ready and started and complete:
                return list(workers)
            if time.monotonic() > deadline:
                raise ProcessError(
                    f"Uvicorn's master had {len(workers)} of {launch.expected_ready} workers {timeout:.0f} s after "
                    f"one died; log {launch.processes[0].log_path}:\n{launch.processes[0].tail()}"
                )
            time.sleep(0.1)


SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        Daphne(),
        Uvicorn(),
        Uvicorn(
            name="uvicorn-sansio",
            ws="websockets-sansio",
            description="Uvicorn with the websockets sans-I/O WebSocket implementation",
        ),
        Uvicorn(
            name="uvicorn-wsproto",
            ws="wsproto",
            description="Uvicorn with the wsproto WebSocket implementation",
        ),
    )
}


def server_spec(name: str) -> ServerSpec:
    try:
        return SERVERS[name]
    except KeyError:
        raise ValueError(f"unknown server {name!r}; known: {', '.join(SERVERS)}") from None
