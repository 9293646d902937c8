"""The apps the tests of the app kind and of harness init measure (tests.app_kind.relay_chat and auth_chat), each
served by uvicorn."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stack.network import free_port
from harness.stack.processes import ManagedProcess

_ROOT = Path(__file__).resolve().parents[2]


def _serve(module: str, logs: Path) -> Iterator[str]:
    """Serve ``tests.app_kind.<module>:application`` with uvicorn on a free port; yield its ws:// base URL."""
    port = free_port()
    server = ManagedProcess(
        name=module,
        argv=[sys.executable, "-m", "uvicorn", f"tests.app_kind.{module}:application", "--port", str(port)],
        log_path=logs / f"{module}.log",
        cwd=_ROOT,
    ).start()
    try:
        server.wait_listening(port)
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def relay_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve("relay_chat", tmp_path_factory.mktemp("relay"))


@pytest.fixture(scope="module")
def auth_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve("auth_chat", tmp_path_factory.mktemp("auth"))
