"""Fixtures for the WebSocket client tests: a real server over loopback, and sockets that misbehave."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TIMEOUT

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """``ws://127.0.0.1:PORT`` of ``tests/wsclient/echo_server.py`` running in a subprocess."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.wsclient.echo_server"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip().isdigit(), f"echo server did not start: {line!r}"
        yield f"ws://127.0.0.1:{int(line)}"
    finally:
        proc.terminate()
        proc.wait(TIMEOUT)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose listener completes TCP connects (the kernel does) but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on, so a connect gets a RST."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_gevent_script(script: str, *args: str) -> str:
    """Run ``script`` (which monkey-patches with gevent first) in a fresh interpreter; return its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 6,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
