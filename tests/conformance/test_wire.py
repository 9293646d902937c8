"""End to end: the wire checks against real ASGI servers running a raw echo app, and against a broken server.

Known differences between servers are data (``EXPECTED_DIFFERENCES``), measured on this machine and explained
in docs/conformance-wire.md; everything else must be OK, NON-STRICT, INFORMATIONAL or UNIMPLEMENTED.
"""

from __future__ import annotations

import pytest

from harness.conformance import CheckResult, CloseVerdict, KnownDeviation, Verdict, run_wire_checks

pytestmark = pytest.mark.wire

UNIT = 0.5
CATEGORIES = ["1", "2", "3", "4", "5", "6", "7", "10", "handshake", "limits", "keepalive"]
DEFLATE_IDS = ["12.1.1", "12.2.2", "13.1.1", "13.2.1", "13.3.1", "13.6.1"]
GOOD_BEHAVIOURS = {Verdict.OK, Verdict.NON_STRICT, Verdict.INFORMATIONAL, Verdict.UNIMPLEMENTED}
GOOD_CLOSES = {CloseVerdict.OK, CloseVerdict.INFORMATIONAL, CloseVerdict.NOT_APPLICABLE}

#: Per server: case id -> the "behaviour/close" outcomes that are its known, explained difference.
EXPECTED_DIFFERENCES: dict[str, dict[str, set[str]]] = {
    "uvicorn-sansio": {
        # The close is handled before the app's echo of the preceding message is sent (a race).
        "7.1.1": {"NON-STRICT/OK", "OK/OK"},
        # websockets answers a close that interrupts a fragmented message with 1002 (its compliance notes).
        "7.1.5": {"OK/WRONG CODE", "OK/OK"},
    },
    "uvicorn-wsproto": {
        "hs.10": {"FAILED/N/A"},  # a key that is not 16 bytes of base64 is accepted
        "hs.11": {"FAILED/N/A"},
        "hs.12": {"FAILED/N/A"},  # a duplicate key is accepted
        "lim.2": {"FAILED/FAILED"},  # a 2^62-byte frame header is not refused; the server waits for the bytes
        "7.1.1": {"NON-STRICT/OK", "OK/OK"},
    },
    "daphne": {
        # handle_reply tests text/bytes for truthiness, so empty messages are never sent (anchors §2.1).
        "1.1.1": {"FAILED/OK"},
        "1.2.1": {"FAILED/OK"},
        "6.1.1": {"FAILED/OK"},
        "6.1.2": {"FAILED/OK"},
        "7.1.1": {"NON-STRICT/OK", "OK/OK"},
        # autobahn-python answers 400 to an offer of server_max_window_bits=8 instead of declining it.
        "13.3.1": {"FAILED/FAILED"},
    },
}


def _outcome(res: CheckResult) -> str:
    return f"{res.behaviour.value}/{res.behaviour_close.value}"


def _unexpected(results: list[CheckResult], server: str) -> list[str]:
    table = EXPECTED_DIFFERENCES.get(server, {})
    bad = []
    for res in results:
        if res.id in table:
            ok = _outcome(res) in table[res.id]
        else:
            ok = res.behaviour in GOOD_BEHAVIOURS and res.behaviour_close in GOOD_CLOSES
        if not ok:
            bad.append(f"{res.id} {_outcome(res)} {res.notes}")
    return bad


def test_echo_servers(echo_server: tuple[str, str]) -> None:
    server, url = echo_server
    results = run_wire_checks(url, categories=CATEGORIES, unit=UNIT)
    results += run_wire_checks(url, ids=DEFLATE_IDS, unit=UNIT)
    assert len(results) > 250
    assert _unexpected(results, server) == []


def test_boundary_limits(small_limit_server: str) -> None:
    results = run_wire_checks(small_limit_server, categories=["limits"], max_message_size=65536, unit=UNIT)
    verdicts = {r.id: r.behaviour for r in results}
    assert set(verdicts) == {f"lim.{i}" for i in range(1, 10)}
    for case_id in ("lim.6", "lim.7", "lim.8", "lim.9"):
        assert verdicts[case_id] in {Verdict.OK, Verdict.NON_STRICT}, case_id
    over = next(r for r in results if r.id == "lim.7")
    assert over.remote_close_code in (1009, None)


def test_sloppy_server_fails_the_right_checks(sloppy_server: str) -> None:
    ids = ["1.1.2", "1.2.3", "2.1", "3.1", "4.1.1", "5.3", "6.3.1", "hs.1", "hs.10"]
    deviation = KnownDeviation(frozenset({"2.1"}), "https://example.invalid/sloppy#pings", "never answers pings")
    results = {r.id: r for r in run_wire_checks(sloppy_server, ids=ids, unit=UNIT, known_deviations=[deviation])}
    assert {i: results[i].behaviour for i in ids} == {
        "1.1.2": Verdict.OK,
        "1.2.3": Verdict.OK,
        "5.3": Verdict.OK,
        "hs.1": Verdict.OK,
        "2.1": Verdict.KNOWN_DEVIATION,  # no pong; reported with its link
        "3.1": Verdict.FAILED,  # RSV1 frame echoed
        "4.1.1": Verdict.FAILED,  # reserved opcode ignored instead of failing
        "6.3.1": Verdict.FAILED,  # invalid UTF-8 echoed
        "hs.10": Verdict.FAILED,  # malformed key accepted
    }
    assert results["2.1"].known_deviation == "https://example.invalid/sloppy#pings"
    assert results["3.1"].wire_log, "failures carry a wire log"
    assert not results["1.1.2"].wire_log
