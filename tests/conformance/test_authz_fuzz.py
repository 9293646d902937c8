"""The authorization fuzz against the reference app: no leak found in the app as it is, and the one hole opened on
purpose (``REFERENCE_APP_TEST_ONLY_NOTIFY_GROUP_FROM_QUERY``) found by its family (docs/reliability.md)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.conformance.app_client import AppTarget
from harness.conformance.authz_fuzz import FAMILIES, _Parties, attempts, run_authz_fuzz
from harness.conformance.model import Verdict
from harness.stack import Stack, StackConfig

ATTEMPTS = 250


def _run(tmp_path: Path, extra_env: tuple[tuple[str, str], ...] = ()) -> dict[str, tuple[Verdict, list[str]]]:
    config = StackConfig(
        server="uvicorn", layer="inmemory", users=4, rooms=1, employees=2, terminals=2, extra_env=extra_env
    )
    with Stack(config, tmp_path / "stack") as stack:
        target = AppTarget(stack.http_url, stack.ws_url, stack.credentials())
        results = run_authz_fuzz(target, count=ATTEMPTS, seed=3)
    return {r.id: (r.behaviour, r.notes) for r in results}


@pytest.mark.wire
def test_the_reference_app_leaks_nothing_to_any_family_of_attempts(tmp_path: Path) -> None:
    results = _run(tmp_path)
    assert set(results) == {f"authz.{f}" for f in FAMILIES} | {"authz.summary"}
    for check, (verdict, notes) in results.items():
        assert verdict is Verdict.OK, (check, notes)
    summary = results["authz.summary"][1][0]
    assert summary.startswith(f"{ATTEMPTS} attempts in 1 batches, 0 leaks; controls")
    # Each family was really tried: refused at the handshake, or opened and then found harmless.
    query = results["authz.notifications.query"][1][0]
    assert query.startswith("25 attempts") and "0 leaks" in query
    assert " 25 opened" in query  # A's own socket opens; the query is ignored
    assert "0 opened" in results["authz.kiosk.cross"][1][0]  # terminal 1's token on terminal 2: refused


@pytest.mark.wire
def test_a_socket_that_joins_the_group_named_in_its_query_is_found(tmp_path: Path) -> None:
    results = _run(tmp_path, (("REFERENCE_APP_TEST_ONLY_NOTIFY_GROUP_FROM_QUERY", "1"),))
    verdict, notes = results["authz.notifications.query"]
    assert verdict is Verdict.FAILED
    assert "received 'notification' meant for B" in " ".join(notes)
    assert results["authz.summary"][0] is Verdict.FAILED
    assert results["authz.kiosk.cross"][0] is Verdict.OK


def test_the_families_take_turns_and_repeat_from_the_seed() -> None:
    parties = _Parties(1, "a", 2, "b", 1, "t1token", 2)
    first = attempts(parties, 40, random.Random(5))
    assert [a.family for a in first[:10]] == list(FAMILIES)
    assert first == attempts(parties, 40, random.Random(5))
    assert first != attempts(parties, 40, random.Random(6))
