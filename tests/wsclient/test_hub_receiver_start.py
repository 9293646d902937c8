"""A HubReceiver delivers at once what came in the same read as the 101 response, not at the next read."""

from __future__ import annotations

import json

from tests.wsclient.conftest import run_gevent_script

SCRIPT = """
from gevent import monkey
monkey.patch_all()

import json
import socket

import gevent
import gevent.event
from websockets.frames import Frame, Opcode
from websockets.utils import accept_key

from harness.load.hub_receiver import HubReceiver
from harness.load.wsclient import connect

listener = socket.create_server(("127.0.0.1", 0))
done = gevent.event.Event()


def serve():
    conn, _ = listener.accept()
    request = b""
    while b"\\r\\n\\r\\n" not in request:
        request += conn.recv(4096)
    key = next(
        line.split(b":", 1)[1].strip().decode()
        for line in request.split(b"\\r\\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    frames = b"".join(
        Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[]) for text in ("welcome", "joined")
    )
    # The 101 response and two frames in one write: the client's handshake read gets all of it.
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
        + f"Sec-WebSocket-Accept: {accept_key(key)}\\r\\n\\r\\n".encode()
        + frames
    )
    done.wait()  # then nothing more, so no later read could deliver them
    conn.close()


server = gevent.spawn(serve)
conn = connect(f"ws://127.0.0.1:{listener.getsockname()[1]}/", timeout=10)
handled = []
receiver = HubReceiver(conn, lambda message: handled.append(message.data), lambda exc: None).start()
after_start = list(handled)
receiver.stop()
done.set()
server.join()
print(json.dumps({"after_start": after_start}))
"""


def test_frames_behind_the_101_are_handled_when_the_receiver_starts() -> None:
    out = json.loads(run_gevent_script(SCRIPT).strip().splitlines()[-1])
    assert out["after_start"] == ["welcome", "joined"]
