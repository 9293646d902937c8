"""Sans-I/O EKS connection: bytes in, events out, frames to bytes. No sockets, no timers.

One class serves both ends of the link, chosen by ``Role``:

* ``Role.CONTROLLER`` (the gateway/PC side) sends ``TL``, ``TP`` and ``Ek`` queries and receives ``RL``,
  ``RF`` and ``Ek`` states.
* ``Role.DEVICE`` (the reader side) receives ``TL``, ``TP`` and ``Ek`` and sends ``RL``, ``RF`` and ``Ek``.

Resynchronisation [D]: the protocol has no delimiter and no checksum, so after one malformed frame there is
no reliable way to find the start of the next one. The connection therefore reports a single
``MalformedFrame`` event, discards everything after it and sets ``close_expected()``. A device closes the
socket; a controller reports the error and reconnects (a fresh connection starts at a frame boundary).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .frames import (
    Complete,
    Frame,
    FrameError,
    KeyStatus,
    MalformedFrame,
    NeedMore,
    ReadReply,
    ReadRequest,
    StatusReply,
    WriteRequest,
    inspect_prefix,
)

__all__ = [
    "ConnectionClosed",
    "ConnectionState",
    "EksConnection",
    "Event",
    "LocalProtocolError",
    "Role",
]


class Role(enum.Enum):
    CONTROLLER = "controller"
    DEVICE = "device"


class ConnectionState(enum.Enum):
    OPEN = "open"
    # A malformed frame arrived; the rest of the stream is ignored and the socket should be closed.
    FAILED = "failed"
    # The peer sent EOF.
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed its sending side (EOF)."""


Event = ReadRequest | ReadReply | WriteRequest | StatusReply | KeyStatus | MalformedFrame | ConnectionClosed


class LocalProtocolError(ValueError):
    """The caller tried to send something its role must not send (a bug in the caller, not the peer)."""


def _allowed_from_peer(role: Role, frame: Frame) -> bool:
    if role is Role.DEVICE:
        # Byte 6 of an Ek query is documented as 00; a device answers any Ek as a query.
        return isinstance(frame, ReadRequest | WriteRequest | KeyStatus)
    if isinstance(frame, KeyStatus):
        return frame.state is not None
    return isinstance(frame, ReadReply | StatusReply)


class EksConnection:
    """One end of an EKS TCP connection, fed with received bytes and drained of events.

    Example (controller)::

        conn = EksConnection(Role.CONTROLLER)
        sock.sendall(conn.send(READ_SERIAL))
        conn.receive_data(sock.recv(4096))
        for event in conn.events_received():
            ...

    ``receive_data`` and ``receive_eof`` never raise on peer input: problems become ``MalformedFrame``
    events. ``send`` raises ``LocalProtocolError`` only when the caller breaks its own role.
    """

    def __init__(self, role: Role) -> None:
        self.role = role
        self.state = ConnectionState.OPEN
        self.error: MalformedFrame | None = None
        self._buffer = bytearray()
        self._events: list[Event] = []

    def receive_data(self, data: bytes) -> None:
        """Feed bytes received from the peer. ``b""`` means EOF, as in h11."""
        if not data:
            self.receive_eof()
            return
        if self.state is not ConnectionState.OPEN:
            return
        self._buffer += data
        self._parse()

    def receive_eof(self) -> None:
        """The peer closed its side; a partial frame left in the buffer is reported as truncated."""
        if self.state is ConnectionState.CLOSED:
            return
        if self.state is ConnectionState.OPEN and self._buffer:
            self._fail(
                MalformedFrame(
                    FrameError.TRUNCATED,
                    f"connection closed inside a frame ({len(self._buffer)} bytes pending)",
                    bytes(self._buffer),
                )
            )
        self._buffer.clear()
        self.state = ConnectionState.CLOSED
        self._events.append(ConnectionClosed())

    def events_received(self) -> list[Event]:
        """Return and forget the events decoded so far, oldest first."""
        events, self._events = self._events, []
        return events

    def send(self, frame: Frame) -> bytes:
        """Encode ``frame`` for sending, after checking that this role may send it."""
        if self.role is Role.CONTROLLER:
            allowed = isinstance(frame, ReadRequest | WriteRequest) or (isinstance(frame, KeyStatus) and frame.is_query)
        else:
            allowed = isinstance(frame, ReadReply | StatusReply) or (
                isinstance(frame, KeyStatus) and not frame.is_query
            )
        if not allowed:
            raise LocalProtocolError(f"a {self.role.value} does not send {frame!r}")
        return frame.serialize()

    def close_expected(self) -> bool:
        """True once the stream can no longer be trusted or the peer is gone: close the socket."""
        return self.state is not ConnectionState.OPEN

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a whole frame."""
        return len(self._buffer)

    def _parse(self) -> None:
        while self.state is ConnectionState.OPEN:
            result = inspect_prefix(self._buffer)
            if isinstance(result, NeedMore):
                return
            if isinstance(result, MalformedFrame):
                self._fail(result)
                return
            assert isinstance(result, Complete)
            raw = bytes(self._buffer[: result.size])
            del self._buffer[: result.size]
            if not _allowed_from_peer(self.role, result.frame):
                self._fail(
                    MalformedFrame(
                        FrameError.UNEXPECTED_COMMAND,
                        f"a {self.role.value} does not expect {result.frame.command.value.decode()} {result.frame!r}",
                        raw,
                    )
                )
                return
            self._events.append(result.frame)

    def _fail(self, error: MalformedFrame) -> None:
        self.error = error
        self.state = ConnectionState.FAILED
        self._buffer.clear()
        self._events.append(error)
