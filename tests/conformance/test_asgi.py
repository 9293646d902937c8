"""End to end: the ASGI checks against uvicorn (websockets-sansio, wsproto) and Daphne serving the probe app, and
against a deliberately broken server.

Every verdict other than OK is pinned per server (``EXPECTED``), measured on this machine and explained in
docs/conformance-asgi.md; a new difference, or a known one going away, fails the test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.conformance.asgi_checks import KNOWN_DEVIATIONS, asgi_checks, probe_absent, run_asgi_checks
from harness.conformance.model import CheckResult, Verdict
from harness.stack.network import free_port
from tests.conftest import TIMEOUT

pytestmark = pytest.mark.wire

UNIT = 0.5
_ROOT = Path(__file__).resolve().parents[2]
_PROBE = "harness.conformance.asgi_probe:app"
_BROKEN = "tests.conformance.broken_asgi_server:app"
_UVICORN = ["--host", "127.0.0.1", "--log-level", "critical"]
COMMANDS = {
    "uvicorn-sansio": ["uvicorn", _PROBE, "--ws", "websockets-sansio", *_UVICORN],
    "uvicorn-wsproto": ["uvicorn", _PROBE, "--ws", "wsproto", *_UVICORN],
    "daphne": ["daphne", "-b", "127.0.0.1", _PROBE],
    "broken": ["uvicorn", _BROKEN, "--ws", "websockets-sansio", *_UVICORN],
}

_UVICORN_DIFFERENCES = {
    # The app's exception after accept ends in a TCP close with no close frame (no 1011).
    "A2.10": Verdict.NON_STRICT,
    # send() after the app's own websocket.close raises RuntimeError, not an OSError subclass.
    "A4.12": Verdict.NON_STRICT,
}
#: Per server: check id -> verdict, for every check that is not OK.
EXPECTED: dict[str, dict[str, Verdict]] = {
    "uvicorn-sansio": _UVICORN_DIFFERENCES,
    "uvicorn-wsproto": _UVICORN_DIFFERENCES,
    "daphne": {
        "A1.3": Verdict.INFORMATIONAL,  # no asgi.spec_version (2.0 implied)
        "A1.5": Verdict.INFORMATIONAL,  # no scheme (daphne#538)
        "A1.11": Verdict.KNOWN_DEVIATION,  # duplicate headers joined with ","
        "A1.17": Verdict.NOT_APPLICABLE,  # no lifespan state
        "A1.18": Verdict.INFORMATIONAL,  # no extensions key
        "A2.2": Verdict.KNOWN_DEVIATION,  # accept headers ignored (daphne#326)
        "A2.3": Verdict.NOT_APPLICABLE,
        "A2.8": Verdict.NON_STRICT,  # no HTTP answer when the app returns without accepting
        "A3.1": Verdict.KNOWN_DEVIATION,  # empty text never sent
        "A3.2": Verdict.KNOWN_DEVIATION,  # empty bytes never sent
        "A4.3": Verdict.KNOWN_DEVIATION,  # close reason dropped (daphne#374)
        "A4.4": Verdict.KNOWN_DEVIATION,
        "A4.7": Verdict.UNIMPLEMENTED,  # no disconnect reason (2.5)
        "A4.8": Verdict.NON_STRICT,  # disconnect code None instead of 1005
        "A4.12": Verdict.NON_STRICT,  # raises daphne's Disconnected, not an OSError
        "A4.13": Verdict.NON_STRICT,  # send after disconnect returns silently
        "A5.1": Verdict.NOT_APPLICABLE,  # denial response extension not implemented (daphne#486)
        "A5.2": Verdict.NOT_APPLICABLE,
        "A5.3": Verdict.NOT_APPLICABLE,
        "A5.4": Verdict.NOT_APPLICABLE,
        "A5.5": Verdict.NOT_APPLICABLE,
    },
}


def _serve(name: str) -> Iterator[str]:
    port = free_port()
    args = [sys.executable, "-m", *COMMANDS[name], "--port" if name != "daphne" else "-p", str(port)]
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    proc = subprocess.Popen(args, cwd=_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 4 * TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} is not listening on {port}") from None
                time.sleep(0.05)
        yield f"ws://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(TIMEOUT)


@pytest.fixture(scope="module", params=["uvicorn-sansio", "uvicorn-wsproto", "daphne"])
def probe_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    for url in _serve(request.param):
        yield request.param, url


@pytest.fixture(scope="module")
def broken_server() -> Iterator[str]:
    yield from _serve("broken")


def test_the_probe_is_found_only_where_it_answers_as_itself(broken_server: str) -> None:
    # The broken server wraps the probe and answers its identity too; a closed port and an app whose HTTP answer
    # is not the probe's are "absent", each with what was found.
    assert probe_absent(broken_server, unit=UNIT) is None
    closed = f"ws://127.0.0.1:{free_port()}"
    assert "no answer" in (probe_absent(closed, unit=UNIT) or "")


def _not_ok(results: list[CheckResult]) -> dict[str, Verdict]:
    return {r.id: r.behaviour for r in results if r.behaviour != Verdict.OK}


def test_catalogue_shape() -> None:
    checks = asgi_checks()
    ids = [c.id for c in checks]
    assert len(ids) == len(set(ids)) >= 35
    assert {c.category for c in checks} == {"scope", "accept", "data", "close", "denial"}
    assert all(c.source.startswith(("ASGI www 2.5", "ASGI extensions")) for c in checks)
    listed = {i for devs in KNOWN_DEVIATIONS.values() for d in devs for i in d.check_ids}
    assert listed <= set(ids)


def test_probe_servers(probe_server: tuple[str, str]) -> None:
    server, url = probe_server
    assert probe_absent(url, unit=UNIT) is None
    results = run_asgi_checks(url, server=server, unit=UNIT)
    assert len(results) == len(asgi_checks())
    assert all(r.group == "asgi" for r in results)
    assert [f"{r.id} {r.notes}" for r in results if r.behaviour == Verdict.FAILED] == []
    assert _not_ok(results) == EXPECTED[server]
    for r in results:
        if r.behaviour == Verdict.KNOWN_DEVIATION:
            assert r.known_deviation and r.known_deviation.startswith("https://github.com/django/daphne/")


def test_deviation_listed_but_passing_is_noted(probe_server: tuple[str, str]) -> None:
    server, url = probe_server
    if server == "daphne":
        pytest.skip("the daphne deviations do fail on daphne")
    (res,) = run_asgi_checks(url, ids=["A4.3"], server="daphne", unit=UNIT)
    assert res.behaviour == Verdict.OK
    assert any("did not fail" in note for note in res.notes)


TARGETED = {
    "A1.5": "scheme is ''",
    "A1.8": "query_string",
    "A1.15": "subprotocols is ['p1, p2']",
    "A1.16": "query_string '' (str)",
    "A2.2": "accept headers missing",
    "A2.4": "Sec-WebSocket-Protocol None",
    "A4.3": "close reason b''",
    "A4.4": "close reason b''",
    "A4.10": "HTTP 200",
}


def test_broken_server_fails_the_targeted_checks(broken_server: str) -> None:
    results = {r.id: r for r in run_asgi_checks(broken_server, unit=UNIT)}
    failed = {i for i, r in results.items() if r.behaviour == Verdict.FAILED}
    assert failed == set(TARGETED)
    for check_id, why in TARGETED.items():
        assert any(why in note for note in results[check_id].notes), (check_id, results[check_id].notes)
        assert results[check_id].wire_log, "failures carry the wire log"
    # What the wrapper leaves alone still passes, so the failures are about the breakage and not the wrapper.
    for check_id in ("A1.6", "A1.7", "A2.1", "A3.1", "A4.2", "A4.11"):
        assert results[check_id].behaviour == Verdict.OK, results[check_id].notes
