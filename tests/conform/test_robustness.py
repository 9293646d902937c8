"""The robustness group: after each malformed input, the server is up and the other clients unaffected."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.conformance.model import Verdict
from harness.conformance.robustness import APP_PAYLOADS, robustness_cases, run_robustness_checks
from tests.conftest import serve_asgi

pytestmark = pytest.mark.wire


@pytest.fixture
def fragile(tmp_path: Path) -> Iterator[str]:
    with serve_asgi("tests.conform.fragile_app:app", tmp_path) as url:
        yield url


def test_the_cases_are_inputs_a_server_must_refuse() -> None:
    cases = robustness_cases()
    assert len(cases) > 100
    assert all(c.handshake is not None or (c.expect and not c.expect.close.closed_by_client) for c in cases)
    assert not any(c.slow or c.deflate_offers for c in cases)


def test_a_server_that_drops_the_others_fails_only_that_case(fragile: str) -> None:
    results = {r.id: r for r in run_robustness_checks(f"{fragile}/drop", unit=0.5, cases=[])}
    assert set(results) == {p.id for p in APP_PAYLOADS}
    failed = {i: r for i, r in results.items() if r.behaviour is not Verdict.OK}
    assert list(failed) == ["R1.10"]
    assert "bystander 1 was dropped or stopped answering pings" in failed["R1.10"].notes[1]


def test_a_server_that_dies_fails_and_the_rest_is_not_run(fragile: str) -> None:
    results = run_robustness_checks(f"{fragile}/crash", unit=0.5, cases=[])
    verdicts = [(r.id, r.behaviour) for r in results]
    assert verdicts[:3] == [("R1.1", Verdict.FAILED), ("R1.2", Verdict.FAILED), ("R1.3", Verdict.FAILED)]
    assert {v for _, v in verdicts[3:]} == {Verdict.NOT_APPLICABLE}
    assert "a new socket could not be opened" in results[0].notes[-1]
    assert "the server answered nothing since case R1.1" in results[-1].notes[1]


def test_an_app_behind_an_origin_check_gets_the_cases_with_its_own_origin(fragile: str) -> None:
    # Channels' origin validators refuse a socket without Origin: without one, no case would reach the app.
    results = {r.id: r for r in run_robustness_checks(f"{fragile}/guarded/drop", unit=0.5, cases=[])}
    failed = [i for i, r in results.items() if r.behaviour is not Verdict.OK]
    assert failed == ["R1.10"], {i: results[i].notes for i in failed}


def test_a_target_that_refuses_every_socket_is_not_passed_vacuously(fragile: str) -> None:
    (result,) = run_robustness_checks(f"{fragile}/refuse", unit=0.5, cases=[])
    assert result.id == "R0" and result.behaviour is Verdict.NOT_APPLICABLE
    assert "refused a plain socket (HTTP 403)" in result.notes[1]
