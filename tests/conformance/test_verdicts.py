"""The verdict rules (Autobahn's case.py order, plus ours) applied to recorded connection states."""

from __future__ import annotations

from harness.conformance.model import CloseExpect, CloseVerdict, Expect, Observation, Verdict
from harness.conformance.runner import _judge
from harness.conformance.wire_connection import ConnectionState

HELLO = Observation("text", b"Hello")
ECHO = Expect(ok=(HELLO,), close=CloseExpect(closed_by_client=True, codes=(1000,), require_clean=True))
FAIL = Expect(ok=(), close=CloseExpect(closed_by_client=False, codes=(1002,), require_clean=False))


def clean_client_close(**kw: object) -> ConnectionState:
    state = ConnectionState(
        first_closer="client",
        server_close_received=True,
        server_close_code=1000,
        client_close_sent=True,
        eof=True,
    )
    for key, value in kw.items():
        setattr(state, key, value)
    return state


def test_echo_ok() -> None:
    assert _judge(ECHO, clean_client_close(observations=[HELLO]))[:2] == (Verdict.OK, CloseVerdict.OK)


def test_echo_missing_is_failed_with_a_plain_note() -> None:
    behaviour, close, notes = _judge(ECHO, clean_client_close())
    assert (behaviour, close) == (Verdict.FAILED, CloseVerdict.OK)
    assert any("expected text(5B" in n for n in notes)


def test_unclean_and_failed_by_client() -> None:
    assert _judge(ECHO, clean_client_close(observations=[HELLO], server_close_received=False))[1] is (
        CloseVerdict.UNCLEAN
    )
    assert _judge(ECHO, clean_client_close(observations=[HELLO], dropped_by_client=True))[1] is (
        CloseVerdict.FAILED_BY_CLIENT
    )


def test_server_fails_by_dropping_tcp_is_ok() -> None:
    state = ConnectionState(first_closer="server", eof=True)
    assert _judge(FAIL, state)[:2] == (Verdict.OK, CloseVerdict.OK)


def test_wrong_code() -> None:
    state = ConnectionState(first_closer="server", server_close_received=True, server_close_code=1000, eof=True)
    assert _judge(FAIL, state)[:2] == (Verdict.OK, CloseVerdict.WRONG_CODE)
    strict = Expect(ok=(), close=FAIL.close, wrong_code_fails=True)
    assert _judge(strict, state)[0] is Verdict.FAILED


def test_server_that_never_fails_is_failed() -> None:
    state = ConnectionState(first_closer="client", dropped_by_client=True)
    assert _judge(FAIL, state)[:2] == (Verdict.FAILED, CloseVerdict.FAILED)


def test_fail_fast() -> None:
    expect = Expect(ok=(), close=FAIL.close, fail_fast_step=3)
    fast = ConnectionState(first_closer="server", eof=True, steps_done_at_server_close=2)
    slow = ConnectionState(first_closer="server", eof=True, steps_done_at_server_close=4)
    assert _judge(expect, fast)[0] is Verdict.OK
    assert _judge(expect, slow)[0] is Verdict.NON_STRICT


def test_non_strict_alternative_and_informational() -> None:
    expect = Expect(ok=(HELLO,), close=FAIL.close, non_strict=((),))
    assert _judge(expect, ConnectionState(first_closer="server", eof=True))[0] is Verdict.NON_STRICT
    info = Expect(ok=(), close=ECHO.close, informational=True)
    behaviour, close, notes = _judge(info, clean_client_close())
    assert (behaviour, close) == (Verdict.INFORMATIONAL, CloseVerdict.INFORMATIONAL)
    assert notes
