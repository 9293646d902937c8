"""Locust users that load a Django Channels app over WebSockets, and the Locust event wiring.

Each user drives :mod:`harness.load.wsclient` (blocking, gevent-patched sockets; never an asyncio loop)
and receives in a greenlet of its own per socket, so sending follows its schedule whatever the
server does. Sends follow an open-model schedule from :mod:`harness.load.schedule`: every message has an
intended send time fixed in advance, and its envelope (:mod:`harness.load.envelope`) carries run id,
sender, per-sender seq, intended and actual send time. Results go to the process's
:class:`~harness.measure.aggregation.Collector`; the master merges them (see ``docs/generator.md``).

User classes (``--harness-kind`` picks them when none are named on the command line):

* ``echo``: :class:`EchoUser` (the server returns each message to its sender).
* ``broadcast``: :class:`BroadcastUser` (every message reaches every member of the same URL).
* ``chat``: :class:`ChatUser` (the reference app's chat rooms, envelope in the ``client`` field).
* ``notifications``: :class:`NotificationListenerUser` plus :class:`NotificationPublisherUser`
  (drives ``POST /api/notifications/``, envelope in ``data``).
* ``kiosk``: :class:`KioskUser` (waits for punches on a terminal socket).
* ``connect-storm``: :class:`ConnectStormUser` (opens and closes sockets on a schedule).
* ``app``: :class:`AppUser` (the user's own app: the scenario's message template carries a correlation token,
  :mod:`harness.load.token`, found in any frame that relays it).
"""

from __future__ import annotations

# Locust monkey-patches the standard library with gevent when imported; that has to happen before
# anything below creates sockets, locks or threads, so this import must stay first.
import locust  # isort: split

import http.client
import itertools
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final, cast
from urllib.parse import urlsplit

import gevent
import gevent.lock
import gevent.pool
import orjson
from locust.env import Environment

from harness.load.envelope import Envelope, Foreign, decode_envelope, encode_envelope
from harness.load.hub_receiver import HubReceiver, RepeatReads
from harness.load.login import LoginFailed, form_login
from harness.load.options import HarnessConfig
from harness.load.runtime import current_runtime
from harness.load.schedule import Pacer
from harness.load.token import encode_token, find_tokens
from harness.load.wsclient import Closed, ConnectFailure, Message, WsConnection, connect
from harness.measure.accounting import ConnectFailureKind
from harness.measure.aggregation import OTHERS_PREFIX, Collector
from harness.scenario.app import AppProtocol
from harness.scenario.template import Template, json_key, per_send_values

__all__ = [
    "AppUser",
    "BroadcastUser",
    "ChatUser",
    "ConnectStormUser",
    "EchoUser",
    "KioskUser",
    "NotificationListenerUser",
    "NotificationPublisherUser",
    "Presence",
    "UserStepsShape",
]

#: Locust's wait between a user's tasks once its session has run. The user then only receives (in the hub), so
#: its greenlet has nothing to do; a wait in Locust's wait() is cut short when Locust stops the user, so it can
#: be long. (Waking every second instead cost 50 idle users a few ms of CPU per second.)
_IDLE_WAIT_S: Final = 3600.0
#: --harness-reconnect: a user whose socket closed waits a random time up to FIRST * 2**attempt, capped at MAX
#: (full jitter, as the reference app's pages do, with a cap of seconds rather than their 30 s so that a run
#: measures the server's recovery more than the clients' patience), then connects again.
RECONNECT_FIRST_S: Final = 0.5
RECONNECT_MAX_S: Final = 5.0


def _failure_kind(exc: ConnectFailure) -> ConnectFailureKind:
    if exc.kind == "http_status":
        return "http_403" if exc.status == 403 else "handshake_error"
    if exc.kind in ("refused", "timeout", "handshake_error"):
        return exc.kind
    return "other"


def _burn(microseconds: int) -> None:
    end = time.perf_counter_ns() + microseconds * 1000
    while time.perf_counter_ns() < end:
        pass


class _HarnessUser(locust.User):
    """Common machinery: one session per user, then idle until Locust stops it."""

    abstract = True

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._done = False
        self._stopping = False
        self._sockets: list[WsConnection] = []
        self._receivers: list[HubReceiver] = []
        self._greenlets = gevent.pool.Group()

    def on_start(self) -> None:
        runtime = current_runtime()
        self.runtime = runtime
        self.cfg: HarnessConfig = runtime.config  # type: ignore[assignment]
        self.collector: Collector = runtime.collector  # type: ignore[assignment]
        self.index = runtime.global_index(runtime.next_index())
        self.uid = f"{runtime.tag}-{self.index}"

    def wait_time(self) -> float:
        # The session starts at once; after it the user stays connected (its receivers keep counting in-flight
        # messages) and idles in Locust's interruptible wait.
        return _IDLE_WAIT_S if self._done else 0.0

    @locust.task
    def session(self) -> None:
        if not self._done:
            self._done = True
            self.run_session()

    def run_session(self) -> None:
        """Open this user's sockets and run its schedule; each concrete user class defines it."""
        raise NotImplementedError(f"{type(self).__name__} defines no run_session")

    def on_stop(self) -> None:
        self._stopping = True
        # Receivers must be gone before close() reads the same sockets.
        for receiver in self._receivers:
            receiver.stop()
        self._greenlets.kill(block=True, timeout=2.0)
        for conn in list(self._sockets):
            self.close_socket(conn)

    # -- helpers ---------------------------------------------------------------------------
    def wait_warmup(self) -> None:
        """Wait until this user may send: ``--harness-warmup`` after its connect, the test's start, or the release
        of the settle barrier (harness.load.settle)."""
        warmup_ns = round(self.cfg.warmup_s * 1e9)
        if self.cfg.warmup_from == "connect":
            gevent.sleep(self.cfg.warmup_s)
            return
        if self.cfg.warmup_from == "settle":
            due_ns = self.runtime.wait_released().at_ns + warmup_ns
        else:
            due_ns = self.runtime.started_ns + warmup_ns
        gevent.sleep(max(0.0, (due_ns - time.monotonic_ns()) / 1e9))

    def fire(self, name: str, response_time_ms: float, length: int = 0, exc: BaseException | None = None) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=response_time_ms,
            response_length=length,
            exception=exc,
            context={},
        )

    def open_socket(
        self,
        url: str,
        *,
        cookies: Mapping[str, str] | None = None,
        name: str = "connect",
        headers: Mapping[str, str] | None = None,
        subprotocols: Sequence[str] = (),
    ) -> WsConnection | None:
        started = time.monotonic_ns()
        try:
            conn = connect(
                url,
                origin=self.cfg.origin or None,
                cookies=cookies,
                headers=headers,
                subprotocols=subprotocols or None,
                timeout=10.0,
            )
        except ConnectFailure as exc:
            ended = time.monotonic_ns()
            self.collector.storm.connect_attempted(started, ended)
            self.collector.record_connect_failure(_failure_kind(exc))
            self.fire(name, (ended - started) / 1e6, exc=exc)
            return None
        self.collector.storm.connect_attempted(started, time.monotonic_ns())
        total = conn.connect_timing.total_ns
        self.collector.metrics.record_ns("connect", total)
        self.fire(name, total / 1e6)
        self._sockets.append(conn)
        self.collector.connection_opened()
        return conn

    def close_socket(self, conn: WsConnection) -> None:
        """Close ``conn`` (if this user still holds it) and count it closed once, whoever ended it."""
        if conn in self._sockets:
            self._sockets.remove(conn)
            self.collector.connection_closed()
        conn.close()

    def spawn_receiver(
        self,
        conn: WsConnection,
        handle: Callable[[Message], object],
        *,
        at_once: bool = False,
        repeats: RepeatReads | None = None,
        on_repeat: Callable[[object, int], None] | None = None,
    ) -> None:
        """Deliver each message of ``conn`` to ``handle``, which runs in gevent's hub and must not block.

        Messages are handled in the process's receive batch unless ``at_once`` (or --harness-receive-batch-ms 0);
        either way ``Message.received_ns`` is the time of the read. ``repeats`` and ``on_repeat``: see
        :class:`~harness.load.hub_receiver.HubReceiver`.
        """
        batch = None if at_once else self.runtime.receive_batch

        def on_closed(exc: Closed) -> None:
            self._on_closed(conn, exc)

        receiver = HubReceiver(conn, handle, on_closed, batch, repeats=repeats, on_repeat=on_repeat)
        self._receivers.append(receiver.start())

    def _on_closed(self, conn: WsConnection, exc: Closed) -> None:
        if not self._stopping:
            self.collector.record_close(exc.code)
            self.fire("unexpected_close", 0.001, exc=exc)
            self.close_socket(conn)

    def pace(self, send_one: Callable[[int, int], bool], *, seed: int) -> None:
        """Walk the schedule: wait for each slot, then ``send_one(seq, intended_ns)``; stop on False."""
        pacer = Pacer(self.cfg.schedule(seed), time.monotonic_ns())
        while (slot := pacer.next_slot(time.monotonic_ns())) is not None:
            if slot.wait_ns:
                gevent.sleep(slot.wait_ns / 1e9)
            if not send_one(slot.seq, slot.intended_ns):
                return


@dataclass(frozen=True, slots=True)
class Presence:
    """What :meth:`_EnvelopeUser.unwrap` makes of a presence frame: join traffic, counted in the join storm."""

    join: bool


_JOIN: Final = Presence(join=True)
_OTHER_PRESENCE: Final = Presence(join=False)
_MISSING: Final = object()
#: Distinct payloads whose decoded envelope a user class keeps (then it starts again with none).
_UNWRAPPED_MAX: Final = 256


class _EnvelopeUser(_HarnessUser):
    """A socket that sends envelopes on a schedule and accounts for every envelope it receives."""

    abstract = True
    # Payload -> what unwrap() made of it, per class (classes unwrap differently). A message sent to a room
    # reaches every member in this process as equal bytes: decoded once, not once per member.
    _unwrapped: ClassVar[dict[str | bytes, Envelope | Foreign | Presence | None]] = {}
    # Reads holding one whole frame, by their bytes: an equal read on another member's socket skips parsing and
    # decoding too (see harness.load.hub_receiver). The tokens are (envelope, length), the same for every member.
    _repeats: ClassVar[RepeatReads] = RepeatReads()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._unwrapped = {}
        cls._repeats = RepeatReads()

    def on_start(self) -> None:
        super().on_start()
        self._window = gevent.lock.BoundedSemaphore(self.cfg.max_inflight) if self.cfg.max_inflight > 0 else None
        self._released: set[int] = set()
        #: The socket this user sends on; None while a reconnecting user is away.
        self._conn: WsConnection | None = None

    def url(self) -> str:
        return self.cfg.target

    def group(self) -> str:
        """The delivery group this user's messages go to (echo: itself; chat: its room); defined per class."""
        raise NotImplementedError(f"{type(self).__name__} defines no group")

    def cookies(self) -> Mapping[str, str] | None:
        return None

    def wrap(self, envelope: Envelope) -> bytes:
        """The message carrying ``envelope``; the whole message is the envelope by default."""
        return encode_envelope(envelope, pad_to=self.cfg.payload_bytes or None)

    def unwrap(self, message: Message) -> Envelope | Foreign | Presence | None:
        """The envelope in a received message, Foreign if it is not one, Presence for join traffic, None to ignore it.

        It must depend on the payload and the run's settings only: its result is reused for equal payloads
        received by any user of the class.
        """
        return decode_envelope(message.data, run_id=self.cfg.run_id)

    def run_session(self) -> None:
        log = self.collector.membership
        if self._attach() is None:
            if log is None:
                return
            self._greenlets.spawn(self._reconnect)
        self.wait_warmup()
        group = self.group()
        uid = self.uid

        def send_one(seq: int, intended_ns: int) -> bool:
            conn = self._conn
            if log is not None:
                if conn is None:
                    # Away: the page could not send now. Not sent later in a burst, and not a latency: counted.
                    log.could_not_send(uid, time.time_ns())
                    return True
                # Only messages sent are numbered, so what a receiver was owed is a range of seqs.
                seq = log.next_seq(uid, group)
            assert conn is not None
            # Time spent waiting for a reply (max-inflight) is the server holding the sender back,
            # not the generator falling behind, so send lag counts only from when the window opened.
            ready_ns = intended_ns
            if self._window is not None and not self._window.acquire(blocking=False):
                self._window.acquire()
                ready_ns = max(intended_ns, time.monotonic_ns())
            sent_ns = time.monotonic_ns()
            # A wall-clock read per send only where the membership log needs it.
            wall_ns = time.time_ns() if log is not None else 0
            if not self.transmit(conn, Envelope(self.cfg.run_id, uid, seq, intended_ns, sent_ns)):
                if log is None:
                    return False
                log.could_not_send(uid, wall_ns)
                return True
            self.collector.record_send(uid, group, sent_ns - ready_ns)
            if log is not None:
                log.sent(uid, group, wall_ns)
            return True

        self.pace(send_one, seed=self.cfg.seed * 1_000_003 + self.index)

    def _attach(self) -> WsConnection | None:
        """Open this user's socket, run its steps, join its group and start receiving; None if it did not open."""
        connecting_ns = time.time_ns()
        conn = self.open_socket(
            self.url(), cookies=self.cookies(), headers=self.upgrade_headers(), subprotocols=self.subprotocols()
        )
        if conn is None:
            return None
        self.after_connect(conn)
        group = self.group()
        self.collector.join(self.uid, group)
        if (log := self.collector.membership) is not None:
            log.joined(self.uid, group, connecting_ns, time.time_ns())
        self._conn = conn
        # A closed-loop sender waits for its own reply: that must release the window at once.
        self.spawn_receiver(
            conn,
            self.on_message,
            at_once=self._window is not None,
            repeats=self._repeats,
            on_repeat=self.repeat_handler(),
        )
        return conn

    def _on_closed(self, conn: WsConnection, exc: Closed) -> None:
        left_ns = time.time_ns()
        super()._on_closed(conn, exc)
        log = self.collector.membership
        if log is None or self._stopping or conn is not self._conn:
            return
        log.left(self.uid, self.group(), left_ns, exc.code)
        self._conn = None
        if self._window is not None:
            # The replies owed on the dead socket never come: free a sender waiting for them.
            while True:
                try:
                    self._window.release()
                except ValueError:
                    break
        self._greenlets.spawn(self._reconnect)

    def _reconnect(self) -> None:
        """Connect again after a close (--harness-reconnect), with capped, fully jittered backoff, until it
        succeeds or the user stops."""
        rng = random.Random(self.cfg.seed * 7_919 + self.index + self.collector.connections_ever)
        for attempt in itertools.count():
            gevent.sleep(rng.uniform(0.0, min(RECONNECT_MAX_S, RECONNECT_FIRST_S * 2**attempt)))
            if self._stopping or self._attach() is not None:
                return

    def upgrade_headers(self) -> Mapping[str, str] | None:
        """Extra headers of this user's upgrade; none here."""
        return None

    def subprotocols(self) -> Sequence[str]:
        """The subprotocols this user's upgrade offers; none here."""
        return ()

    def after_connect(self, conn: WsConnection) -> None:
        """What the user does on its new socket before it joins its group and starts receiving: nothing here."""

    def transmit(self, conn: WsConnection, envelope: Envelope) -> bool:
        """Send the message carrying ``envelope``; False once the socket is gone (the receiver reports the close)."""
        data = self.wrap(envelope)
        if self.cfg.burn_us:
            _burn(self.cfg.burn_us)
        try:
            conn.send_text(data)
        except Closed:
            return False
        return True

    def repeat_handler(self) -> Callable[[Any, int], None]:
        """What accounts a repeat of a read :meth:`on_message` handled, given its token (harness.load.hub_receiver)."""
        return self._on_envelope

    def on_message(self, message: Message) -> object:
        """Account and time one message; returns its token for repeats of it (None for what is not ours)."""
        cache = self._unwrapped
        data = message.data
        found = cache.get(data, _MISSING)
        if found is _MISSING:
            envelope = self.unwrap(message)
            if len(cache) >= _UNWRAPPED_MAX:
                cache.clear()
            cache[data] = envelope
        else:
            envelope = cast(Envelope | Foreign | Presence | None, found)
        if envelope is None:
            return None
        if not isinstance(envelope, Envelope):
            if isinstance(envelope, Foreign):
                self.collector.ledger.record_foreign(envelope.reason)
            else:
                self.collector.storm.presence(join=envelope.join, read_ns=message.received_ns)
            return None
        token = (envelope, len(message.data))
        self._on_envelope(token, message.received_ns)
        return token

    def _on_envelope(self, token: Any, received: int) -> None:
        """Account and time one envelope received at ``received``; ``token`` is (envelope, message length)."""
        # Any, not a cast(): this runs for every delivery, and cast() is a call.
        envelope: Envelope
        length: int
        envelope, length = token
        uid = self.uid
        sender = envelope.sender
        if not self.collector.record_envelope(
            sender, uid, envelope.seq, received, envelope.sent_ns, envelope.intended_ns
        ):
            return
        if sender == uid:
            service = received - envelope.sent_ns
            # Only the sender's own copy feeds Locust's stats (one entry per message sent, as a plain Locust user
            # has), keeping Locust's per-event bookkeeping off the per-delivery path; every fan-out delivery is
            # still in our histograms and ledger.
            self.fire("round_trip", service / 1e6, length)
            if self._window is not None:
                self._window.release()


class EchoUser(_EnvelopeUser):
    """Sends envelopes to ``--harness-target``; the server returns each one to its sender."""

    def group(self) -> str:
        return f"echo:{self.uid}"


class BroadcastUser(_EnvelopeUser):
    """Members of one URL; every message sent by a member reaches every member (itself included).

    With ``--harness-room-size N`` users are grouped N per URL: ``<target>/room-<k>``.
    """

    def url(self) -> str:
        if self.cfg.room_size <= 0:
            return self.cfg.target
        return f"{self.cfg.target.rstrip('/')}/room-{self.index // self.cfg.room_size}"

    def group(self) -> str:
        return f"broadcast:{self.url()}"


class ChatUser(_EnvelopeUser):
    """A reference-app chat member: session cookie, ``ws/chat/<room>/``, envelope in ``client``."""

    def on_start(self) -> None:
        super().on_start()
        creds = self.runtime.credentials()
        self.account = creds["users"][self.index % len(creds["users"])]
        rooms = creds["rooms"]
        size = self.cfg.room_size if self.cfg.room_size > 0 else len(creds["users"])
        self.room = rooms[(self.index // size) % len(rooms)]["slug"]
        self.cookie_name = str(creds.get("session_cookie_name", "sessionid"))

    def url(self) -> str:
        return f"{self.cfg.target.rstrip('/')}/ws/chat/{self.room}/"

    def group(self) -> str:
        return f"chat:{self.room}"

    def cookies(self) -> Mapping[str, str]:
        return {self.cookie_name: self.account["session"]}

    def wrap(self, envelope: Envelope) -> bytes:
        body = {"type": "message", "text": "x", "client": envelope.to_dict()}
        data = orjson.dumps(body)
        if self.cfg.payload_bytes > len(data):
            body["text"] = "x" * (1 + self.cfg.payload_bytes - len(data))
            data = orjson.dumps(body)
        return data

    def unwrap(self, message: Message) -> Envelope | Foreign | Presence | None:
        try:
            obj = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            return Foreign("not_json", "chat frame is not JSON")
        if not isinstance(obj, dict):
            return None
        kind = obj.get("type")
        if kind == "presence":
            return _JOIN if obj.get("event") == "join" else _OTHER_PRESENCE
        if kind != "message":
            return None  # welcome, pong: protocol traffic, not load
        client = obj.get("client")
        if not isinstance(client, dict):
            return Foreign("missing_key", "chat message without our client field")
        return decode_envelope(client, run_id=self.cfg.run_id)


#: Server ids ([app.correlate]) a process remembers at most: a bound on memory over a long run.
_IDS_MAX: Final = 200_000


class StepFailed(RuntimeError):
    """An ``[[app.steps]]`` step got no matching reply in time, or its socket closed."""


class AppUser(_EnvelopeUser):
    """A user of the user's own app (scenario kind ``app``, docs/your-app.md).

    It connects to ``--harness-target`` + the protocol's path, sends the protocol's message with a correlation
    token in place of ``{token}``, and finds tokens in every frame it receives, whatever the app made of the
    message. The users are ``u0``, ``u1``, … (the token's sender id; the numbers are unique across generator
    processes) in rooms ``r0``, ``r1``, … of ``--harness-room-size``.
    """

    _protocol: ClassVar[AppProtocol | None] = None
    _credentials: ClassVar[list[dict[str, str]] | None] = None
    # [app.correlate]: the server's ids this process has seen in senders' replies, and the pushes that came first.
    _ids: ClassVar[dict[str, Envelope]] = {}
    _held: ClassVar[dict[str, list[tuple[AppUser, int, int]]]] = {}

    def on_start(self) -> None:
        super().on_start()
        protocol = type(self)._protocol
        if protocol is None:
            if not self.cfg.app:
                raise RuntimeError("--harness-kind app needs --harness-app (the app's protocol as JSON)")
            protocol = type(self)._protocol = AppProtocol.from_json(self.cfg.app)
        self.protocol = protocol
        self.uid = f"u{self.index}"
        self.room = f"r{self.index // self.cfg.room_size}" if self.cfg.room_size > 0 else "r0"
        path, message = protocol.path_template(), protocol.message_template()
        names = {"user": self.uid, "room": self.room}
        for template in (path, message, protocol.http_path_template(), *protocol.header_templates().values()):
            names |= template.environment(os.environ)
        self._url = self.cfg.target.rstrip("/") + path.render(names)
        self._message: Template = message.fill(names)
        self._per_send = {name for name in ("seq", "sent_at", "uuid") if name in message.names}
        if protocol.via == "http":
            self._http_path = protocol.http_path_template().fill(names)
            self._http_headers = {name: t.fill(names) for name, t in protocol.header_templates().items()}
            for template in (self._http_path, *self._http_headers.values()):
                self._per_send |= {n for n in ("seq", "sent_at", "uuid") if n in template.names}
            parts = urlsplit(self.cfg.target)
            https = parts.scheme == "wss"
            connection = http.client.HTTPSConnection if https else http.client.HTTPConnection
            self._http = connection(parts.hostname or "127.0.0.1", parts.port or (443 if https else 80), timeout=10)
            self._content_type = "application/json" if protocol.send_json is not None else "text/plain; charset=utf-8"
        self._adapter = (
            protocol.adapter_class()(user=self.uid, room=self.room, n=self.index) if protocol.adapter else None
        )
        # The adapter makes the messages when the file gives none.
        self._adapter_sends = self._adapter is not None and protocol.send_json is None and protocol.send_text is None
        # first_seen: (sender, seq) of every token this receiver has counted; later copies are the app re-sending
        # its state, not duplicates.
        self._seen: set[tuple[str, int]] | None = set() if protocol.first_seen else None

    def url(self) -> str:
        return self._url

    def cookies(self) -> Mapping[str, str] | None:
        """The cookies of this user's login (``[app.auth]``, or the adapter's ``cookies``), done now, before it
        connects; None without one."""
        auth = self.protocol.auth
        parts = urlsplit(self.cfg.target)
        base = f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"
        if auth is None:
            login = getattr(self._adapter, "cookies", None)
            return dict(login(base) or {}) if login is not None else None
        names = {"user": self.uid, "n": str(self.index)}
        rows = type(self)._credentials
        if rows is None:
            # Read once per process: every user of it takes its row from the same file.
            rows = type(self)._credentials = auth.rows()
        if rows:
            names |= rows[self.index % len(rows)]
        fields = {}
        for key, template in auth.templates(tuple(rows[0]) if rows else ()).items():
            value = template.render(names | template.environment(os.environ))
            fields[auth.username_field if key == "username" else auth.password_field] = value
        started = time.monotonic_ns()
        try:
            cookies = form_login(base, auth.login_path, fields, session_cookie=auth.session_cookie)
        except (LoginFailed, OSError) as exc:
            # Raised, not recorded as a failed request: the user stops, and its exception says why (user_errors).
            raise LoginFailed(f"user {self.uid} ({fields[auth.username_field]}): {exc}") from None
        self.fire("login", (time.monotonic_ns() - started) / 1e6)
        return cookies

    def after_connect(self, conn: WsConnection) -> None:
        """The protocol's ``[[app.steps]]``: send, then wait for the reply; a step that times out stops the user."""
        values = {"user": self.uid, "room": self.room}
        for i, step in enumerate(self.protocol.steps):
            templates = step.templates()
            for template in templates.values():
                values |= template.environment(os.environ)
            if "send" in templates:
                try:
                    conn.send_text(templates["send"].render(values).encode())
                except Closed as exc:
                    raise StepFailed(f"user {self.uid}, step {i + 1}: the socket closed ({exc})") from None
            if step.expect_key is None and step.expect_contains is None:
                continue
            expected = step.expected(values)
            deadline = time.monotonic() + step.timeout_s
            seen = 0
            while True:
                left = deadline - time.monotonic()
                try:
                    message = conn.recv(timeout=max(0.0, left)) if left > 0 else None
                except (Closed, TimeoutError) as exc:
                    message = None
                    if isinstance(exc, Closed):
                        raise StepFailed(f"user {self.uid}, step {i + 1}: the socket closed ({exc})") from None
                if message is None:
                    raise StepFailed(
                        f"user {self.uid}, step {i + 1}: no reply matched within {step.timeout_s:g} s "
                        f"({seen} other frames came)"
                    )
                text = message.data if isinstance(message.data, str) else message.data.decode("utf-8", "replace")
                if step.matches(text, expected):
                    break
                seen += 1

    def upgrade_headers(self) -> Mapping[str, str] | None:
        values = {"user": self.uid, "room": self.room}
        headers = {}
        for name, template in self.protocol.upgrade_headers().items():
            headers[name] = template.render(values | template.environment(os.environ))
        return headers or None

    def subprotocols(self) -> Sequence[str]:
        return self.protocol.subprotocols

    def group(self) -> str:
        to = self.protocol.fanout_to
        custom = getattr(self._adapter, "group", None)
        if custom is not None:
            group = f"app-adapter:{custom()}"
            return group if self.protocol.include_sender else OTHERS_PREFIX + group
        if to == "sender":
            return f"app-sender:{self.uid}"
        group = f"app-room:{self.room}" if to == "room" else f"app-url:{self._url}"
        return group if self.protocol.include_sender else OTHERS_PREFIX + group

    def _values(self, envelope: Envelope) -> dict[str, str]:
        values = {"token": encode_token(envelope)}
        if self._per_send:
            values |= per_send_values(envelope.seq)
        return values

    def wrap(self, envelope: Envelope) -> bytes:
        return self._message.render(self._values(envelope)).encode()

    def transmit(self, conn: WsConnection, envelope: Envelope) -> bool:
        if self._adapter_sends:
            assert self._adapter is not None
            message = self._adapter.message(encode_token(envelope), envelope.seq)
            try:
                if isinstance(message, bytes):
                    conn.send_binary(message)
                else:
                    conn.send_text(message.encode())
            except Closed:
                return False
            return True
        if self.protocol.via != "http":
            return super().transmit(conn, envelope)
        values = self._values(envelope)
        path = self._http_path.render(values)
        headers = {"Content-Type": self._content_type, **{n: t.render(values) for n, t in self._http_headers.items()}}
        started = time.monotonic_ns()
        error: BaseException | None = None
        try:
            self._http.request(
                self.protocol.http_method, path, body=self._message.render(values).encode(), headers=headers
            )
            response = self._http.getresponse()
            response.read()
            if not 200 <= response.status < 300:
                # The path's template, not the path: one row per kind of refusal in Locust's failures, not per room.
                error = RuntimeError(
                    f"{self.protocol.http_method} {self.protocol.http_path} answered HTTP {response.status}"
                )
        except (OSError, http.client.HTTPException) as exc:
            self._http.close()
            error = exc
        elapsed = time.monotonic_ns() - started
        # A publish the app refused still counts as sent: its deliveries are owed and will be lost.
        self.fire("publish", elapsed / 1e6, exc=error)
        if error is None:
            self.collector.metrics.record_ns("publish", elapsed)
        return True

    def on_message(self, message: Message) -> object:
        """Account and time every token of this run in one frame; frames without one are counted as other."""
        data = message.data
        text = data if isinstance(data, str) else data.decode("utf-8", "replace")
        found = getattr(self._adapter, "tokens", None)
        scan = find_tokens(text if found is None else " ".join(found(data)), run_id=self.cfg.run_id)
        ledger = self.collector.ledger
        for reason, count in (("corrupt_token", scan.corrupt), ("other_run", scan.other_run)):
            for _ in range(count):
                ledger.record_foreign(reason)
        protocol = self.protocol
        if protocol.reply_id is not None and scan.envelopes:
            self._learn_id(text, scan.envelopes)
        if not scan.envelopes and protocol.push_id is not None:
            pushed = json_key(text, protocol.push_id)
            if pushed is not None:
                envelope = self._ids.get(str(pushed))
                if envelope is None:
                    # Before the sender's reply told this process the id: held, and counted when it does.
                    self._held.setdefault(str(pushed), []).append((self, message.received_ns, len(data)))
                    return None
                pushed_tokens = ((envelope, len(data)),)
                self._on_tokens(pushed_tokens, message.received_ns)
                return pushed_tokens
        if not scan.envelopes:
            if not scan.corrupt and not scan.other_run:
                if self.protocol.ignores(text):
                    ledger.record_foreign("ignored")
                else:
                    ledger.record_foreign("no_token")
                    # The app's own frames (joins, welcomes) are what the settle barrier waits to go quiet; ignored
                    # ones (heartbeats) are not, or an app that sends them would never look settled.
                    self.collector.storm.presence(join=True, read_ns=message.received_ns)
            return None
        tokens = tuple((envelope, len(data)) for envelope in scan.envelopes)
        self._on_tokens(tokens, message.received_ns)
        return tokens

    def _learn_id(self, text: str, envelopes: list[Envelope]) -> None:
        """The sender's own copy of its message names the server's id for it: remember it, release held pushes."""
        assert self.protocol.reply_id is not None
        own = [e for e in envelopes if e.sender == self.uid]
        server_id = json_key(text, self.protocol.reply_id)
        if not own or server_id is None:
            return
        key = str(server_id)
        ids = self._ids
        if len(ids) >= _IDS_MAX:
            # The oldest first: its pushes have long come. One that still comes is counted as unmatched_id.
            del ids[next(iter(ids))]
        ids[key] = own[0]
        for user, received_ns, pushed_length in self._held.pop(key, ()):
            user._on_tokens(((own[0], pushed_length),), received_ns)

    def on_stop(self) -> None:
        # Pushes whose id never came: counted, not silently dropped.
        for key, waiting in list(self._held.items()):
            mine = [entry for entry in waiting if entry[0] is self]
            for _ in mine:
                self.collector.ledger.record_foreign("unmatched_id")
            rest = [entry for entry in waiting if entry[0] is not self]
            if rest:
                self._held[key] = rest
            else:
                del self._held[key]
        super().on_stop()

    def repeat_handler(self) -> Callable[[Any, int], None]:
        return self._on_tokens

    def _on_tokens(self, tokens: Any, received: int) -> None:
        seen = self._seen
        for token in tokens:
            if seen is not None:
                key = (token[0].sender, token[0].seq)
                if key in seen:
                    continue
                seen.add(key)
            self._on_envelope(token, received)


class NotificationListenerUser(_HarnessUser):
    """A reference-app user on ``ws/notifications/``; counts notifications whose ``data`` is an envelope."""

    def on_start(self) -> None:
        super().on_start()
        creds = self.runtime.credentials()
        self.account = creds["users"][self.index % len(creds["users"])]
        self.cookie_name = str(creds.get("session_cookie_name", "sessionid"))

    def run_session(self) -> None:
        url = f"{self.cfg.target.rstrip('/')}/ws/notifications/"
        conn = self.open_socket(url, cookies={self.cookie_name: self.account["session"]})
        if conn is None:
            return
        self.collector.join(self.uid, f"notify:{self.account['username']}")
        self.spawn_receiver(conn, self.on_message)

    def on_message(self, message: Message) -> None:
        try:
            obj = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            self.collector.ledger.record_foreign("not_json")
            return
        if not isinstance(obj, dict):
            return
        if obj.get("type") == "notification":
            items = [obj]
        elif obj.get("type") == "backlog":
            items = [i for i in obj.get("items", []) if isinstance(i, dict)]
        else:
            return
        for item in items:
            envelope = decode_envelope(item.get("data") or {}, run_id=self.cfg.run_id)
            if isinstance(envelope, Foreign):
                self.collector.ledger.record_foreign(envelope.reason)
                continue
            if self.collector.ledger.observe(envelope.sender, self.uid, envelope.seq) == "duplicate":
                continue
            latency = message.received_ns - envelope.sent_ns
            response = message.received_ns - envelope.intended_ns
            self.collector.metrics.record_ns("fanout", latency)
            self.collector.metrics.record_ns("response_time", response)
            self.collector.record_delivery(latency, response)
            self.fire("notification", latency / 1e6, len(message.data))


class NotificationPublisherUser(_HarnessUser):
    """Publishes through ``POST /api/notifications/`` with a service token, round robin over users.

    Targets the first ``--harness-room-size`` users of the credentials file (all when 0). Each
    (publisher, recipient) pair is its own stream, with its own seqs.
    """

    fixed_count = 1

    def run_session(self) -> None:
        creds = self.runtime.credentials()
        token = creds["service_tokens"][self.index % len(creds["service_tokens"])]["token"]
        users = creds["users"][: self.cfg.room_size or None]
        parts = urlsplit(self.cfg.target)
        http_conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)
        seqs: dict[str, int] = {}
        targets = itertools.cycle(users)

        def send_one(_seq: int, intended_ns: int) -> bool:
            user = next(targets)
            name = str(user["username"])
            sender = f"{self.uid}>{name}"
            seq = seqs.get(name, 0)
            seqs[name] = seq + 1
            sent_ns = time.monotonic_ns()
            envelope = Envelope(self.cfg.run_id, sender, seq, intended_ns, sent_ns)
            body = orjson.dumps({"user": name, "title": "load", "data": envelope.to_dict()})
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            try:
                http_conn.request("POST", "/api/notifications/", body=body, headers=headers)
                response = http_conn.getresponse()
                response.read()
                error: BaseException | None = None
                if response.status != 201:
                    error = RuntimeError(f"publish answered HTTP {response.status}")
            except (OSError, http.client.HTTPException) as exc:
                http_conn.close()
                error = exc
            elapsed = time.monotonic_ns() - sent_ns
            self.environment.events.request.fire(
                request_type="POST",
                name="/api/notifications/",
                response_time=elapsed / 1e6,
                response_length=0,
                exception=error,
                context={},
            )
            if error is None:
                self.collector.metrics.record_ns("publish", elapsed)
                self.collector.record_send(sender, f"notify:{name}", sent_ns - intended_ns)
            return True

        self.pace(send_one, seed=self.cfg.seed * 1_000_003 + self.index)


class KioskUser(_HarnessUser):
    """A timeclock kiosk on ``ws/terminal/<id>/?token=...``: waits for punches.

    ``eks_insert_to_kiosk`` is the wall-clock time from the punch's ``inserted_at`` to its arrival,
    so it is only meaningful when the reader emulator and this generator share a clock.
    """

    def run_session(self) -> None:
        creds = self.runtime.credentials()
        terminal = creds["terminals"][self.index % len(creds["terminals"])]
        url = f"{self.cfg.target.rstrip('/')}/ws/terminal/{terminal['id']}/?token={terminal['token']}"
        conn = self.open_socket(url)
        if conn is not None:
            self.spawn_receiver(conn, self.on_message)

    def on_message(self, message: Message) -> None:
        # inserted_at is wall-clock time; the message was read at received_ns (monotonic), maybe a batch ago.
        now_ns = time.time_ns() - (time.monotonic_ns() - message.received_ns)
        try:
            obj = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(obj, dict) or obj.get("type") not in ("punch", "unknown_key"):
            return
        try:
            inserted = datetime.fromisoformat(str(obj["inserted_at"]))
        except (KeyError, ValueError):
            return
        latency = now_ns - int(inserted.timestamp() * 1e9)
        self.collector.metrics.record_ns("eks_insert_to_kiosk", latency)
        # Counted, not timed, per second: insert-to-kiosk is neither a service nor a response time.
        self.collector.record_delivery(None)
        self.fire(str(obj["type"]), max(latency, 1000) / 1e6, len(message.data))


class ConnectStormUser(_HarnessUser):
    """Opens sockets on the schedule (open model: each connect in its own greenlet), holds, closes.

    ``connect`` is the handshake time; ``response_time`` runs from the intended connect time, so
    it also shows how late the generator started the attempt.
    """

    def run_session(self) -> None:
        # Against the reference app (a credentials file is given) the storm opens chat sockets as a logged-in
        # user, as browsers would; against any other server it opens the target URL itself.
        self.url, self.cookies = self.cfg.target, None
        if self.cfg.credentials:
            creds = self.runtime.credentials()
            account = creds["users"][self.index % len(creds["users"])]
            room = creds["rooms"][self.index % len(creds["rooms"])]["slug"]
            self.url = f"{self.cfg.target.rstrip('/')}/ws/chat/{room}/"
            self.cookies = {str(creds.get("session_cookie_name", "sessionid")): account["session"]}

        def send_one(_seq: int, intended_ns: int) -> bool:
            self._greenlets.spawn(self._one, intended_ns)
            return True

        self.pace(send_one, seed=self.cfg.seed * 1_000_003 + self.index)

    def _one(self, intended_ns: int) -> None:
        started = time.monotonic_ns()
        self.collector.metrics.record_ns("send_lag", max(0, started - intended_ns))
        conn = self.open_socket(self.url, cookies=self.cookies)
        if conn is None:
            return
        self.collector.metrics.record_ns("response_time", time.monotonic_ns() - intended_ns)
        if self.cfg.storm_hold_s > 0:
            gevent.sleep(self.cfg.storm_hold_s)
        self.close_socket(conn)


class UserStepsShape(locust.LoadTestShape):
    """User-count steps from ``HARNESS_USER_STEPS="users:seconds,users:seconds"``.

    Spawn rate is ``HARNESS_USER_STEPS_SPAWN_RATE`` (default 10 users/s). The test stops after the
    last step. The locustfile only exposes this class when ``HARNESS_USER_STEPS`` is set, because
    Locust uses any shape class it finds in the locustfile.
    """

    steps_env: ClassVar[str] = "HARNESS_USER_STEPS"

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        raw = os.environ.get(self.steps_env, "")
        self.steps = [(int(u), float(s)) for u, s in (p.split(":") for p in raw.split(",") if p.strip())]
        if not self.steps:
            raise ValueError(f"{self.steps_env} must be 'users:seconds,...', got {raw!r}")
        self.spawn_rate = float(os.environ.get("HARNESS_USER_STEPS_SPAWN_RATE", "10"))

    def tick(self) -> tuple[int, float] | None:
        elapsed: float = self.get_run_time()  # type: ignore[no-untyped-call]
        for users, seconds in self.steps:
            if elapsed < seconds:
                return users, self.spawn_rate
            elapsed -= seconds
        return None
