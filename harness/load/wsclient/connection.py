"""An open connection: the fast data-frame path over websockets' sans-I/O core, reads and the closing handshake."""

from __future__ import annotations

import os
import socket
import time
from collections import deque

from websockets.client import ClientProtocol

try:
    from websockets.speedups import apply_mask
except ImportError:  # websockets without its C extension
    from websockets.utils import apply_mask
from websockets.exceptions import InvalidState, InvalidStatus
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import Event, State

from harness.load.wsclient.model import Closed, ConnectFailure, ConnectTiming, Message, remaining, status_detail

__all__ = ["CLOSE_TIMEOUT", "READ_SIZE", "WsConnection"]

#: One read per wake-up; 64 KiB holds hundreds of small messages and avoids a huge allocation per recv.
READ_SIZE = 65536
#: How long to wait for the server's TCP close after the closing handshake (RFC 6455 7.1.1 lets the
#: client give up and drop the connection itself).
CLOSE_TIMEOUT = 2.0
#: Bytes of mask keys read from the OS at once (256 messages' worth).
_MASK_POOL = 1024

_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_CONT = Opcode.CONT


class WsConnection:
    """An open client connection; not safe to share between greenlets or threads.

    Attributes:
        connect_timing: How long each phase of :func:`connect` took.
        response_headers: The server's 101 response headers.
        at_frame_boundary: True if the next bytes given to :meth:`receive_data` start a frame that it may parse
            itself. That is: the connection is open, no part of a frame is held back and no fragmented message
            is in progress. Then what :meth:`receive_data` makes of some bytes depends only on those bytes and
            the connection's settings (``decode_text``, ``max_size``). Kept up to date by every method that can
            change it, rather than computed on each look: a load generator asks for every frame it reads.
    """

    connect_timing: ConnectTiming
    response_headers: dict[str, str]
    at_frame_boundary: bool

    def __init__(
        self, sock: socket.socket, protocol: ClientProtocol, *, decode_text: bool, max_size: int | None = None
    ) -> None:
        self._sock = sock
        self._protocol = protocol
        self._decode_text = decode_text
        self._max_size = max_size
        self._pending: deque[Message] = deque()
        # Reads holding a frame not complete yet (see receive_data): the chunks, their size, and how many
        # bytes the frame needs before parsing can go on.
        self._partial: list[bytes] = []
        self._partial_size = 0
        self._partial_need = 0
        # Everything goes to the core from now on: the connection is closing or failing.
        self._core_only = False
        self._mask_pool = b""
        self._mask_at = 0
        # Fragments of a message in progress: its opcode and the payloads so far.
        self._fragment_opcode: Opcode | None = None
        self._fragments: list[bytes] = []
        self._closed: Closed | None = None
        self._timeout: float | None = -1.0  # never a real value, so the first recv sets it
        self._update_boundary()  # False until the handshake has succeeded (unless given an open protocol)

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server chose, if any."""
        return self._protocol.subprotocol

    @property
    def closed(self) -> bool:
        """True once the connection has ended, whoever ended it."""
        return self._closed is not None

    # Opening handshake.

    def _handshake(self, deadline: float) -> Response:
        protocol = self._protocol
        # The core gets the response head only once it is complete, and nothing behind it until the status
        # is known: frames a server sends right behind its 101 must reach receive_data() at a frame boundary,
        # while a refusal's body is the core's to read.
        head = b""
        head_done = False
        try:
            self._flush()
            while True:
                self._settimeout(remaining(deadline, "handshake"))
                data = self._sock.recv(READ_SIZE)
                eof = not data
                rest = b""
                if not head_done:
                    head += data
                    end = head.find(b"\r\n\r\n")
                    if end < 0 and not eof:
                        continue
                    if end >= 0:
                        data, rest, head_done = head[: end + 4], head[end + 4 :], True
                    else:
                        data = head
                    head = b""
                if data:
                    protocol.receive_data(data)
                events = protocol.events_received()
                if protocol.handshake_exc is None and events:
                    response = events[0]
                    assert isinstance(response, Response)
                    self._process(events[1:], time.monotonic_ns())
                    self._update_boundary()
                    if rest:
                        self.receive_data(rest, time.monotonic_ns())
                    self._flush()
                    return response
                if rest:
                    protocol.receive_data(rest)
                if eof:
                    protocol.receive_eof()
                protocol.events_received()
                if protocol.handshake_exc is not None:
                    exc = protocol.handshake_exc
                    if isinstance(exc, InvalidStatus):
                        status = exc.response.status_code
                        raise ConnectFailure(
                            "http_status", status_detail(exc.response), phase="handshake", status=status
                        ) from exc
                    raise ConnectFailure("handshake_error", str(exc), phase="handshake") from exc
                if eof:
                    raise ConnectFailure("handshake_error", "connection closed during the handshake", phase="handshake")
        except TimeoutError as exc:
            raise ConnectFailure(
                "timeout", "no WebSocket handshake response before the connect timeout", phase="handshake"
            ) from exc
        except OSError as exc:
            raise ConnectFailure(
                "handshake_error", f"connection failed during the handshake: {exc}", phase="handshake"
            ) from exc

    # Sending.

    def send_text(self, data: str | bytes) -> None:
        """Send a text message; ``bytes`` must already be UTF-8 (they are not checked).

        Raises:
            Closed: If the connection has ended.
        """
        self._send(_TEXT, data.encode() if isinstance(data, str) else data)

    def send_binary(self, data: bytes) -> None:
        """Send a binary message.

        Raises:
            Closed: If the connection has ended.
        """
        self._send(_BINARY, data)

    def _send(self, opcode: Opcode, payload: bytes) -> None:
        if self._closed is not None:
            raise self._closed
        protocol = self._protocol
        if protocol.state is State.OPEN and not protocol.writes and not protocol.extensions:
            # What the core would queue (one masked, unfragmented frame with no extension bits), built here at
            # a fraction of its cost per message; anything else (closing, queued pongs to keep in order,
            # extensions) takes the core's path below.
            mask = self._next_mask()
            size = len(payload)
            if size < 126:
                header = bytes((0x80 | opcode, 0x80 | size))
            elif size < 65536:
                header = bytes((0x80 | opcode, 0xFE)) + size.to_bytes(2, "big")
            else:
                header = bytes((0x80 | opcode, 0xFF)) + size.to_bytes(8, "big")
            self._write(header + mask + apply_mask(payload, mask))
            return
        try:
            if opcode is _TEXT:
                self._protocol.send_text(payload)
            else:
                self._protocol.send_binary(payload)
        except InvalidState:
            # The server's close frame was parsed but not yet delivered by recv(). Whoever reads this connection
            # finishes the close (recv(), close(), or a receiver waiting on the socket in gevent's hub): reading it
            # here too would be two greenlets on one socket, which gevent refuses with an exception in the sender.
            raise self._closed_exc() from None
        self._flush()

    def _flush(self) -> None:
        """Write what the protocol queued: our frames, pongs, close frames, or EOF (``b""``)."""
        for data in self._protocol.data_to_send():
            if data:
                self._write(data)
            else:
                try:
                    self._sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass  # the peer is gone (see _write)

    def _next_mask(self) -> bytes:
        # RFC 6455 5.3 wants masks from a strong source of entropy; reading the OS's a kilobyte at a time spares
        # a system call per message.
        pool, at = self._mask_pool, self._mask_at
        if at >= len(pool):
            pool, at = self._mask_pool, self._mask_at = os.urandom(_MASK_POOL), 0
        self._mask_at = at + 4
        return pool[at : at + 4]

    def _write(self, data: bytes) -> None:
        try:
            # One send() nearly always takes a small frame whole; gevent's sendall() adds a Python-level loop
            # per call, a measurable share of a round trip's client CPU.
            sent = self._sock.send(data)
            if sent < len(data):
                self._sock.sendall(memoryview(data)[sent:])
        except OSError:
            # The peer is gone. The next read sees the reset or EOF and reports it (1006), after any messages
            # that arrived before it, so a write error is not raised here.
            pass

    # Receiving.

    def _settimeout(self, timeout: float | None) -> None:
        # settimeout() is a system call on a plain socket; skip it when nothing changes.
        if timeout != self._timeout:
            self._sock.settimeout(timeout)
            self._timeout = timeout

    def _process(self, events: list[Event], now: int) -> None:
        for event in events:
            assert isinstance(event, Frame)
            opcode = event.opcode
            if opcode is _TEXT or opcode is _BINARY:
                if event.fin:
                    self._deliver(opcode, bytes(event.data), now)
                else:
                    self._fragment_opcode = opcode
                    self._fragments = [bytes(event.data)]
            elif opcode is _CONT:
                self._fragments.append(bytes(event.data))
                if event.fin:
                    assert self._fragment_opcode is not None
                    self._deliver(self._fragment_opcode, b"".join(self._fragments), now)
                    self._fragment_opcode = None
                    self._fragments = []
            # Pings are answered by the protocol (the pong is in data_to_send); close frames are
            # read back from the protocol's state once the TCP connection ends.

    def _deliver(self, opcode: Opcode, payload: bytes, now: int) -> None:
        if opcode is _BINARY:
            self._pending.append(Message("binary", payload, now))
        elif not self._decode_text:
            self._pending.append(Message("text", payload, now))
        else:
            try:
                self._pending.append(Message("text", payload.decode(), now))
            except UnicodeDecodeError as exc:
                # The core does not validate text payloads; RFC 6455 8.1 says fail with 1007.
                if self._protocol.state is State.OPEN:
                    self._protocol.fail(CloseCode.INVALID_DATA, f"invalid UTF-8 in a text message: {exc.reason}")
                self._core_only = True

    def receive_data(self, data: bytes, now_ns: int) -> bool:
        """Parse bytes read from the socket (``b""`` at EOF) into messages for :meth:`recv` / :meth:`take_messages`.

        For callers that read the socket themselves (see :mod:`harness.load.hub_receiver`); nothing here blocks or
        does I/O. Frames the core queues an answer to (a pong, a close) leave on the next :meth:`flush`.

        Complete, unfragmented, unmasked text and binary frames without extension bits, which is nearly
        every frame a load test receives, are parsed here, at a fraction of the core's cost per frame. Every
        other frame (control frames, fragments, anything the core must refuse) goes to the websockets core
        whole, so its state machine only ever sees frame boundaries, and from the moment the connection
        stops being open everything goes to the core.

        Returns:
            True if the websockets core took part: then it may have queued an answer to :meth:`flush`, or the
            connection may be closing (:attr:`is_open`). False means neither can have changed.
        """
        core = self._parse(data, now_ns)
        self._update_boundary()
        return core

    def _update_boundary(self) -> None:
        self.at_frame_boundary = (
            not self._partial
            and not self._core_only
            and self._fragment_opcode is None
            and self._protocol.state is State.OPEN
        )

    def _parse(self, data: bytes, now_ns: int) -> bool:
        """:meth:`receive_data` but for keeping :attr:`at_frame_boundary` up to date."""
        protocol = self._protocol
        if self._partial:
            # A frame in progress: collect reads until it can be complete, then join them once (joining on
            # every read would copy a large message over and over).
            self._partial.append(data)
            self._partial_size += len(data)
            if data and self._partial_size < self._partial_need and not self._core_only:
                return False
            buf = b"".join(self._partial)
            self._partial = []
        else:
            buf = data
        if self._core_only or protocol.state is not State.OPEN:
            self._core_only = True
            if buf:
                self._to_core(buf, now_ns)
            if not data:
                self._to_core(b"", now_ns)
            return True
        core = False
        end = len(buf)
        pos = 0
        need = 2  # bytes the frame at pos needs before it can be parsed further
        hand_over = False
        while end - pos >= 2:
            first = buf[pos]
            length = buf[pos + 1]
            if length & 0x80:
                hand_over = True  # a masked frame from a server: the core fails the connection (1002)
                break
            header = 2
            if length >= 126:
                # 126: a 16-bit length follows; 127: a 64-bit one.
                header = 4 if length == 126 else 10
                if end - pos < header:
                    need = header
                    break
                length = int.from_bytes(buf[pos + 2 : pos + header], "big")
            if self._max_size is not None and length > self._max_size:
                hand_over = True  # the core refuses it (1009)
                break
            stop = pos + header + length
            if stop > end:
                need = stop - pos
                break
            # While a fragmented message is in progress (the core handed us its first frame), every frame goes
            # to the core, which knows what may come next.
            if (first == 0x81 or first == 0x82) and self._fragment_opcode is None:
                self._deliver(_TEXT if first == 0x81 else _BINARY, buf[pos + header : stop], now_ns)
                pos = stop
                if self._core_only:
                    hand_over = True  # invalid UTF-8: the connection is failing (1007)
                    break
                continue
            protocol.receive_data(buf[pos:stop])
            core = True
            pos = stop
            events = protocol.events_received()
            if events:
                self._process(events, now_ns)
            if protocol.state is not State.OPEN:
                hand_over = True
                break
        if not hand_over and data:
            if pos < end:
                self._partial = [buf[pos:]]
                self._partial_size = end - pos
                self._partial_need = need
            return core
        # From here on everything is the core's: a frame it will refuse, a closing connection, or EOF (with
        # whatever part of a frame came before it, which the core reports as a truncated frame).
        self._core_only = True
        if pos < end:
            self._to_core(buf[pos:], now_ns)
        if not data:
            self._to_core(b"", now_ns)
        return True

    def _to_core(self, data: bytes, now_ns: int) -> None:
        protocol = self._protocol
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        events = protocol.events_received()
        if events:
            self._process(events, now_ns)

    def take_messages(self) -> list[Message]:
        """Return (and forget) every message parsed so far, oldest first."""
        messages = list(self._pending)
        self._pending.clear()
        return messages

    @property
    def is_open(self) -> bool:
        """False once a close frame was sent or received, or the connection failed or ended."""
        return self._protocol.state is State.OPEN and self._closed is None

    @property
    def socket(self) -> socket.socket:
        """The connection's socket, for callers that wait on it or read it themselves (not to write to)."""
        return self._sock

    def has_data_to_send(self) -> bool:
        """True if the core queued frames (a pong, a close) that :meth:`flush` would write."""
        return bool(self._protocol.writes)

    def flush(self) -> None:
        """Write what the core queued (pongs, close frames); may block while the socket's buffer is full."""
        self._flush()

    def _read(self, timeout: float | None) -> None:
        """One socket read: feed it to the protocol, queue complete messages, answer what needs it.

        Raises:
            TimeoutError: If nothing arrived within ``timeout``.
        """
        self._settimeout(timeout)
        try:
            data = self._sock.recv(READ_SIZE)
        except TimeoutError:
            raise
        except OSError:
            data = b""  # a reset is an abrupt end, like EOF without a close frame
        self.receive_data(data, time.monotonic_ns())
        self._flush()
        if self._protocol.state is not State.OPEN and not self._pending:
            self._finish_close()

    def _finish_close(self) -> None:
        """The closing handshake has started or the TCP connection ended: wait for EOF, then record why."""
        if not self._tcp_closed():
            self._settimeout(CLOSE_TIMEOUT)
            try:
                while not self._tcp_closed():
                    # Messages the server sent before its close frame are kept for recv(); the protocol itself
                    # discards anything after it.
                    self.receive_data(self._sock.recv(READ_SIZE), time.monotonic_ns())
                    self._flush()
            except OSError:
                pass  # the server did not close in time (or reset): drop the connection ourselves
        self._flush()
        self._sock.close()
        self._closed = self._closed_exc()
        self.at_frame_boundary = False

    def _tcp_closed(self) -> bool:
        return self._protocol.state is State.CLOSED

    def _closed_exc(self) -> Closed:
        protocol = self._protocol
        sent, received = protocol.close_sent, protocol.close_rcvd
        if received is not None and (sent is None or protocol.close_rcvd_then_sent):
            return Closed(received.code, received.reason, "server")
        if sent is not None:
            reason = sent.reason
            if protocol.parser_exc is not None and not reason:
                reason = str(protocol.parser_exc)
            return Closed(sent.code, reason, "client")
        detail = str(protocol.parser_exc) if protocol.parser_exc is not None else "connection lost"
        return Closed(1006, detail, "abnormal")

    def recv(self, timeout: float | None = None) -> Message:
        """Return the next message, blocking until one arrives.

        Args:
            timeout: Seconds to wait; ``None`` waits forever.

        Raises:
            Closed: When the connection has ended and every message received before was returned.
            TimeoutError: If no message arrived within ``timeout`` (the connection stays usable).
        """
        pending = self._pending
        if pending:
            return pending.popleft()
        self._wait(timeout)
        return pending.popleft()

    def recv_many(self, timeout: float | None = None) -> list[Message]:
        """Return every message already parsed, reading the socket only if there are none.

        One call costs one read however many messages that read completes, so a client
        receiving bursts (fan-out, broadcast) should prefer it to :meth:`recv`.

        Raises:
            Closed: When the connection has ended and every message received before was returned.
            TimeoutError: If no message arrived within ``timeout``.
        """
        if not self._pending:
            self._wait(timeout)
        return self.take_messages()

    def _wait(self, timeout: float | None) -> None:
        """Read until at least one message is pending."""
        deadline = None if timeout is None else time.monotonic() + timeout
        wait = timeout
        while not self._pending:
            if self._closed is not None:
                raise self._closed
            if self._protocol.state is not State.OPEN:
                self._finish_close()
                continue
            self._read(wait)
            if deadline is not None:
                # Later reads get what is left; the first keeps the caller's value so the cached
                # socket timeout usually matches and needs no system call.
                wait = deadline - time.monotonic()
                if wait <= 0 and not self._pending:
                    raise TimeoutError(f"no message within {timeout} s")

    # Closing.

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake, wait (briefly) for the server to finish it, drop the socket.

        Messages that arrived before the close and were not read yet stay readable with
        :meth:`recv`; after them it raises :class:`Closed` with ``by="client"``. Idempotent.
        """
        if self._closed is not None:
            return
        protocol = self._protocol
        if protocol.state is State.OPEN:
            protocol.send_close(code, reason)
            self.at_frame_boundary = False
            self._flush()
        self._finish_close()

    def __enter__(self) -> WsConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
