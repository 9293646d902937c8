"""harness.load.wsclient against a real server over loopback: echo, headers, failures, closes, pings, gevent."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from websockets.frames import Close, Frame, Opcode
from websockets.utils import accept_key

from harness.load.wsclient import Closed, ConnectFailure, Message, connect
from tests.conftest import TIMEOUT
from tests.wsclient.conftest import run_gevent_script


def test_echo_text(server_url: str) -> None:
    with connect(f"{server_url}/echo", timeout=TIMEOUT) as ws:
        for text in ("hello", "", "żółw ∑ 🐢", '{"type": "chat", "body": "x"}'):
            ws.send_text(text)
            message = ws.recv(TIMEOUT)
            assert (message.kind, message.data) == ("text", text)


def test_echo_text_as_bytes(server_url: str) -> None:
    with connect(f"{server_url}/echo", timeout=TIMEOUT, decode_text=False) as ws:
        ws.send_text("żółw".encode())
        message = ws.recv(TIMEOUT)
        assert (message.kind, message.data) == ("text", "żółw".encode())


@pytest.mark.parametrize("kind", ["text", "binary"])
def test_echo_one_mebibyte(server_url: str, kind: str) -> None:
    payload = os.urandom(2**19).hex()  # 1 MiB of ASCII, different every run
    with connect(f"{server_url}/echo", timeout=TIMEOUT) as ws:
        if kind == "text":
            ws.send_text(payload)
        else:
            ws.send_binary(payload.encode())
        message = ws.recv(TIMEOUT)
    assert message.kind == kind
    assert message.data == (payload if kind == "text" else payload.encode())


def test_echo_larger_than_socket_buffers(server_url: str) -> None:
    # Bigger than the kernel takes in one send(), so the rest of the frame must follow.
    payload = os.urandom(16 * 2**20)
    with connect(f"{server_url}/echo", timeout=TIMEOUT, max_size=None) as ws:
        ws.send_binary(payload)
        assert ws.recv(TIMEOUT).data == payload


def test_message_over_max_size_closes_with_1009(server_url: str) -> None:
    with connect(f"{server_url}/echo", timeout=TIMEOUT, max_size=1000) as ws:
        ws.send_binary(b"x" * 1000)
        assert ws.recv(TIMEOUT).data == b"x" * 1000
        ws.send_binary(b"x" * 1001)
        with pytest.raises(Closed) as info:
            ws.recv(TIMEOUT)
    assert (info.value.code, info.value.by) == (1009, "client")


def test_browser_headers_reach_the_server(server_url: str) -> None:
    with connect(
        f"{server_url}/headers?token=abc",
        origin="http://testserver",
        cookies={"sessionid": "s3cret", "csrftoken": "tok"},
        headers={"X-Request-Id": "42", "User-Agent": "Mozilla/5.0 (test)"},
        subprotocols=["chat.v1", "other"],
        timeout=TIMEOUT,
    ) as ws:
        seen = json.loads(ws.recv(TIMEOUT).data)
        assert ws.subprotocol == "chat.v1"
        assert ws.response_headers["Sec-WebSocket-Protocol"] == "chat.v1"
    assert seen["path"] == "/headers?token=abc"
    headers = seen["headers"]
    assert headers["origin"] == ["http://testserver"]
    assert headers["cookie"] == ["sessionid=s3cret; csrftoken=tok"]
    assert headers["x-request-id"] == ["42"]
    assert headers["user-agent"] == ["Mozilla/5.0 (test)"]  # replaced, not sent twice
    assert headers["sec-websocket-protocol"] == ["chat.v1, other"]


def test_http_403_is_http_status(server_url: str) -> None:
    with pytest.raises(ConnectFailure) as info:
        connect(f"{server_url}/forbidden", origin="http://evil.example", timeout=TIMEOUT)
    failure = info.value
    assert (failure.kind, failure.status, failure.phase) == ("http_status", 403, "handshake")
    assert "Forbidden by test server" in failure.detail


def test_refused(closed_port: int) -> None:
    with pytest.raises(ConnectFailure) as info:
        connect(f"ws://127.0.0.1:{closed_port}/", timeout=TIMEOUT)
    assert (info.value.kind, info.value.status, info.value.phase) == ("refused", None, "tcp")


def test_handshake_never_answered_is_timeout(silent_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(ConnectFailure) as info:
        connect(f"ws://127.0.0.1:{silent_port}/", timeout=TIMEOUT / 10)
    assert (info.value.kind, info.value.phase) == ("timeout", "handshake")
    assert time.monotonic() - started < TIMEOUT / 2


def test_unresolvable_host_is_dns() -> None:
    with pytest.raises(ConnectFailure) as info:
        connect("ws://no-such-host.invalid/", timeout=TIMEOUT)
    assert info.value.kind == "dns"


def test_not_a_websocket_url() -> None:
    with pytest.raises(ValueError):
        connect("http://127.0.0.1/", timeout=TIMEOUT)


def test_server_close_code_and_reason(server_url: str) -> None:
    ws = connect(f"{server_url}/close?code=4001&reason=go+away", timeout=TIMEOUT)
    with pytest.raises(Closed) as info:
        ws.recv(TIMEOUT)
    assert (info.value.code, info.value.reason, info.value.by) == (4001, "go away", "server")
    assert ws.closed
    with pytest.raises(Closed):
        ws.send_text("too late")


def test_server_kills_tcp_is_abnormal_1006(server_url: str) -> None:
    ws = connect(f"{server_url}/abort", timeout=TIMEOUT)
    ws.send_text("now")
    with pytest.raises(Closed) as info:
        ws.recv(TIMEOUT)
    assert (info.value.code, info.value.by) == (1006, "abnormal")


def test_client_close(server_url: str) -> None:
    ws = connect(f"{server_url}/echo", timeout=TIMEOUT)
    # Open after the handshake; once closed, nothing may be taken for a frame it could parse itself.
    assert ws.at_frame_boundary
    ws.send_text("unread")
    time.sleep(TIMEOUT / 50)  # let the echo arrive before the close frame is sent
    ws.close(4000, "done")
    assert not ws.at_frame_boundary
    ws.close()  # idempotent
    # An echo that arrived before the close is not lost.
    assert ws.recv(TIMEOUT).data == "unread"
    with pytest.raises(Closed) as info:
        ws.recv(TIMEOUT)
    assert (info.value.code, info.value.reason, info.value.by) == (4000, "done", "client")
    with pytest.raises(Closed):
        ws.send_binary(b"x")


def test_server_ping_is_answered(server_url: str) -> None:
    with connect(f"{server_url}/ping", timeout=TIMEOUT) as ws:
        ws.send_text("ping me")
        assert ws.recv(TIMEOUT).data == "pong received"


def test_fragmented_messages_are_reassembled(server_url: str) -> None:
    with connect(f"{server_url}/fragments", timeout=TIMEOUT) as ws:
        first, second = ws.recv(TIMEOUT), ws.recv(TIMEOUT)
    assert (first.kind, first.data) == ("text", "fragmented text")
    assert (second.kind, second.data) == ("binary", b"\x00\x01\x02")


def test_recv_many_returns_batches_in_order(server_url: str) -> None:
    received: list[Message] = []
    with connect(f"{server_url}/burst?n=300", timeout=TIMEOUT) as ws:
        while len(received) < 300:
            batch = ws.recv_many(TIMEOUT)
            assert batch
            assert len({m.received_ns for m in batch}) == 1  # one read, one timestamp
            received.extend(batch)
    assert [m.data for m in received] == [f"burst {i}" for i in range(300)]
    assert [m.received_ns for m in received] == sorted(m.received_ns for m in received)


def test_recv_timeout_keeps_the_connection(server_url: str) -> None:
    with connect(f"{server_url}/echo", timeout=TIMEOUT) as ws:
        with pytest.raises(TimeoutError):
            ws.recv(TIMEOUT / 50)
        with pytest.raises(TimeoutError):
            ws.recv_many(TIMEOUT / 50)
        ws.send_text("still here")
        assert ws.recv(TIMEOUT).data == "still here"


def test_timing_fields(server_url: str) -> None:
    with connect(f"{server_url}/echo", timeout=TIMEOUT) as ws:
        timing = ws.connect_timing
        assert timing.tcp_ns > 0 and timing.handshake_ns > 0 and timing.dns_ns >= 0
        assert timing.dns_ns + timing.tcp_ns + timing.handshake_ns == timing.total_ns
        before = time.monotonic_ns()
        ws.send_text("t")
        message = ws.recv(TIMEOUT)
        after = time.monotonic_ns()
    assert before < message.received_ns <= after


@contextmanager
def raw_server(script: Callable[[socket.socket], None]) -> Iterator[int]:
    """One connection to a hand-written server: accept it, answer the handshake, run ``script``."""
    listener = socket.create_server(("127.0.0.1", 0))
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096)
                key = next(
                    line.split(b":", 1)[1].strip().decode()
                    for line in request.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")
                )
                conn.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n".encode()
                    # A message in the same segment as the 101 response.
                    + _frame(Opcode.TEXT, b"right after 101")
                )
                script(conn)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(TIMEOUT)
        listener.close()
    if errors:
        raise errors[0]


def _frame(opcode: Opcode, data: bytes) -> bytes:
    return Frame(opcode, data).serialize(mask=False, extensions=[])


def test_tcp_segmentation_and_close_after_data() -> None:
    big = os.urandom(70_000)  # longer than one read, with a 64-bit length field

    def script(conn: socket.socket) -> None:
        frame = _frame(Opcode.TEXT, "split ∑".encode())
        for i in range(len(frame)):  # one byte per segment, even inside the UTF-8 sequence
            conn.sendall(frame[i : i + 1])
            time.sleep(0.002)
        conn.sendall(_frame(Opcode.BINARY, big))
        # A last message and the close frame in one segment: the message must still be delivered.
        conn.sendall(_frame(Opcode.TEXT, b"last") + _frame(Opcode.CLOSE, Close(4002, "bye").serialize()))
        # The client echoes the close frame before we drop TCP.
        echoed = conn.recv(4096)
        assert echoed[0] == 0x88, echoed

    with raw_server(script) as port:
        ws = connect(f"ws://127.0.0.1:{port}/", timeout=TIMEOUT)
        assert ws.recv(TIMEOUT).data == "right after 101"
        assert ws.recv(TIMEOUT).data == "split ∑"
        assert ws.recv(TIMEOUT).data == big
        assert ws.recv(TIMEOUT).data == "last"
        with pytest.raises(Closed) as info:
            ws.recv(TIMEOUT)
    assert (info.value.code, info.value.reason, info.value.by) == (4002, "bye", "server")


def test_recv_many_returns_everything_one_read_completed() -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(b"".join(_frame(Opcode.TEXT, f"m{i}".encode()) for i in range(50)))
        conn.recv(4096)  # the client's close frame

    with raw_server(script) as port:
        with connect(f"ws://127.0.0.1:{port}/", timeout=TIMEOUT) as ws:
            assert ws.recv(TIMEOUT).data == "right after 101"
            time.sleep(TIMEOUT / 50)  # the 50 frames were one write; let them all arrive
            batch = ws.recv_many(TIMEOUT)
    assert [m.data for m in batch] == [f"m{i}" for i in range(50)]


def test_recv_timeout_bounds_a_message_that_trickles_in() -> None:
    frame = _frame(Opcode.TEXT, b"slow " * 10)
    step = TIMEOUT / 250

    def script(conn: socket.socket) -> None:
        for i in range(len(frame)):  # one byte per step: 51 steps, far beyond the recv timeout
            conn.sendall(frame[i : i + 1])
            time.sleep(step)
        conn.recv(4096)

    with raw_server(script) as port:
        with connect(f"ws://127.0.0.1:{port}/", timeout=TIMEOUT) as ws:
            assert ws.recv(TIMEOUT).data == "right after 101"
            started = time.monotonic()
            # Every read returns a byte in time, so only a deadline over the whole call can expire.
            with pytest.raises(TimeoutError):
                ws.recv(step * 10)
            assert time.monotonic() - started < step * 30
            # The bytes read so far were kept: the message completes on a later call.
            assert ws.recv(TIMEOUT).data == "slow " * 10


def test_invalid_utf8_text_fails_with_1007() -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(_frame(Opcode.TEXT, b"caf\xe9"))  # Latin-1, not UTF-8
        echoed = conn.recv(4096)
        assert echoed[0] == 0x88, echoed  # the client's close frame

    with raw_server(script) as port:
        ws = connect(f"ws://127.0.0.1:{port}/", timeout=TIMEOUT)
        assert ws.recv(TIMEOUT).data == "right after 101"
        with pytest.raises(Closed) as info:
            ws.recv(TIMEOUT)
    assert (info.value.code, info.value.by) == (1007, "client")


def test_invalid_handshake_response_is_handshake_error() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with pytest.raises(ConnectFailure) as info:
            connect(f"ws://127.0.0.1:{listener.getsockname()[1]}/", timeout=TIMEOUT)
    finally:
        thread.join(TIMEOUT)
        listener.close()
    assert (info.value.kind, info.value.status, info.value.phase) == ("handshake_error", None, "handshake")


GEVENT_SCRIPT = """
from gevent import monkey
monkey.patch_all()

import sys
import time

import gevent

from harness.load.wsclient import connect

url, greenlets, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def user(n):
    with connect(url, origin="http://testserver", timeout=10) as ws:
        for i in range(rounds):
            text = f"user {n} message {i}"
            ws.send_text(text)
            assert ws.recv(10).data == text
    return n


started = time.monotonic()
jobs = [gevent.spawn(user, n) for n in range(greenlets)]
gevent.joinall(jobs, raise_error=True)
assert sorted(job.value for job in jobs) == list(range(greenlets))
print(f"{time.monotonic() - started:.3f}")
"""


def test_concurrent_greenlets_under_gevent(server_url: str) -> None:
    greenlets, rounds = 50, 3
    elapsed = float(run_gevent_script(GEVENT_SCRIPT, f"{server_url}/slow", str(greenlets), str(rounds)))
    # Each echo takes 0.3 s at the server: run one greenlet at a time, 150 echoes would take 45 s.
    serial = greenlets * rounds * 0.3
    assert elapsed < serial / 5, f"{elapsed} s: greenlets did not overlap"
