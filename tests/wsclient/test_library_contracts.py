"""The private attributes of other libraries that the generator's hot path reads, checked against the installed ones.

The client and receiver read three things no library documents, because each saves a call or a wake-up per message
(docs/clients.md): websockets' ``ClientProtocol.writes`` (what the core has queued), gevent's ``socket._sock`` (the
OS socket under gevent's wrapper), and Locust's ``WorkerRunner._send_stats`` (a worker's final report). An upgrade
that changes any of them must fail here, not make a run quietly slower or lose its last report.
"""

from __future__ import annotations

import json

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri
from websockets.utils import accept_key

from tests.wsclient.conftest import run_gevent_script


def _open_protocol() -> ClientProtocol:
    """A client core after a real opening handshake, with nothing left to send."""
    protocol = ClientProtocol(parse_uri("ws://127.0.0.1:9/"))
    request = protocol.connect()
    protocol.send_request(request)
    protocol.data_to_send()
    accept = accept_key(request.headers["Sec-WebSocket-Key"])
    protocol.receive_data(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
    )
    protocol.events_received()
    assert protocol.state is State.OPEN
    return protocol


def test_websockets_core_queues_frames_in_writes_until_data_to_send() -> None:
    protocol = _open_protocol()
    assert not protocol.writes, "an open protocol has nothing queued"
    protocol.send_text(b"hello")
    assert protocol.writes, "what the core queues is visible in writes"
    data = protocol.data_to_send()
    assert data and not protocol.writes, "data_to_send drains writes"
    # A ping from the server makes the core queue a pong: the fast send path must then take the core's path.
    protocol.receive_data(Frame(Opcode.PING, b"p").serialize(mask=False))
    assert protocol.writes


# gevent and Locust patch the interpreter they are imported in, so they are looked at in one of their own.
_PATCHED_SCRIPT = """
import locust  # patches the standard library with gevent, as in a generator process
import _socket, inspect, json, socket
from locust.runners import WorkerRunner
sock = socket.socket()
raw = getattr(sock, "_sock", None)
send_stats = getattr(WorkerRunner, "_send_stats", None)
print(json.dumps({
    "raw_is_os_socket": isinstance(raw, _socket.socket),
    "same_fd": raw is not None and raw.fileno() == sock.fileno(),
    "raw_timeout": raw.gettimeout() if raw is not None else None,
    "send_stats_params": list(inspect.signature(send_stats).parameters) if send_stats else None,
    "send_stats_fires_report": bool(send_stats) and "report_to_master" in inspect.getsource(send_stats),
}))
sock.close()
"""


def test_gevent_socket_keeps_the_os_socket_in_sock_and_locust_flushes_with_send_stats() -> None:
    found = json.loads(run_gevent_script(_PATCHED_SCRIPT).strip().splitlines()[-1])
    # The receiver reads the OS socket under gevent's wrapper directly, so it must be there and non-blocking.
    assert found["raw_is_os_socket"] and found["same_fd"] and found["raw_timeout"] == 0.0, found
    # A worker's final report goes through _send_stats, which fires report_to_master (where our snapshot goes).
    assert found["send_stats_params"] == ["self"] and found["send_stats_fires_report"], found
