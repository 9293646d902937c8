"""Named ASGI server implementations a stack can run. Adding one (Hypercorn, Granian) is one entry in SERVERS."""

from __future__ import annotations

import os
import re
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness.stack.network import listening_socket
from harness.stack.processes import ManagedProcess, ProcessError

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
