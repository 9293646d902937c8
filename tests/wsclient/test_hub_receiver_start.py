"""A HubReceiver delivers at once what came in the same read as the 101 response, not at the next read."""

from __future__ import annotations

import json

from tests.wsclient.conftest import run_gevent_script

SCRIPT = """
from gevent import monkey
monkey.patch_all()

import json

import gevent.event

from harness.load.hub_receiver import HubReceiver
from harness.load.wsclient import connect
from tests.wsclient.test_wsclient import raw_server

done = gevent.event.Event()
# The server writes its 101 response and a first frame in one segment, then nothing until we are done: no later
# read could deliver that frame.
with raw_server(lambda conn: done.wait(10)) as port:
    conn = connect(f"ws://127.0.0.1:{port}/", timeout=10)
    handled = []
    receiver = HubReceiver(conn, lambda message: handled.append(message.data), lambda exc: None).start()
    after_start = list(handled)
    receiver.stop()
    done.set()
print(json.dumps({"after_start": after_start}))
"""


def test_frames_behind_the_101_are_handled_when_the_receiver_starts() -> None:
    out = json.loads(run_gevent_script(SCRIPT).strip().splitlines()[-1])
    assert out["after_start"] == ["right after 101"]


SEND_AFTER_CLOSE = """
from gevent import monkey
monkey.patch_all()

import json
import struct

import gevent
import gevent.event

from harness.load.hub_receiver import HubReceiver
from harness.load.wsclient import Closed, connect
from tests.wsclient.test_wsclient import raw_server

done = gevent.event.Event()


def server(sock):
    # Once the client's receiver reads in the hub: a close frame (1012, a restart), then the TCP connection held
    # open, so the receiver hands the closing handshake to a greenlet that waits on the socket for the end while
    # the user still sends.
    gevent.sleep(0.2)
    sock.sendall(bytes((0x88, 2)) + struct.pack("!H", 1012))
    done.wait(10)


with raw_server(server) as port:
    conn = connect(f"ws://127.0.0.1:{port}/", timeout=10)
    closes = []
    receiver = HubReceiver(conn, lambda message: None, closes.append).start()
    gevent.sleep(0.5)
    try:
        conn.send_text("after the server's close")
        outcome = "sent"
    except Closed as exc:
        outcome = f"Closed {exc.code}"
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    done.set()
    gevent.sleep(0.3)
    receiver.stop()
print(json.dumps({"outcome": outcome, "receiver_saw": [c.code for c in closes]}))
"""


def test_a_send_after_the_server_s_close_frame_raises_closed_while_a_receiver_reads() -> None:
    # The sender must not read the socket the receiver waits on: gevent refuses two greenlets on one socket, and the
    # user's task died with that error in a chaos run (a server closing with 1011 or 1012 while users sent).
    out = json.loads(run_gevent_script(SEND_AFTER_CLOSE).strip().splitlines()[-1])
    assert out["outcome"] == "Closed 1012", out
    assert out["receiver_saw"] == [1012], out
