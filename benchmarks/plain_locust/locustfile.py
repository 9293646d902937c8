"""Chat users written the way Locust users are usually written: the baselines of ``benchmarks/generator_cost.py``.

Both use ``websocket-client`` in blocking mode (made cooperative by Locust's gevent patching), Locust's own stats
and nothing else: no envelope, no HDR histogram, no delivery ledger. Locust runs the one named on its command line.

* :class:`PlainChatUser`: one task that sends a chat message and blocks until the server's broadcast of that
  message comes back, with one Locust ``request`` event per reply (its round trip). Messages of other room
  members that arrive meanwhile are read (drained) and counted while the task waits for its own reply, as a
  blocking client has to; they are not timed, and they are read only when the user sends.
* :class:`ReceiveLoopChatUser`: the template of locust-plugins' ``SocketIOUser`` ("you could easily use this a
  template for plain WebSockets"): a greenlet per connection loops on ``recv()`` and fires one ``request`` event
  per message received, timed from the send time the sender put in the message (wall clock, as the template
  does), while a task sends on the schedule. Every member's copy is read when it arrives and timed.

Only the counts the cost benchmark needs are kept: per wall-clock second, messages sent and ``message`` frames
received, written to ``PLAIN_LOCUST_OUT`` at test stop.

Configuration (environment):

* ``PLAIN_LOCUST_TARGET``: ``ws://host:port`` of the reference app.
* ``PLAIN_LOCUST_ORIGIN``: the ``Origin`` header (the app's ``http://host:port``).
* ``PLAIN_LOCUST_CREDENTIALS``: the reference app's credentials JSON.
* ``PLAIN_LOCUST_ROOM_SIZE``: users per room (user ``i`` joins ``rooms[i // size]``, as the harness's ChatUser).
* ``PLAIN_LOCUST_RATE``: messages per second per user (constant throughput from a random first send).
* ``PLAIN_LOCUST_OUT``: where the counters go.
"""

from __future__ import annotations

# Locust monkey-patches the standard library with gevent when imported; websocket-client's sockets only yield
# to other users if the patching happened before they were created, so this import must stay first.
import locust  # isort: split

import itertools
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import gevent
import websocket
from locust.env import Environment

TARGET = os.environ.get("PLAIN_LOCUST_TARGET", "ws://127.0.0.1:8000")
ORIGIN = os.environ.get("PLAIN_LOCUST_ORIGIN", "http://127.0.0.1:8000")
CREDENTIALS = os.environ.get("PLAIN_LOCUST_CREDENTIALS", "")
ROOM_SIZE = int(os.environ.get("PLAIN_LOCUST_ROOM_SIZE", "5"))
RATE = float(os.environ.get("PLAIN_LOCUST_RATE", "1"))
OUT = os.environ.get("PLAIN_LOCUST_OUT", "")


class Counters:
    """Per-second sends and received ``message`` frames of this Locust process, plus totals."""

    def __init__(self) -> None:
        self.sends: dict[int, int] = {}
        self.received: dict[int, int] = {}
        self.round_trips = 0
        self.failures = 0
        self.connected = 0
        self.last_connect_epoch = 0.0
        self.other_frames = 0

    def add(self, table: dict[int, int], n: int = 1) -> None:
        second = int(time.time())
        table[second] = table.get(second, 0) + n

    def to_dict(self, stop_epoch: float) -> dict[str, Any]:
        return {
            "sends": sum(self.sends.values()),
            "received": sum(self.received.values()),
            "round_trips": self.round_trips,
            "failures": self.failures,
            "connected": self.connected,
            "other_frames": self.other_frames,
            "last_connect_epoch": self.last_connect_epoch,
            "stop_epoch": stop_epoch,
            "series": [
                {"epoch_s": s, "sends": self.sends.get(s, 0), "received": self.received.get(s, 0)}
                for s in sorted(set(self.sends) | set(self.received))
            ],
        }


counters = Counters()
_indexes = itertools.count()
_credentials: dict[str, Any] | None = None


def credentials() -> dict[str, Any]:
    global _credentials
    if _credentials is None:
        _credentials = json.loads(Path(CREDENTIALS).read_text())
    return _credentials


class _ChatUser(locust.User):
    """What both users share: the connection to their room, the send schedule, the close."""

    abstract = True

    def on_start(self) -> None:
        creds = credentials()
        index = next(_indexes)
        account = creds["users"][index % len(creds["users"])]
        room = creds["rooms"][(index // ROOM_SIZE) % len(creds["rooms"])]["slug"]
        cookie_name = creds.get("session_cookie_name", "sessionid")
        self.sender = f"{account['username']}-{index}"
        self.seq = 0
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            # origin= rather than an Origin entry in header=: websocket-client always sends its own Origin, and
            # a second one makes the server refuse the handshake (400, "multiple values").
            self.ws = websocket.create_connection(
                f"{TARGET}/ws/chat/{room}/",
                origin=ORIGIN,
                cookie=f"{cookie_name}={account['session']}",
                timeout=10,
            )
        except (websocket.WebSocketException, OSError) as exc:
            error = exc
            counters.failures += 1
        self.fire("WS", "connect", (time.perf_counter() - started) * 1000, 0, error)
        if error is not None:
            raise locust.exception.StopUser()
        counters.connected += 1
        counters.last_connect_epoch = max(counters.last_connect_epoch, time.time())
        self.connected()
        # Users spawn within a second; a random phase keeps their sends from arriving as one burst every period
        # (at 0.1 msg/s per user that would be the whole room sending in the same second).
        gevent.sleep(random.uniform(0, 1 / RATE))
        self.next_send = time.monotonic()

    def connected(self) -> None:
        """Called once the connection is open, before the first send."""

    def fire(
        self, request_type: str, name: str, response_time_ms: float, length: int, exc: BaseException | None
    ) -> None:
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=response_time_ms,
            response_length=length,
            exception=exc,
            context={},
        )

    def wait_time(self) -> float:
        # constant_throughput(RATE), anchored to the first send: Locust's own counts the random phase slept in
        # on_start against the first interval, which puts every user's second send in the same second again.
        self.next_send += 1 / RATE
        return max(0.0, self.next_send - time.monotonic())

    def on_stop(self) -> None:
        if hasattr(self, "ws"):
            self.ws.close()


class PlainChatUser(_ChatUser):
    @locust.task
    def send_and_wait_for_reply(self) -> None:
        self.seq += 1
        text = f"{self.sender}:{self.seq}"
        started = time.perf_counter()
        error: BaseException | None = None
        length = 0
        try:
            self.ws.send(json.dumps({"type": "message", "text": text}))
            counters.add(counters.sends)
            while True:
                frame = self.ws.recv()
                message = json.loads(frame)
                if message.get("type") != "message":
                    counters.other_frames += 1
                    continue
                counters.add(counters.received)
                if message.get("text") == text:
                    length = len(frame)
                    break
        except (websocket.WebSocketException, OSError, ValueError) as exc:
            error = exc
            counters.failures += 1
        else:
            counters.round_trips += 1
        self.fire("WS", "chat message", (time.perf_counter() - started) * 1000, length, error)


class ReceiveLoopChatUser(_ChatUser):
    def connected(self) -> None:
        # The connect timeout would otherwise end the loop in any quiet ten seconds.
        self.ws.settimeout(None)
        self.own = f"{self.sender}:"
        self.stopping = False
        self.receiver = gevent.spawn(self.receive_loop)

    def on_stop(self) -> None:
        self.stopping = True
        super().on_stop()
        if hasattr(self, "receiver"):
            self.receiver.kill(block=False)

    @locust.task
    def send(self) -> None:
        self.seq += 1
        try:
            self.ws.send(json.dumps({"type": "message", "text": f"{self.sender}:{self.seq}:{time.time()!r}"}))
        except (websocket.WebSocketException, OSError) as exc:
            counters.failures += 1
            self.fire("WSR", "chat send", 0.0, 0, exc)
            return
        counters.add(counters.sends)

    def receive_loop(self) -> None:
        while True:
            try:
                frame = self.ws.recv()
            except (websocket.WebSocketException, OSError) as exc:
                if not self.stopping:
                    counters.failures += 1
                    self.fire("WSR", "chat receive", 0.0, 0, exc)
                return
            received = time.time()
            if not frame:
                # websocket-client's recv() returns "" for a close frame: the connection has ended.
                if not self.stopping:
                    counters.failures += 1
                    self.fire("WSR", "chat receive", 0.0, 0, ConnectionError("closed by the server"))
                return
            try:
                message = json.loads(frame)
                if message.get("type") != "message":
                    counters.other_frames += 1
                    continue
                sent = float(message["text"].rsplit(":", 1)[1])
            except (ValueError, KeyError, IndexError, AttributeError) as exc:
                counters.failures += 1
                self.fire("WSR", "chat message", 0.0, len(frame), exc)
                continue
            counters.add(counters.received)
            if message["text"].startswith(self.own):
                counters.round_trips += 1
            self.fire("WSR", "chat message", (received - sent) * 1000, len(frame), None)


def write_counters(environment: Environment, **_kwargs: Any) -> None:
    if OUT:
        Path(OUT).write_text(json.dumps(counters.to_dict(time.time()), indent=1))


# EventHook.add_listener is untyped; going through Any keeps mypy's strict mode quiet without an ignore.
_test_stop: Any = locust.events.test_stop
_test_stop.add_listener(write_counters)
