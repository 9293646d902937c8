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
