"""The fault proxy relays TCP, and each toxic does to the bytes what it says (against a plain echo server)."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from harness.faults.proxy import FaultProxy
from harness.faults.toxics import (
    Bandwidth,
    Blackhole,
    HalfOpen,
    Latency,
    LimitData,
    LinkState,
    ResetPeer,
    parse_toxic,
)

pytestmark = pytest.mark.wire


class _Echo(socketserver.BaseRequestHandler):
    closed_by_peer: threading.Event

    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)
        type(self).closed_by_peer.set()


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    _Echo.closed_by_peer = threading.Event()
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[0], server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy(echo: tuple[str, int]) -> Iterator[FaultProxy]:
    with FaultProxy(echo, seed=7) as p:
        yield p


def _client(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=2)


def _round_trip(sock: socket.socket, data: bytes) -> float:
    t0 = time.monotonic()
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(65536)
        assert chunk, "the connection ended"
        got += chunk
    assert got == data
    return time.monotonic() - t0


def test_bytes_pass_through_untouched_without_a_toxic(proxy: FaultProxy) -> None:
    with _client(proxy) as sock:
        _round_trip(sock, b"hello")
        _round_trip(sock, bytes(range(256)) * 100)


def test_latency_delays_each_direction_and_is_logged(proxy: FaultProxy) -> None:
    with _client(proxy) as sock:
        fast = _round_trip(sock, b"x")
        change = proxy.set_toxic("upstream", Latency(150))
        proxy.set_toxic("downstream", Latency(100, jitter_ms=20))
        slow = _round_trip(sock, b"y")
    # Delays only add: at least 150 + 80 ms, whatever else the machine does.
    assert slow >= 0.23 > fast
    assert [(c.direction, c.toxic) for c in proxy.log] == [
        ("upstream", Latency(150)),
        ("downstream", Latency(100, 20)),
    ]
    assert change.to_dict()["toxic"] == {"kind": "Latency", "delay_ms": 150, "jitter_ms": 0.0}


def test_a_blackhole_swallows_and_keeps_the_connection_then_lets_new_bytes_through(proxy: FaultProxy) -> None:
    with _client(proxy) as sock:
        proxy.set_toxic("upstream", Blackhole())
        sock.sendall(b"lost")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(10)
        proxy.set_toxic("upstream", None)
        sock.settimeout(2)
        _round_trip(sock, b"back")


def test_reset_peer_resets_open_connections_and_refuses_new_ones(proxy: FaultProxy) -> None:
    sock = _client(proxy)
    _round_trip(sock, b"ok")
    proxy.set_toxic("downstream", ResetPeer())
    with pytest.raises(ConnectionResetError):
        for _ in range(10):
            sock.sendall(b"x")
            if not sock.recv(10):
                break
    sock.close()
    # A new connection is reset as soon as the proxy accepts it: at the connect or at the first read.
    with pytest.raises(ConnectionResetError), _client(proxy) as again:
        again.sendall(b"x")
        again.recv(10)


def test_limit_data_closes_after_the_limit(proxy: FaultProxy) -> None:
    proxy.set_toxic("upstream", LimitData(10))
    with _client(proxy) as sock:
        _round_trip(sock, b"0123456789")
        sock.sendall(b"one too many")
        assert sock.recv(10) == b""


def test_half_open_ends_the_server_side_and_leaves_the_client_silent(proxy: FaultProxy, echo: tuple[str, int]) -> None:
    with _client(proxy) as sock:
        _round_trip(sock, b"ok")
        proxy.set_toxic("upstream", HalfOpen())
        assert _Echo.closed_by_peer.wait(2), "the server saw the connection end"
        sock.sendall(b"anyone?")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(10)  # no data and no end: the client cannot tell


def test_bandwidth_paces_the_bytes(proxy: FaultProxy) -> None:
    proxy.set_toxic("downstream", Bandwidth(200_000))
    with _client(proxy) as sock:
        assert _round_trip(sock, b"z" * 60_000) >= 0.25


def test_decisions_are_pure_and_repeatable() -> None:
    a, b = LinkState(seed=3, toxic=Latency(10, 5)), LinkState(seed=3, toxic=Latency(10, 5))
    assert [a.decide(100, t * 1000) for t in range(5)] == [b.decide(100, t * 1000) for t in range(5)]
    ordered = LinkState(toxic=Latency(10, 9))
    times = [ordered.decide(1, t).at_ns for t in range(100)]
    assert times == sorted(times), "TCP order is kept whatever the jitter"
    paced = LinkState(toxic=Bandwidth(1000))
    assert [paced.decide(500, 0).at_ns for _ in range(3)] == [500_000_000, 1_000_000_000, 1_500_000_000]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("latency", "missing delay_ms"),
        ("latency:delay_ms=fast", "delay_ms='fast': expected a number of ms"),
        ("latency:delay=5", "expected delay_ms=<ms>, jitter_ms=<ms>"),
        ("bandwidth:bytes_per_s=0", "bytes_per_s must be > 0"),
        ("thunder", "expected one of latency, bandwidth, blackhole, half_open, reset_peer, limit_data"),
        ("blackhole:x=1", "expected no parameters"),
    ],
)
def test_a_bad_toxic_names_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="toxic") as caught:
        parse_toxic(text)
    assert message in str(caught.value)


def test_toxics_parse_from_text() -> None:
    assert parse_toxic("latency:delay_ms=50,jitter_ms=10") == Latency(50, 10)
    assert parse_toxic("limit_data:bytes=1000") == LimitData(1000)
    assert parse_toxic(" blackhole ") == Blackhole()


def test_the_command_relays_through_its_toxics_until_terminated(echo: tuple[str, int]) -> None:
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "fault-proxy", "--upstream", f"{echo[0]}:{echo[1]}"]
        + ["--toxic", "upstream=latency:delay_ms=120"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        port = int(first.split("127.0.0.1:")[1].split(",")[0])
        assert "upstream: Latency(delay_ms=120.0, jitter_ms=0.0)" in proc.stdout.readline()
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            assert _round_trip(sock, b"hi") >= 0.12
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "stopped; 1 connections relayed, 1 toxic changes" in out


def test_the_command_refuses_a_bad_toxic() -> None:
    from harness.cli import main

    assert main(["fault-proxy", "--upstream", "127.0.0.1:1", "--toxic", "sideways=blackhole"]) == 2
    assert main(["fault-proxy", "--upstream", "nowhere", "--toxic", "upstream=blackhole"]) == 2
