"""A running reference-app stack: private Redis, database, demo data, N server processes and the timeclock worker.

The harness starts the reference app only as processes (``python -m reference_app ...``, ``daphne``, ``uvicorn``): it
never imports it, so the same machinery can be pointed at any app that follows the same conventions.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.faults.proxy import FaultProxy
from harness.stack.layers import LayerSpec, layer_spec
from harness.stack.network import free_port, http_get_json
from harness.stack.processes import ManagedProcess, ProcessError, SignalledProcess
from harness.stack.redis import RedisServer
from harness.stack.servers import ServerLaunch, server_spec

__all__ = ["APP_MODULE", "ASGI_APP", "StackConfig", "Stack", "StackError"]

APP_MODULE = "reference_app"
ASGI_APP = "reference_app.asgi:application"


class StackError(RuntimeError):
    pass


@dataclass(frozen=True)
class StackConfig:
    server: str = "daphne"
    layer: str = "inmemory"
    workers: int = 1
    host: str = "127.0.0.1"
    #: 0 picks a free port.
    port: int = 0
    #: None: a fresh SQLite file in the run directory.
    database_url: str | None = None
    #: Delete existing demo data first (needed when database_url points at a database already used).
    reset_database: bool = False
    #: Use this Redis (comma-separated for shards) instead of starting a private one.
    redis_url: str | None = None
    seed: int = 1
    users: int = 20
    rooms: int = 5
    employees: int = 20
    terminals: int = 4
    reader_base_port: int = 2444
    startup_timeout: float = 60.0
    #: The interpreter of the app's environment (a git revision's own, for harness gate); None: the harness's own.
    #: Its processes then run in the run directory, so a checkout in the current directory cannot shadow it.
    python: str | None = None
    #: Variables added to the app's environment (e.g. a test-only knob on one arm of a gate).
    extra_env: tuple[tuple[str, str], ...] = ()
    #: Put a fault proxy between the app's processes and the private Redis (``toxic`` faults on the redis path).
    redis_proxy: bool = False

    def check(self) -> LayerSpec:
        server_spec(self.server)
        layer = layer_spec(self.layer)
        if self.workers < 1:
            raise StackError(f"--workers {self.workers}: expected 1 or more server processes")
        if self.workers > 1 and not layer.shared_across_processes:
            raise StackError(
                f"--layer {self.layer} lives inside one process, so with --workers {self.workers} a group would be "
                "split across processes and fan-out would silently miss members; use --layer redis or redis-pubsub, "
                "or --workers 1"
            )
        if not 0 <= self.port <= 65535:
            raise StackError(f"--port {self.port}: expected 0 (any free port) to 65535")
        return layer


@dataclass
class Stack:
    config: StackConfig
    run_dir: Path
    redis: RedisServer | None = None
    redis_url: str | None = None
    port: int = 0
    credentials_path: Path | None = None
    launch: ServerLaunch | None = None
    worker: ManagedProcess | None = None
    env: dict[str, str] = field(default_factory=dict)
    #: Between the app and Redis, with ``redis_proxy``: the app's Redis URL points at it.
    redis_proxy: FaultProxy | None = None

    @property
    def http_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self.port}"

    @property
    def server_pids(self) -> list[int]:
        return [p.pid for p in self.launch.processes] if self.launch else []

    def credentials(self) -> dict[str, Any]:
        if self.credentials_path is None:
            raise StackError("the stack has not written its credentials file yet")
        data: dict[str, Any] = json.loads(self.credentials_path.read_text())
        return data

    def start(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        layer = self.config.check()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if layer.needs_redis:
            if self.config.redis_url:
                self.redis_url = self.config.redis_url
            else:
                self.redis = RedisServer(log_dir=self.run_dir).start()
                self.redis_url = self.redis.url
                if self.config.redis_proxy:
                    assert self.redis.port is not None
                    self.redis_proxy = FaultProxy(("127.0.0.1", self.redis.port), seed=self.config.seed).start()
                    self.redis_url = f"redis://127.0.0.1:{self.redis_proxy.port}/0"
        self.port = self.config.port or free_port(self.config.host)
        self.env = self._environment(layer)
        self._manage("migrate", "--noinput", "-v", "0")
        self.credentials_path = self.run_dir / "credentials.json"
        demo = [
            "demo_data",
            "--seed",
            str(self.config.seed),
            "--users",
            str(self.config.users),
            "--rooms",
            str(self.config.rooms),
            "--employees",
            str(self.config.employees),
            "--terminals",
            str(self.config.terminals),
            "--reader-base-port",
            str(self.config.reader_base_port),
            "--out",
            str(self.credentials_path),
        ]
        if self.config.reset_database:
            demo.append("--replace")
        self._manage(*demo)
        self._serve(layer)

    @property
    def python(self) -> str:
        return self.config.python or sys.executable

    @property
    def _cwd(self) -> Path | None:
        return self.run_dir if self.config.python else None

    def _launch_servers(self) -> None:
        self.launch = (
            server_spec(self.config.server)
            .launch(
                app=ASGI_APP,
                host=self.config.host,
                port=self.port,
                workers=self.config.workers,
                env=self.env,
                log_dir=self.run_dir,
                python=self.python,
                cwd=self._cwd,
            )
            .start()
        )

    def server_workers(self) -> list[SignalledProcess]:
        """The server's processes that each serve a share of the connections (Daphne's N, Uvicorn's worker
        children), when there are several; none when one process is the whole server."""
        return server_spec(self.config.server).worker_processes(self.launch) if self.launch is not None else []

    def restore_server_workers(self) -> list[SignalledProcess]:
        """Have every server worker running again after some died while the rest served on (a Daphne started again
        on the shared socket; Uvicorn's master replaces its own); returns them.

        Raises:
            StackError: they were not back within the start-up time-out.
        """
        if self.launch is None:
            raise StackError("the stack runs no server")
        try:
            return server_spec(self.config.server).restore_workers(self.launch, timeout=self.config.startup_timeout)
        except (ProcessError, OSError) as exc:
            raise StackError(f"the server's workers did not come back: {exc}") from exc

    def restart_server(self) -> list[SignalledProcess]:
        """Start the server processes again on the same port after they died or were killed (what systemd does
        for a unit that exits); returns them once the app answers ``/healthz`` again. When some of several still
        serve, only the dead ones are started again, as a process manager restarts only the unit that failed.

        Raises:
            StackError: they did not become healthy within the start-up time-out.
        """
        if self.launch is not None and len(self.server_workers()) > 1 and any(p.alive() for p in self.launch.processes):
            return self.restore_server_workers()
        if self.launch is not None:
            # Whatever is left of the old ones (a Uvicorn master's orphaned workers) goes with their process group.
            self.launch.stop()
        self._launch_servers()
        assert self.launch is not None
        deadline = time.monotonic() + self.config.startup_timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            try:
                status, body = http_get_json(self.config.host, self.port, "/healthz")
            except OSError as exc:
                last = str(exc)
            else:
                if status == 200:
                    return list(self.launch.processes)
                last = f"HTTP {status} {body}"
            time.sleep(0.1)
        raise StackError(
            f"the restarted server did not become healthy within {self.config.startup_timeout:.0f} s ({last})"
        )

    def _serve(self, layer: LayerSpec) -> None:
        self._launch_servers()
        if layer.shared_across_processes:
            self.worker = self._start_worker()
        self._wait_healthy()

    def _start_worker(self) -> ManagedProcess:
        return ManagedProcess(
            name="timeclock-worker",
            argv=[self.python, "-m", APP_MODULE, "runworker", self.env["TIMECLOCK_CHANNEL"]],
            log_path=self.run_dir / "worker.log",
            env=self.env,
            cwd=self._cwd,
        ).start()

    def restart_worker(self) -> ManagedProcess:
        """Start the timeclock worker again after it died or was killed (a supervisor's job: runworker exits on a
        layer error and restarts nothing itself); returns the new process, which appends to the same log.

        Raises:
            StackError: the stack runs no separate worker (its layer lives inside the server process).
        """
        if self.worker is None:
            raise StackError("this stack runs no separate timeclock worker (its layer is in-process)")
        self.worker.stop()
        self.worker = self._start_worker()
        return self.worker

    def restart_servers(self, *, flush_layer: bool = False) -> None:
        """Stop the server processes (and the worker) and start fresh ones on the same port, database and layer.

        Args:
            flush_layer: also empty the private Redis this stack started (messages still queued for the old
                processes' channels, their group memberships), so nothing of an earlier load reaches the new
                processes. A Redis given with ``redis_url`` is never flushed: it is not ours.

        Raises:
            StackError: if the new processes do not become healthy, or the private Redis could not be flushed.
        """
        self._stop_serving()
        self.launch, self.worker = None, None
        if flush_layer and self.redis is not None:
            try:
                self.redis.flush()
            except OSError as exc:
                raise StackError(f"could not flush the stack's private redis-server: {exc}") from exc
        self._serve(self.config.check())

    def _environment(self, layer: LayerSpec) -> dict[str, str]:
        database_url = self.config.database_url or f"sqlite:///{self.run_dir / 'db.sqlite3'}"
        hosts = sorted({"localhost", "127.0.0.1", "[::1]", self.config.host})
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": f"{APP_MODULE}.settings",
            # One key for every process of the stack, or sessions made by one would be refused by the others.
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": database_url,
            "CHANNEL_LAYERS_JSON": json.dumps(layer.channel_layers(self.redis_url)),
            "TIMECLOCK_WORKER_IN_PROCESS": "0" if layer.shared_across_processes else "1",
            "TIMECLOCK_CHANNEL": "timeclock-punches",
            "ALLOWED_HOSTS": ",".join(hosts),
            "REFERENCE_APP_DATA_DIR": str(self.run_dir),
            "PYTHONUNBUFFERED": "1",
            **dict(self.config.extra_env),
        }
        if self.config.python:
            # The app's own environment decides what it imports: a PYTHONPATH meant for the harness (a checkout of
            # another revision) would put that code in front of the revision's installed one.
            env.pop("PYTHONPATH", None)
        return env

    def _manage(self, *args: str) -> None:
        name = args[0]
        process = ManagedProcess(
            name=f"manage-{name}",
            argv=[self.python, "-m", APP_MODULE, *args],
            log_path=self.run_dir / f"{name}.log",
            env=self.env,
            cwd=self._cwd,
        ).start()
        assert process.popen is not None
        try:
            code = process.popen.wait(timeout=300)
        finally:
            process.stop()
        if code != 0:
            raise StackError(f"`{APP_MODULE} {name}` failed (exit {code}); its log ends with:\n{process.tail()}")

    def _wait_healthy(self) -> None:
        assert self.launch is not None
        deadline = time.monotonic() + self.config.startup_timeout
        health_path = "/healthz?worker=1"
        last = "no answer yet"
        while time.monotonic() < deadline:
            for process in [*self.launch.processes, *([self.worker] if self.worker else [])]:
                if not process.alive():
                    raise StackError(
                        f"{process.name} exited with code {process.returncode()} during start-up; "
                        f"its log ({process.log_path}) ends with:\n{process.tail()}"
                    )
            ready = self.launch.ready_count()
            if ready >= self.launch.expected_ready:
                try:
                    status, body = http_get_json(self.config.host, self.port, health_path)
                except OSError as exc:
                    last = f"GET {health_path}: {exc}"
                else:
                    if status == 200:
                        return
                    last = f"GET {health_path}: HTTP {status} {body}"
            else:
                last = f"{ready} of {self.launch.expected_ready} server processes ready"
            time.sleep(0.1)
        raise StackError(
            f"the stack did not become healthy within {self.config.startup_timeout:.0f} s ({last}); "
            f"logs in {self.run_dir}"
        )

    def _stop_serving(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        if self.launch is not None:
            for process in self.launch.processes:
                process.stop()
            for sock in self.launch.inherited:
                sock.close()

    def stop(self) -> None:
        self._stop_serving()
        if self.redis_proxy is not None:
            self.redis_proxy.stop()
        if self.redis is not None:
            self.redis.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
