"""Shared fixtures: one time unit, a private redis-server, demo data in the test database; serving a test app."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stack.network import free_port
from harness.stack.processes import ManagedProcess
from harness.stack.redis import RedisServer

ROOT = Path(__file__).resolve().parents[1]

#: Every wait in the suite is a multiple of this (seconds); raise HARNESS_TEST_TIMEOUT on a slow machine.
TIMEOUT = float(os.environ.get("HARNESS_TEST_TIMEOUT", "5"))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server on a free port for the whole session (never the one on 6379)."""
    with RedisServer() as server:
        yield server


@contextlib.contextmanager
def serve_asgi(app: str, logs: Path) -> Iterator[str]:
    """Serve the ASGI ``app`` (``module:attribute``) with uvicorn on a free port; yield its ws:// base URL."""
    port = free_port()
    name = app.split(":")[0].rsplit(".", 1)[-1]
    server = ManagedProcess(
        name=name,
        argv=[sys.executable, "-m", "uvicorn", app, "--port", str(port)],
        log_path=logs / f"{name}.log",
        cwd=ROOT,
    ).start()
    try:
        server.wait_listening(port)
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.stop()
