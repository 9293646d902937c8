"""Repeated reads (harness.load.hub_receiver.RepeatReads): a read equal to an earlier single-frame read is handled from
the handler's token instead of being parsed, and that must never change what the handler sees."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from harness.load.hub_receiver import HubReceiver, RepeatReads
from harness.load.wsclient import Closed, Message, WsConnection


class _NoSocket:
    """Nothing here reads or writes a socket; the connection only needs one to exist."""

    def send(self, data: bytes) -> int:
        return len(data)

    def close(self) -> None:
        pass


class _Receiver(HubReceiver):
    """A receiver fed by hand: what it would run in a greenlet (a pong, a closing handshake) is only noted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spawned: list[str] = []

    def _spawn(self, func: Callable[[], None]) -> None:
        self.spawned.append(getattr(func, "__name__", repr(func)))

    def feed(self, data: bytes, now_ns: int) -> None:
        self._handle(data, now_ns)


def _conn() -> WsConnection:
    protocol = ClientProtocol(parse_uri("ws://server/"), state=State.OPEN, max_size=300)
    return WsConnection(_NoSocket(), protocol, decode_text=True)  # type: ignore[arg-type]


def _frame(opcode: Opcode, data: bytes, *, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin=fin).serialize(mask=False, extensions=[])


A = _frame(Opcode.TEXT, b'{"seq": 1}')
B = _frame(Opcode.TEXT, b'{"seq": 2}')
BIN = _frame(Opcode.BINARY, b"\x00\x01")
LONG = _frame(Opcode.TEXT, b"y" * 200)  # 16-bit length
BIN_HEAD_A = _frame(Opcode.BINARY, bytes(len(A)))[:2]

# Reads whose bytes recur, chosen so that an equal read can mean something else in another parser state: a split
# frame whose second part looks like nothing on its own, a frame and a half, fragments, control frames.
POOL = [
    A,
    B,
    BIN,
    LONG,
    A + B,
    A + _frame(Opcode.PING, b"p"),
    A[:3],
    A[3:],
    A + B[:1],
    B[1:],
    LONG[:2],
    LONG[2:],
    _frame(Opcode.TEXT, b"part-", fin=False),
    _frame(Opcode.CONT, b"end"),
    _frame(Opcode.PING, b"p"),
    _frame(Opcode.TEXT, b"\xff\xfe"),  # invalid UTF-8: the connection fails (1007)
    _frame(Opcode.CLOSE, b"\x03\xe8bye"),
    b"\x81",
    b"\x0a",
    BIN_HEAD_A,
]


def _check_boundary(conn: WsConnection) -> None:
    """at_frame_boundary is kept up to date rather than computed: it must always say what its definition says."""
    expected = (
        not conn._partial
        and not conn._core_only
        and conn._fragment_opcode is None
        and conn._protocol.state is State.OPEN
    )
    assert conn.at_frame_boundary == expected


def _run(reads: list[tuple[int, bytes]], conns: int, repeats: RepeatReads | None) -> dict[str, Any]:
    """Feed ``reads`` (connection index, bytes) to receivers, with or without one shared RepeatReads."""
    seen: list[tuple[int, str, Any, int]] = []
    replays = 0

    def receiver(index: int, conn: WsConnection) -> _Receiver:
        def on_message(message: Message) -> tuple[str, Any]:
            seen.append((index, message.kind, message.data, message.received_ns))
            return (message.kind, message.data)

        def on_repeat(token: object, now_ns: int) -> None:
            nonlocal replays
            replays += 1
            kind, data = token  # type: ignore[misc]
            seen.append((index, kind, data, now_ns))

        def on_closed(exc: Closed) -> None:
            raise AssertionError(f"no greenlet runs here, got {exc}")

        if repeats is None:
            return _Receiver(conn, on_message, on_closed)
        return _Receiver(conn, on_message, on_closed, repeats=repeats, on_repeat=on_repeat)

    receivers = [receiver(i, _conn()) for i in range(conns)]
    for now_ns, (index, data) in enumerate(reads, start=1):
        receivers[index].feed(data, now_ns)
        _check_boundary(receivers[index].conn)
    return {
        "seen": seen,
        "spawned": [r.spawned for r in receivers],
        "states": [(r.conn.at_frame_boundary, r.conn.is_open, r.conn.has_data_to_send()) for r in receivers],
        "replays": replays,
    }


@settings(max_examples=400, deadline=None)
@given(
    conns=st.integers(1, 3),
    picks=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(POOL)), max_size=24),
)
def test_repeats_change_nothing_the_handler_or_the_connection_sees(conns: int, picks: list[tuple[int, bytes]]) -> None:
    reads = [(index % conns, data) for index, data in picks]
    plain = _run(reads, conns, None)
    shortcut = _run(reads, conns, RepeatReads())
    assert shortcut["seen"] == plain["seen"]
    assert shortcut["spawned"] == plain["spawned"]
    assert shortcut["states"] == plain["states"]


class _DeadSocket(_NoSocket):
    """A peer that is gone: every read fails."""

    def settimeout(self, timeout: float | None) -> None:
        pass

    def recv(self, size: int) -> bytes:
        raise ConnectionResetError("gone")

    def shutdown(self, how: int) -> None:
        pass


def test_a_connection_closed_without_an_answer_is_not_at_a_frame_boundary() -> None:
    protocol = ClientProtocol(parse_uri("ws://server/"), state=State.OPEN)
    conn = WsConnection(_DeadSocket(), protocol, decode_text=True)  # type: ignore[arg-type]
    assert conn.at_frame_boundary
    conn.close()
    _check_boundary(conn)
    assert not conn.at_frame_boundary


def test_a_room_message_is_parsed_once_and_every_member_gets_it_at_its_own_read() -> None:
    result = _run([(member, LONG) for member in range(50)], 50, RepeatReads())
    assert result["replays"] == 49
    assert [(index, now_ns) for index, _kind, _data, now_ns in result["seen"]] == [(i, i + 1) for i in range(50)]
    assert {data for _i, _k, data, _n in result["seen"]} == {"y" * 200}


def test_only_reads_of_exactly_one_whole_frame_are_remembered() -> None:
    repeats = RepeatReads()
    # Two frames; a split frame; a frame and the start of the next (one message, but bytes left over); a frame
    # and a ping (one message, but the core answers); a control frame alone.
    reads = [A + B, A[:3], A[3:], A + B[:1], B[1:], A + _frame(Opcode.PING, b"p"), _frame(Opcode.PING, b"p")]
    _run([(0, data) for data in reads], 1, repeats)
    assert len(repeats) == 0
    _run([(0, A)], 1, repeats)
    assert len(repeats) == 1


def test_an_equal_read_in_the_middle_of_a_frame_is_parsed_as_the_rest_of_that_frame() -> None:
    # A binary frame's header announcing len(A) bytes, then a read equal to A: it is that frame's payload.
    result = _run([(0, A), (1, BIN_HEAD_A), (1, A)], 2, RepeatReads())
    assert result["replays"] == 0
    assert result["seen"][1] == (1, "binary", A, 3)


def test_an_equal_read_while_a_fragmented_message_is_in_progress_goes_to_the_core() -> None:
    # A text frame where a continuation must come breaks the protocol: the core fails the connection (1002).
    result = _run([(0, A), (1, _frame(Opcode.TEXT, b"part-", fin=False)), (1, A)], 2, RepeatReads())
    assert result["replays"] == 0
    assert len(result["seen"]) == 1
    assert result["states"][1][1] is False


def _no_repeat(token: object, now_ns: int) -> None:
    raise AssertionError(f"no read should have been a repeat, got {token!r} at {now_ns}")


def test_a_token_of_none_is_never_remembered() -> None:
    repeats = RepeatReads()
    calls: list[int] = []
    receivers = [
        _Receiver(_conn(), lambda m: calls.append(m.received_ns), lambda e: None, repeats=repeats, on_repeat=_no_repeat)
        for _ in range(3)
    ]
    for i, r in enumerate(receivers):
        r.feed(A, i)
    assert calls == [0, 1, 2]
    assert len(repeats) == 0


def test_a_failing_repeat_handler_is_logged_and_the_next_reads_are_still_handled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    repeats = RepeatReads()
    handled: list[int] = []

    def on_repeat(token: object, now_ns: int) -> None:
        if now_ns == 2:
            raise RuntimeError("boom")
        handled.append(now_ns)

    receivers = [
        _Receiver(_conn(), lambda m: "token", lambda e: None, repeats=repeats, on_repeat=on_repeat) for _ in range(4)
    ]
    with caplog.at_level(logging.ERROR, logger="harness.receiver"):
        for now_ns, r in enumerate(receivers, start=1):
            r.feed(A, now_ns)
    assert handled == [3, 4]
    assert "failed on a repeat of 'token'" in caplog.text


def test_long_reads_are_not_remembered_and_the_memory_is_bounded() -> None:
    repeats = RepeatReads(max_reads=2, max_bytes=len(A))
    _run([(0, LONG), (0, LONG)], 1, repeats)
    assert len(repeats) == 0
    result = _run([(0, A), (0, A)], 1, repeats)
    assert result["replays"] == 1
    frames = [_frame(Opcode.TEXT, str(i).encode()) for i in range(5)]
    _run([(0, f) for f in frames], 1, repeats)
    assert 1 <= len(repeats) <= 2


def test_repeats_and_on_repeat_go_together() -> None:
    with pytest.raises(ValueError, match="give both or neither"):
        HubReceiver(_conn(), lambda m: None, lambda e: None, repeats=RepeatReads())
    with pytest.raises(ValueError, match="give both or neither"):
        HubReceiver(_conn(), lambda m: None, lambda e: None, on_repeat=_no_repeat)
    with pytest.raises(ValueError, match="max_reads and max_bytes"):
        RepeatReads(max_reads=0)
