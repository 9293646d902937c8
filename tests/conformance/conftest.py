"""Fixtures: echo servers for the wire checks, each on a free port for one test module."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stack.network import free_port
from tests.conformance.sloppy_server import serve_sloppy
from tests.conftest import TIMEOUT

_ROOT = Path(__file__).resolve().parents[2]

#: How each server under test is started: the command after ``python -m``, with {port} filled in.
SERVER_COMMANDS = {
    "uvicorn-sansio": "uvicorn harness.conformance.echo_app:app --ws websockets-sansio --port {port}",
    "uvicorn-wsproto": "uvicorn harness.conformance.echo_app:app --ws wsproto --port {port}",
    "daphne": "daphne harness.conformance.echo_app:app -p {port}",
    "uvicorn-small-limit": (
        "uvicorn harness.conformance.echo_app:app --ws websockets-sansio --ws-max-size 65536 --port {port}"
    ),
}


def _wait_listening(port: int, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 4 * TIMEOUT
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {4 * TIMEOUT:.0f}s")


def start_server(name: str) -> Iterator[str]:
    """Run one server from SERVER_COMMANDS as a subprocess and yield its ws:// URL."""
    port = free_port()
    args = [sys.executable, "-m", *SERVER_COMMANDS[name].format(port=port).split()]
    if name.startswith("uvicorn"):
        args += ["--host", "127.0.0.1", "--log-level", "warning"]
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    proc = subprocess.Popen(args, cwd=_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, proc)
        yield f"ws://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(TIMEOUT)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("uvicorn-sansio", id="uvicorn-sansio"),
        pytest.param("uvicorn-wsproto", id="uvicorn-wsproto"),
        pytest.param("daphne", id="daphne"),
    ],
)
def echo_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(server name, URL) of a conforming-ish ASGI server running the raw echo app."""
    for url in start_server(request.param):
        yield request.param, url


@pytest.fixture(scope="module")
def small_limit_server() -> Iterator[str]:
    """Uvicorn with a 64 KiB message limit, for the boundary checks."""
    yield from start_server("uvicorn-small-limit")


@pytest.fixture(scope="module")
def sloppy_server() -> Iterator[str]:
    """The deliberately broken echo server from ``sloppy_server``, on its own event loop thread."""
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: list[asyncio.Server] = []

    async def start() -> None:
        holder.append(await serve_sloppy("127.0.0.1", port))
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    if not ready.wait(TIMEOUT):
        raise RuntimeError("the sloppy server did not start")
    try:
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server = holder[0]

        async def stop() -> None:
            server.close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT)
        loop.close()
