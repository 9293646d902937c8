"""The app the tests of the app kind and of harness init measure: tests.app_kind.relay_chat, served by uvicorn."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stack.network import free_port
from harness.stack.processes import ManagedProcess

_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def relay_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    server = ManagedProcess(
        name="relay-chat",
        argv=[sys.executable, "-m", "uvicorn", "tests.app_kind.relay_chat:application", "--port", str(port)],
        log_path=tmp_path_factory.mktemp("relay") / "relay.log",
        cwd=_ROOT,
    ).start()
    try:
        server.wait_listening(port)
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.stop()
