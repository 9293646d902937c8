"""Deferred handling (harness.load.hub_receiver.ReceiveBatch) in a gevent process against the real echo server.

Every message must be timed at its read, handled later in read order across sockets, and never lost: not at
stop(), not before a close, not when a pong has to go out.
"""

from __future__ import annotations

import json
import time
from typing import Any, cast

import gevent
import pytest

from harness.load.hub_receiver import FLUSH_AT_READS, HubReceiver, ReceiveBatch
from tests.wsclient.conftest import run_gevent_script

# A long delay, so that "handled a batch later" and "timed at the read" stay far apart even on a VM whose timers
# fire tens of milliseconds late.
DELAY_S = 0.4

SCRIPT = """
from gevent import monkey
monkey.patch_all()

import json
import sys
import time

import gevent

from harness.load.hub_receiver import HubReceiver, ReceiveBatch
from harness.load.wsclient import connect

url, delay = sys.argv[1], float(sys.argv[2])
batch = ReceiveBatch(delay)
handled = []
closed = []


def receiver(name, conn):
    def on_message(message):
        handled.append([name, message.data, message.received_ns, time.monotonic_ns()])

    return HubReceiver(conn, on_message, lambda exc: closed.append([name, exc.code, len(handled)]), batch).start()


a = connect(url + "/echo", timeout=10)
b = connect(url + "/echo", timeout=10)
ra = receiver("a", a)
receiver("b", b)
sent = {}
for name, conn, text in [("a", a, "a1"), ("b", b, "b1"), ("a", a, "a2")]:
    sent[text] = time.monotonic_ns()
    conn.send_text(text)
    gevent.sleep(0.02)  # separate reads
pending_after_reads = len(batch)
handled_before_delay = len(handled)
gevent.sleep(delay * 2 + 0.2)
first = [list(h) for h in handled]

# Read, not yet handled, then stop(): the message must still be delivered.
a.send_text("a3")
gevent.sleep(0.1)
pending_before_stop = len(batch)
ra.stop()
stopped_with = [h[1] for h in handled]

# The end of a connection queues behind the messages read before it: five messages, then the server's close.
c = connect(url + "/burst?n=5&close=1", timeout=10)
receiver("c", c)
# A connection the server drops (TCP reset or EOF, no close frame).
d = connect(url + "/abort", timeout=10)
receiver("d", d)
d.send_text("bye")
gevent.sleep(delay * 2 + 0.5)

# A server ping: the pong is queued by the core while the batch is handled and must still go out.
p = connect(url + "/ping", timeout=10)
receiver("p", p)
p.send_text("go")
gevent.sleep(delay * 2 + 1.0)

print(json.dumps({
    "sent": sent, "first": first, "pending_after_reads": pending_after_reads,
    "handled_before_delay": handled_before_delay, "pending_before_stop": pending_before_stop,
    "stopped_with": stopped_with, "closed": closed, "all": [h[:2] for h in handled],
}))
"""


def _run(server_url: str) -> dict[str, Any]:
    return dict(json.loads(run_gevent_script(SCRIPT, server_url, str(DELAY_S))))


def test_messages_are_timed_at_the_read_and_handled_later_in_read_order(server_url: str) -> None:
    out = _run(server_url)
    # Three reads queued, none handled yet.
    assert (out["pending_after_reads"], out["handled_before_delay"]) == (3, 0), out
    first = out["first"]
    assert [(name, data) for name, data, _, _ in first] == [("a", "a1"), ("b", "b1"), ("a", "a2")]
    for _, data, received_ns, handled_ns in first:
        # A loopback echo takes well under a millisecond; the handler ran a batch later.
        assert received_ns - out["sent"][data] < DELAY_S * 1e9 / 4, (data, first)
        assert handled_ns - received_ns > DELAY_S * 1e9 / 2, (data, first)
    # One batch: the last read's delay started no timer of its own.
    assert len({handled_ns // 10_000_000 for *_, handled_ns in first}) == 1, first


def test_nothing_read_is_lost_at_stop_or_at_the_end_and_pongs_still_go_out(server_url: str) -> None:
    out = _run(server_url)
    assert out["pending_before_stop"] == 1, out
    assert out["stopped_with"][-1] == "a3", out
    handled_names = [name for name, _ in out["all"]]
    closes = {name: (code, handled) for name, code, handled in out["closed"]}
    # All five of the burst were handled before its close was reported.
    assert closes["c"][0] == 1000, out
    assert handled_names[: closes["c"][1]].count("c") == 5, out
    assert closes["d"][0] == 1006, out
    assert ["p", "pong received"] in out["all"], out


class _Recorder:
    """Stands in for a HubReceiver: records what the batch hands it."""

    def __init__(self, handled: list[tuple[bytes, int]]) -> None:
        self.handled = handled

    def _handle(self, data: bytes, now_ns: int) -> None:
        self.handled.append((data, now_ns))


def test_a_full_batch_is_handled_at_once_and_a_short_one_after_the_delay() -> None:
    handled: list[tuple[bytes, int]] = []
    receiver = cast(HubReceiver, _Recorder(handled))
    batch = ReceiveBatch(60.0)
    for i in range(FLUSH_AT_READS - 1):
        batch.add(receiver, b"%d" % i, i)
    assert (handled, len(batch)) == ([], FLUSH_AT_READS - 1)
    batch.add(receiver, b"last", FLUSH_AT_READS - 1)
    assert [t for _, t in handled] == list(range(FLUSH_AT_READS)) and len(batch) == 0

    handled.clear()
    quick = ReceiveBatch(0.05)
    # The hub has not run for a while (this greenlet blocked): the delay must still count from now.
    time.sleep(0.2)
    quick.add(receiver, b"one", 1)
    gevent.sleep(0.01)
    assert handled == []
    gevent.sleep(0.3)
    assert handled == [(b"one", 1)]
    # A second batch waits its own delay (a libev timer restarted after it fired would go off at once).
    quick.add(receiver, b"two", 2)
    gevent.sleep(0.01)
    assert handled == [(b"one", 1)]
    gevent.sleep(0.3)
    assert handled == [(b"one", 1), (b"two", 2)]


def test_a_batch_needs_a_positive_delay() -> None:
    with pytest.raises(ValueError, match="delay > 0 s, got 0"):
        ReceiveBatch(0)
