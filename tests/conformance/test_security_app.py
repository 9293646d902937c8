"""Security (P1/P2) and reference-app protocol (P4) checks against real stacks, and against a weakened app."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.conformance.app_checks import SchemaSet, run_app_checks
from harness.conformance.app_client import AppTarget
from harness.conformance.model import CheckResult, Verdict
from harness.conformance.security_checks import run_security_checks
from harness.stack import Stack, StackConfig
from harness.stack.network import free_port
from tests.conformance.conftest import _wait_listening
from tests.conftest import TIMEOUT

pytestmark = pytest.mark.wire

_ROOT = Path(__file__).resolve().parents[2]


def _failed(results: list[CheckResult]) -> list[str]:
    return [f"{r.id}: {'; '.join(r.notes)}" for r in results if r.behaviour is Verdict.FAILED]


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(("daphne", "inmemory"), id="daphne-inmemory"),
        pytest.param(("uvicorn", "redis"), id="uvicorn-redis"),
    ],
)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppTarget]:
    server, layer = request.param
    config = StackConfig(server=server, layer=layer, users=10, rooms=3, employees=4, terminals=2)
    with Stack(config, tmp_path_factory.mktemp(f"{server}-{layer}")) as stack:
        yield AppTarget(stack.http_url, stack.ws_url, stack.credentials(), timeout=TIMEOUT)


def test_security_checks_pass(target: AppTarget) -> None:
    results = run_security_checks(target)
    assert _failed(results) == []
    assert len(results) >= 30
    assert {r.id for r in results if r.behaviour is Verdict.INFORMATIONAL} >= {"P1.9", "P1.10", "P2.7", "P2.8"}


def test_app_checks_pass(target: AppTarget) -> None:
    results = run_app_checks(target)
    assert _failed(results) == []
    # Every schema saw at least one message, so nothing was skipped as N/A.
    assert [r.id for r in results if r.behaviour is not Verdict.OK] == []
    assert len(results) >= 45


def test_schemas_are_valid_draft_2020_12_and_cover_every_message() -> None:
    schemas = SchemaSet()
    server = {(e, t) for d, e, t in schemas.validators if d == "server"}
    assert {t for _, t in server} == {
        "welcome", "presence", "message", "error", "pong", "backlog", "notification", "acked", "punch", "unknown_key",
    }  # fmt: skip
    assert {t for d, _, t in schemas.validators if d == "client"} == {"message", "ping", "ack"}
    assert schemas.errors("server", "chat", {"type": "pong", "id": 1}) == []
    assert schemas.errors("server", "chat", {"type": "pong", "extra": 1}) != []


@pytest.fixture(scope="module")
def weak_target() -> Iterator[AppTarget]:
    """The insecure app of ``weak_app`` under uvicorn, with made-up credentials of the demo shape."""
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "tests.conformance.weak_app:app", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--log-level", "warning", "--timeout-graceful-shutdown", "1"]
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    proc = subprocess.Popen(args, cwd=_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    credentials = {
        "session_cookie_name": "sessionid",
        "users": [{"id": i, "username": f"u{i}", "password": "p", "session": f"s{i}"} for i in range(1, 11)],
        "rooms": [{"slug": "room-a"}, {"slug": "room-b"}],
        "terminals": [{"id": 1, "token": "t1"}, {"id": 2, "token": "t2"}],
        "employees": [{"key_serial": "00112233AABBCCDD", "number": "E1"}],
        "service_tokens": [{"token": "svc"}],
    }
    try:
        _wait_listening(port, proc)
        yield AppTarget(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", credentials, timeout=TIMEOUT / 5)
    finally:
        proc.terminate()
        proc.wait(TIMEOUT)


def test_security_checks_fail_on_an_app_that_accepts_everything(weak_target: AppTarget) -> None:
    verdicts = {r.id: r.behaviour for r in run_security_checks(weak_target)}
    for check_id in ["P1.1", "P1.3", "P1.4", "P1.5", "P1.6", "P1.7", "P1.15", "P2.1", "P2.2", "P2.4", "P2.10", "P2.12"]:
        assert verdicts[check_id] is Verdict.FAILED, check_id
    # The login form does not exist there, so the login check fails as well.
    assert verdicts["P2.6"] is Verdict.FAILED


def test_chat_checks_fail_on_double_delivery(weak_target: AppTarget) -> None:
    verdicts = {r.id: r.behaviour for r in run_app_checks(weak_target, sections=("chat", "schema"))}
    for check_id in ["P4.3", "P4.4", "P4.5"]:
        assert verdicts[check_id] is Verdict.FAILED, check_id
    # Its messages are well-formed, so only the delivery checks fail; endpoints it never served are N/A.
    assert verdicts["P4.1.1"] is Verdict.OK
    assert verdicts["P4.1.6"] is Verdict.NOT_APPLICABLE
