"""One connection to one EKS reader: asyncio streams around the sans-I/O ``EksConnection``.

What the reader does is fact [F] (docs/eks-ethernet-protocol.md): it pushes ``Ek 01``/``Ek 02`` on insert and
remove, answers ``TL 116 8`` with ``RL`` + the 8-byte serial or ``RF`` + a status, and refuses a second
client with ``RF 61``. Everything about how this client reacts is design [D], documented in docs/eks.md:

* a heartbeat: an ``Ek`` query every ``heartbeat_s``; a query unanswered for ``heartbeat_timeout_s`` is a
  miss, and ``heartbeat_misses`` misses in a row end the session (TCP keepalive would never notice a
  half-open reader on loopback, and the protocol has no keepalive of its own);
* a punch only from a whole ``RL`` of the serial, never from ``RF`` or a malformed frame;
* any malformed or unexpected frame ends the session, because a stream without delimiter or checksum has
  no other resynchronisation point than a new connection;
* a ``ReaderMemory`` that outlives the connection decides whether a read serial is a new insert or the same
  key seen again (after a reconnect, or a bounce within ``debounce_s``).
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from eks_emulator.frames import (
    READ_SERIAL,
    SERIAL_ADDRESS,
    SERIAL_SIZE,
    Frame,
    KeyState,
    KeyStatus,
    MalformedFrame,
    ReadReply,
    Status,
    StatusReply,
    key_id,
)
from eks_emulator.protocol import ConnectionClosed, EksConnection, Event, Role
from reference_app.gateway.stats import GatewayStats, ReaderState, ReaderTarget
from reference_app.timeclock.events import PunchEvent

__all__ = [
    "ClientConfig",
    "EndReason",
    "Insert",
    "KeySink",
    "PunchSink",
    "ReaderMemory",
    "ReaderSession",
    "SessionResult",
    "event_id_for",
]

#: Receives each punch; must not block (the service journals it and queues it for the channel layer).
PunchSink = Callable[[PunchEvent], None]
#: Told (terminal id, serial, present) when a reader's last key changes without a punch, so a gateway restart
#: knows whether a key it finds in a reader is one it already punched.
KeySink = Callable[[int, str, bool], None]

READ_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Timing of one reader client (seconds). ``check`` names the flag of any bad value."""

    connect_timeout_s: float = 3.0
    heartbeat_s: float = 5.0
    heartbeat_timeout_s: float = 2.0
    heartbeat_misses: int = 2
    read_timeout_s: float = 2.0
    read_attempts: int = 3
    debounce_s: float = 0.3

    def __post_init__(self) -> None:
        for name in ("connect_timeout_s", "heartbeat_s", "heartbeat_timeout_s", "read_timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"--{_flag(name)} must be a number > 0 seconds, got {value!r}")
        if not (math.isfinite(self.debounce_s) and self.debounce_s >= 0):
            raise ValueError(f"--debounce-s must be a number >= 0 seconds, got {self.debounce_s!r}")
        if self.heartbeat_misses < 1:
            raise ValueError(f"--heartbeat-misses must be >= 1, got {self.heartbeat_misses}")
        if self.read_attempts < 1:
            raise ValueError(f"--read-attempts must be >= 1, got {self.read_attempts}")

    @property
    def silence_bound_s(self) -> float:
        """The longest a silent (half-open) reader can stay connected before the session ends."""
        return self.heartbeat_s + self.heartbeat_misses * self.heartbeat_timeout_s


def _flag(name: str) -> str:
    return name.replace("_", "-")


class EndReason(enum.StrEnum):
    REFUSED = "refused"
    CONNECT_TIMEOUT = "connect_timeout"
    CONNECT_ERROR = "connect_error"
    EOF = "eof"
    RESET = "reset"
    IO_ERROR = "io_error"
    HEARTBEAT_TIMEOUT = "heartbeat_timeout"
    READ_TIMEOUT = "read_timeout"
    MALFORMED = "malformed"
    UNEXPECTED_REPLY = "unexpected_reply"
    BUSY = "busy"


@dataclass(frozen=True, slots=True)
class SessionResult:
    """How a session ended. ``healthy``: it stayed up a full heartbeat period and reported a key state."""

    reason: EndReason
    detail: str
    connected: bool
    healthy: bool


@dataclass(slots=True)
class ReaderMemory:
    """The last key read at one reader; kept across connections so a reconnect never punches twice."""

    serial: str | None = None
    present: bool = False
    removed_at: float | None = None

    def removed(self, now: float) -> None:
        self.present = False
        self.removed_at = now


@dataclass(frozen=True, slots=True)
class Insert:
    """An ``Ek 01`` seen by the gateway: when (monotonic for debouncing, wall clock for the punch)."""

    monotonic: float
    wall_ns: int

    @classmethod
    def now(cls, loop: asyncio.AbstractEventLoop) -> Insert:
        return cls(loop.time(), time.time_ns())

    @property
    def inserted_at(self) -> datetime:
        return datetime.fromtimestamp(self.wall_ns / 1e9, tz=UTC)


def event_id_for(terminal_id: int, serial: str, insert: Insert) -> str:
    """The punch's idempotency key: one physical insert, seen once by the gateway, keeps one id.

    A resend of the same event (after a channel-layer error) reuses the object, hence the id, so the worker's
    unique constraint stores it once.
    """
    return f"eks-{terminal_id}-{serial}-{insert.wall_ns}"


@dataclass(slots=True)
class _Read:
    insert: Insert
    attempts: int
    deadline: float
    # The memory as it was when the read started: the decision "new insert or the same key again" is taken
    # against what was known before this insert.
    prior_serial: str | None
    prior_present: bool
    prior_removed_at: float | None


class _End(Exception):
    def __init__(self, reason: EndReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class ReaderSession:
    """One TCP connection to one reader, from connect to the first reason to drop it.

    ``run`` never raises for anything the reader does; it returns a ``SessionResult``. Cancelling the task
    closes the socket.
    """

    def __init__(
        self,
        target: ReaderTarget,
        config: ClientConfig,
        memory: ReaderMemory,
        sink: PunchSink,
        stats: GatewayStats,
        state: ReaderState,
        key_sink: KeySink | None = None,
    ) -> None:
        self.target = target
        self.config = config
        self.memory = memory
        self.sink = sink
        self.key_sink = key_sink
        self.stats = stats
        self.state = state
        self._conn = EksConnection(Role.CONTROLLER)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._key_state: KeyState | None = None
        self._got_key_state = False
        self._connected_at = 0.0
        self._next_probe = 0.0
        self._probe_sent: float | None = None
        self._misses = 0
        self._read: _Read | None = None
        self._pending_insert: Insert | None = None
        self._reread_at: float | None = None
        self._unread_insert: Insert | None = None

    async def run(self) -> SessionResult:
        """Connect, then converse until the first reason to drop the connection."""
        failed = await self.connect()
        return failed if failed is not None else await self.converse()

    async def connect(self) -> SessionResult | None:
        """Open the TCP connection; returns the failure, or None when connected."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.target.host, self.target.port), self.config.connect_timeout_s
            )
        except TimeoutError:
            return self._failed(EndReason.CONNECT_TIMEOUT, f"no answer within {self.config.connect_timeout_s} s")
        except ConnectionRefusedError:
            return self._failed(EndReason.REFUSED, "connection refused")
        except OSError as exc:
            return self._failed(EndReason.CONNECT_ERROR, exc.strerror or str(exc))
        self._reader = reader
        self._writer = writer
        self._connected_at = asyncio.get_running_loop().time()
        self.state.connected = True
        self.state.connects += 1
        self.stats.count("connects")
        return None

    async def converse(self) -> SessionResult:
        """Talk to the connected reader until the session ends; the socket is closed on return."""
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None, "connect() first"
        loop = asyncio.get_running_loop()
        try:
            reason, detail = await self._converse(reader, loop)
        except BaseException:
            # Cancelled (service stopping): drop the socket at once, there is no one left to wait for.
            writer.transport.abort()
            self.state.connected = False
            raise
        self.state.connected = False
        await self._close(writer)
        healthy = self._got_key_state and loop.time() - self._connected_at >= self.config.heartbeat_s
        self.stats.error(reason.value if reason is not EndReason.MALFORMED else f"malformed.{detail}")
        self.stats.count("disconnects")
        return SessionResult(reason, detail, True, healthy)

    def _failed(self, reason: EndReason, detail: str) -> SessionResult:
        self.stats.count("connect_failures")
        self.stats.error(reason.value)
        return SessionResult(reason, detail, False, False)

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), self.config.connect_timeout_s)
        except (OSError, TimeoutError):
            writer.transport.abort()

    async def _converse(self, reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> tuple[EndReason, str]:
        # Ask for the key state at once: a reader that does not push its state on accept [I] still answers.
        self._probe(loop.time())
        try:
            while True:
                timeout = max(0.0, self._next_deadline() - loop.time())
                try:
                    async with asyncio.timeout(timeout):
                        data = await reader.read(READ_CHUNK)
                except TimeoutError:
                    pass
                else:
                    self._conn.receive_data(data)
                    for event in self._conn.events_received():
                        self._handle(event, loop)
                self._on_timers(loop)
        except _End as end:
            return end.reason, end.detail
        except ConnectionResetError as exc:
            return EndReason.RESET, exc.strerror or "connection reset by peer"
        except OSError as exc:
            return EndReason.IO_ERROR, exc.strerror or str(exc)

    # -- timers ------------------------------------------------------------------------------------

    def _next_deadline(self) -> float:
        # Only deadlines that _on_timers can act on now, or a past one would spin the loop without waiting.
        if self._probe_sent is not None:
            deadlines = [self._probe_sent + self.config.heartbeat_timeout_s]
        else:
            deadlines = [self._next_probe]
        if self._read is not None:
            deadlines.append(self._read.deadline)
        elif self._reread_at is not None:
            deadlines.append(self._reread_at)
        return min(deadlines)

    def _on_timers(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        if self._read is not None and now >= self._read.deadline:
            # Replies come in request order; after a lost one the stream cannot be trusted to line up.
            raise _End(EndReason.READ_TIMEOUT, f"no reply to TL within {self.config.read_timeout_s} s")
        if self._probe_sent is not None and now >= self._probe_sent + self.config.heartbeat_timeout_s:
            self._misses += 1
            self._probe_sent = None
            self.stats.count("heartbeat_misses")
            if self._misses >= self.config.heartbeat_misses:
                raise _End(
                    EndReason.HEARTBEAT_TIMEOUT,
                    f"{self._misses} Ek queries unanswered for {self.config.heartbeat_timeout_s} s each",
                )
            self._probe(now)
        if self._probe_sent is None and now >= self._next_probe:
            self._probe(now)
        if self._reread_at is not None and now >= self._reread_at and self._read is None:
            self._reread_at = None
            insert, self._unread_insert = self._unread_insert, None
            if insert is not None and self._key_state is KeyState.IN:
                self.stats.count("read_retries")
                self._start_read(insert, loop)

    def _probe(self, now: float) -> None:
        self._send(KeyStatus())
        self._probe_sent = now
        self._next_probe = now + self.config.heartbeat_s
        self.stats.count("heartbeats_sent")

    def _send(self, frame: Frame) -> None:
        assert self._writer is not None
        self._writer.write(self._conn.send(frame))

    # -- frames ------------------------------------------------------------------------------------

    def _handle(self, event: Event, loop: asyncio.AbstractEventLoop) -> None:
        if isinstance(event, MalformedFrame):
            raise _End(EndReason.MALFORMED, event.error.value)
        if isinstance(event, ConnectionClosed):
            raise _End(EndReason.EOF, "the reader closed the connection")
        if self._probe_sent is not None:
            # Any whole frame proves the reader alive, whether it answers the query or pushes a state.
            self._probe_sent = None
            self._misses = 0
        if isinstance(event, KeyStatus):
            self._on_key_status(event, loop)
        elif isinstance(event, ReadReply):
            self._on_read_reply(event, loop)
        elif isinstance(event, StatusReply):
            self._on_status_reply(event, loop)
        else:
            raise _End(EndReason.UNEXPECTED_REPLY, f"a reader does not send {event!r}")

    def _on_key_status(self, event: KeyStatus, loop: asyncio.AbstractEventLoop) -> None:
        self._got_key_state = True
        previous, self._key_state = self._key_state, event.state
        if event.state is KeyState.IN:
            if previous is KeyState.IN:
                return
            insert = Insert.now(loop)
            self.stats.count("inserts_seen")
            if self._read is None:
                self._start_read(insert, loop)
            else:
                # One read at a time keeps request/reply matching trivial; this insert is read next.
                self._pending_insert = insert
        elif event.state is KeyState.OUT:
            if previous is KeyState.IN:
                self.stats.count("removes_seen")
            was_present = self.memory.present
            self.memory.removed(loop.time())
            if was_present:
                self._key_changed()
            self._pending_insert = None
            self._unread_insert = None
            self._reread_at = None
        else:
            # Ek 03 [F]: the manuals do not say what "other" means, so it is neither an insert nor a remove.
            self.stats.count("key_other")

    def _start_read(self, insert: Insert, loop: asyncio.AbstractEventLoop) -> None:
        self._read = _Read(
            insert,
            1,
            loop.time() + self.config.read_timeout_s,
            self.memory.serial,
            self.memory.present,
            self.memory.removed_at,
        )
        self._send(READ_SERIAL)
        self.stats.count("reads_sent")

    def _finish_read(self, loop: asyncio.AbstractEventLoop) -> None:
        self._read = None
        insert, self._pending_insert = self._pending_insert, None
        if insert is not None and self._key_state is KeyState.IN:
            self._start_read(insert, loop)

    def _on_read_reply(self, event: ReadReply, loop: asyncio.AbstractEventLoop) -> None:
        read = self._read
        if read is None or event.start != SERIAL_ADDRESS or len(event.data) != SERIAL_SIZE:
            raise _End(EndReason.UNEXPECTED_REPLY, f"RL start={event.start} count={event.count} not asked for")
        serial = key_id(event.data)
        self._decide(serial, read)
        self._finish_read(loop)

    def _decide(self, serial: str, read: _Read) -> None:
        insert = read.insert
        same_key = read.prior_serial == serial and (
            read.prior_present
            or (
                read.prior_removed_at is not None and insert.monotonic - read.prior_removed_at <= self.config.debounce_s
            )
        )
        removed_since = self.memory.removed_at is not None and self.memory.removed_at >= insert.monotonic
        before = (self.memory.serial, self.memory.present)
        self.memory.serial = serial
        self.memory.present = not removed_since
        if same_key:
            # A reconnect shows a key that is still in, and a bounce re-inserts it within the window.
            self.stats.count("punches_debounced")
            if before != (serial, self.memory.present):
                self._key_changed()
            return
        event = PunchEvent(
            reader=self.target.terminal_id,
            key_serial=serial,
            event_id=event_id_for(self.target.terminal_id, serial, insert),
            inserted_at=insert.inserted_at,
        )
        self.state.punches += 1
        self.stats.count("punches")
        # The sink records the punch's key as present; a key already gone again is recorded after it.
        self.sink(event)
        if removed_since:
            self._key_changed()

    def _key_changed(self) -> None:
        if self.key_sink is not None and self.memory.serial is not None:
            self.key_sink(self.target.terminal_id, self.memory.serial, self.memory.present)

    def _on_status_reply(self, event: StatusReply, loop: asyncio.AbstractEventLoop) -> None:
        if event.status == Status.TOO_MANY_CONNECTIONS:
            raise _End(EndReason.BUSY, "the reader has another client (RF 61)")
        read = self._read
        if read is None:
            raise _End(EndReason.UNEXPECTED_REPLY, f"RF {event.status:02X} without a request")
        if event.status == Status.NO_KEY:
            # The key left before the read finished: there is nothing whole to punch from.
            self.stats.error("read_no_key")
            self._finish_read(loop)
            return
        kind = event.kind
        retryable = kind is Status.KEY_COMM_ERROR or kind is Status.PARITY_ERROR
        if retryable and read.attempts < self.config.read_attempts:
            read.attempts += 1
            read.deadline = loop.time() + self.config.read_timeout_s
            self._send(READ_SERIAL)
            self.stats.count("read_retries")
            return
        self.stats.error("read_failed" if retryable else "read_refused")
        self._finish_read(loop)
        if retryable and self._key_state is KeyState.IN and self._read is None:
            # The key is still in: try the same insert again after a heartbeat period rather than lose it.
            self._unread_insert = read.insert
            self._reread_at = loop.time() + self.config.heartbeat_s
