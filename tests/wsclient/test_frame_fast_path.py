"""WsConnection.receive_data parses simple frames itself: it must agree with the websockets core on every stream."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from harness.load.wsclient import WsConnection

MAX_SIZE = 300


class _NoSocket:
    """receive_data does no I/O; the connection only needs a socket object to exist."""

    def send(self, data: bytes) -> int:
        return len(data)

    def close(self) -> None:
        pass


def _protocol(max_size: int | None = MAX_SIZE) -> ClientProtocol:
    return ClientProtocol(parse_uri("ws://server/"), state=State.OPEN, max_size=max_size)


def _frame(opcode: Opcode, data: bytes, *, fin: bool = True, rsv1: bool = False, mask: bool = False) -> bytes:
    raw = Frame(opcode, data, fin=fin).serialize(mask=mask, extensions=[])
    # websockets will not serialise a reserved bit without an extension; set it by hand.
    return bytes([raw[0] | 0x40]) + raw[1:] if rsv1 else raw


def _client_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(first byte, unmasked payload) of each frame the client wrote: masks are random, payloads are not."""
    frames, pos = [], 0
    while pos < len(data):
        first, length = data[pos], data[pos + 1] & 0x7F
        pos += 2
        if length >= 126:
            size = 2 if length == 126 else 8
            length = int.from_bytes(data[pos : pos + size], "big")
            pos += size
        mask, pos = data[pos : pos + 4], pos + 4
        frames.append((first, bytes(b ^ mask[i % 4] for i, b in enumerate(data[pos : pos + length]))))
        pos += length
    return frames


def reference(stream: bytes, eof: bool, max_size: int | None) -> dict[str, Any]:
    """What the core alone makes of the stream: messages (fragments joined), answers, state, close codes."""
    protocol = _protocol(max_size)
    protocol.receive_data(stream)
    if eof:
        protocol.receive_eof()
    messages: list[tuple[str, bytes]] = []
    fragments: list[bytes] = []
    kind = ""
    for event in protocol.events_received():
        assert isinstance(event, Frame)
        if event.opcode in (Opcode.TEXT, Opcode.BINARY):
            kind, fragments = ("text" if event.opcode is Opcode.TEXT else "binary"), [bytes(event.data)]
        elif event.opcode is Opcode.CONT:
            fragments.append(bytes(event.data))
        else:
            continue
        if event.fin:
            messages.append((kind, b"".join(fragments)))
    return {
        "messages": messages,
        "writes": _client_frames(b"".join(protocol.data_to_send())),
        "state": protocol.state,
        "close_rcvd": protocol.close_rcvd,
        "close_sent": protocol.close_sent,
    }


def fast(stream: bytes, cuts: list[int], eof: bool, max_size: int | None) -> dict[str, Any]:
    protocol = _protocol(max_size)
    conn = WsConnection(_NoSocket(), protocol, decode_text=False, max_size=max_size)  # type: ignore[arg-type]
    bounds = [0, *sorted(c % (len(stream) + 1) for c in cuts), len(stream)]
    for start, stop in zip(bounds, bounds[1:], strict=False):
        if stop > start:
            conn.receive_data(stream[start:stop], 0)
    if eof:
        conn.receive_data(b"", 0)
    return {
        "messages": [(m.kind, m.data) for m in conn.take_messages()],
        "writes": _client_frames(b"".join(protocol.data_to_send())),
        "state": protocol.state,
        "close_rcvd": protocol.close_rcvd,
        "close_sent": protocol.close_sent,
    }


payloads = st.binary(max_size=40) | st.binary(min_size=126, max_size=400) | st.just("żółw".encode())
frames = st.one_of(
    st.tuples(st.sampled_from([Opcode.TEXT, Opcode.BINARY]), payloads).map(lambda f: _frame(*f)),
    # a message in fragments, possibly with a ping between them
    st.tuples(
        st.sampled_from([Opcode.TEXT, Opcode.BINARY]), st.lists(st.binary(max_size=20), min_size=2, max_size=4)
    ).map(
        lambda f: (
            _frame(f[0], f[1][0], fin=False)
            + b"".join(_frame(Opcode.CONT, p, fin=False) for p in f[1][1:-1])
            + _frame(Opcode.PING, b"mid")
            + _frame(Opcode.CONT, f[1][-1])
        )
    ),
    st.binary(max_size=20).map(lambda p: _frame(Opcode.PING, p)),
    st.binary(max_size=20).map(lambda p: _frame(Opcode.PONG, p)),
    # what a server must not send: each makes the client fail the connection
    st.just(_frame(Opcode.TEXT, b"masked", mask=True)),
    st.just(_frame(Opcode.TEXT, b"rsv", rsv1=True)),
    st.just(_frame(Opcode.CONT, b"stray continuation")),
    st.just(_frame(Opcode.TEXT, b"head", fin=False) + _frame(Opcode.TEXT, b"not a continuation")),
    st.just(_frame(Opcode.CLOSE, Close(4001, "bye").serialize())),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(frames, max_size=8),
    st.lists(st.integers(0, 10_000), max_size=6),
    st.booleans(),
    st.binary(max_size=3),
    st.sampled_from([MAX_SIZE, None]),
)
def test_fast_path_agrees_with_the_core(
    parts: list[bytes], cuts: list[int], eof: bool, tail: bytes, max_size: int | None
) -> None:
    # ``cuts``: where TCP split the stream into reads; ``tail``: a truncated frame before EOF.
    stream = b"".join(parts) + (tail if eof else b"")
    assert fast(stream, cuts, eof, max_size) == reference(stream, eof, max_size)


def test_text_is_decoded_and_invalid_utf8_fails_with_1007() -> None:
    protocol = _protocol()
    conn = WsConnection(_NoSocket(), protocol, decode_text=True, max_size=MAX_SIZE)  # type: ignore[arg-type]
    conn.receive_data(
        _frame(Opcode.TEXT, "żółw".encode()) + _frame(Opcode.TEXT, b"caf\xe9") + _frame(Opcode.TEXT, b"after"), 7
    )
    messages = conn.take_messages()
    assert [(m.kind, m.data, m.received_ns) for m in messages] == [("text", "żółw", 7)]
    assert protocol.close_sent is not None and protocol.close_sent.code == 1007
    assert not conn.is_open


def test_oversized_frame_fails_with_1009() -> None:
    protocol = _protocol()
    conn = WsConnection(_NoSocket(), protocol, decode_text=False, max_size=MAX_SIZE)  # type: ignore[arg-type]
    conn.receive_data(_frame(Opcode.BINARY, b"x" * (MAX_SIZE + 1)), 0)
    assert conn.take_messages() == []
    assert protocol.close_sent is not None and protocol.close_sent.code == 1009


class _RecordingSocket(_NoSocket):
    def __init__(self) -> None:
        self.sent = b""

    def send(self, data: bytes) -> int:
        self.sent += bytes(data)
        return len(data)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70_000])
def test_sent_frames_are_what_a_server_reads(size: int) -> None:
    sock = _RecordingSocket()
    conn = WsConnection(sock, _protocol(), decode_text=True)  # type: ignore[arg-type]
    text = ("ż" * size).encode()[:size]
    text = text.decode("utf-8", "ignore").encode()
    conn.send_text(text)
    conn.send_binary(b"\x00\xff" * (size // 2))
    server = ServerProtocol(state=State.OPEN, max_size=None)
    server.receive_data(sock.sent)
    frames = server.events_received()
    assert [(f.opcode, f.fin, bytes(f.data)) for f in frames] == [
        (Opcode.TEXT, True, text),
        (Opcode.BINARY, True, b"\x00\xff" * (size // 2)),
    ]
    # Every frame is masked (ServerProtocol refuses unmasked ones), each with a fresh random key.
    assert server.close_sent is None
    assert _client_frames(sock.sent) == [(0x81, text), (0x82, b"\x00\xff" * (size // 2))]
    header = 2 if size < 126 else 4 if size < 65536 else 10
    first_key = sock.sent[header : header + 4]
    second_start = header + 4 + len(text)
    second_header = 2 if size // 2 * 2 < 126 else 4 if size // 2 * 2 < 65536 else 10
    assert first_key != sock.sent[second_start + second_header : second_start + second_header + 4]


def test_sends_after_a_queued_pong_keep_their_order() -> None:
    sock = _RecordingSocket()
    protocol = _protocol()
    conn = WsConnection(sock, protocol, decode_text=True)  # type: ignore[arg-type]
    conn.receive_data(_frame(Opcode.PING, b"p"), 0)  # the core queues a pong; nothing flushed it yet
    conn.send_text(b"after the pong")
    assert _client_frames(sock.sent) == [(0x8A, b"p"), (0x81, b"after the pong")]
