"""Fixtures for the Locust generator tests: test servers from harness.testing under uvicorn."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from harness.stack.network import free_port
from harness.stack.processes import ManagedProcess
from tests.conftest import TIMEOUT

ROOT = Path(__file__).resolve().parents[2]

Serve = Callable[..., str]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """``serve("echo", env={...})`` starts ``harness.testing.<name>:app`` and returns ``ws://127.0.0.1:PORT``."""
    started: list[ManagedProcess] = []

    def start(name: str, env: Mapping[str, str] | None = None) -> str:
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", f"harness.testing.{name}:app"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--lifespan", "off", "--log-level", "warning"]
        proc_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        proc = ManagedProcess(f"uvicorn-{name}", argv, tmp_path / f"uvicorn-{name}.log", env=proc_env, cwd=ROOT)
        started.append(proc.start())
        proc.wait_listening(port, timeout=TIMEOUT)
        return f"ws://127.0.0.1:{port}"

    yield start
    for proc in started:
        proc.stop()
