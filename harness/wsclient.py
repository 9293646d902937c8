"""A blocking WebSocket client for load generation: websockets' sans-I/O core over a plain socket.

Locust runs users as gevent greenlets, so the client must block in the ``socket`` module (which Locust
monkey-patches) and must never start an asyncio loop. This module therefore does its I/O through
``socket``/``ssl`` looked up at call time and leaves the protocol (framing, masking, the opening
handshake, answering pings, the closing handshake) to :class:`websockets.client.ClientProtocol`.
It imports neither gevent nor Django: the caller decides whether to monkey-patch.

Connect failures are classified by :attr:`ConnectFailure.kind`; a connection that ends raises
:class:`Closed` with the close code and who ended it. Every received message carries
``time.monotonic_ns()`` taken right after the bytes that completed it were parsed.
See ``docs/clients.md`` for the measurements behind the choice of this design.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidState, InvalidStatus, InvalidURI
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import Event, State
from websockets.typing import Origin, Subprotocol
from websockets.uri import parse_uri

__all__ = [
    "Closed",
    "ConnectFailure",
    "ConnectTiming",
    "FailureKind",
    "Message",
    "WsConnection",
    "connect",
]

FailureKind = Literal["http_status", "refused", "timeout", "handshake_error", "dns", "other"]
ConnectPhase = Literal["dns", "tcp", "tls", "handshake"]
ClosedBy = Literal["server", "client", "abnormal"]

#: One read per wake-up; 64 KiB holds hundreds of small messages and avoids a huge allocation per recv.
READ_SIZE = 65536
#: How long to wait for the server's TCP close after the closing handshake (RFC 6455 7.1.1 lets the
#: client give up and drop the connection itself).
CLOSE_TIMEOUT = 2.0
#: Status body bytes kept in a failure's detail: enough for a Django error line, not a whole page.
BODY_EXCERPT = 200
USER_AGENT = "channels-harness"

_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_CONT = Opcode.CONT
_CLOSE = Opcode.CLOSE


class ConnectFailure(Exception):
    """The WebSocket connection could not be opened.

    Attributes:
        kind: ``http_status`` (the server answered with a status other than 101; see ``status``),
            ``refused`` (TCP RST), ``timeout`` (any phase), ``handshake_error`` (the server's answer
            was not a valid WebSocket handshake, or it closed the connection during it), ``dns``
            or ``other``.
        status: The HTTP status code when ``kind == "http_status"``, else ``None``.
        detail: A human-readable explanation.
        phase: Where it failed: ``dns``, ``tcp``, ``tls`` or ``handshake``.
    """

    def __init__(self, kind: FailureKind, detail: str, *, phase: ConnectPhase, status: int | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind: FailureKind = kind
        self.status = status
        self.detail = detail
        self.phase: ConnectPhase = phase


class Closed(Exception):
    """The connection is closed; raised by :meth:`WsConnection.recv` and the send methods.

    Attributes:
        code: The close code (RFC 6455 7.4): the server's code when it closed, ours when we did,
            1006 when the TCP connection ended without a closing handshake.
        reason: The close reason, or an explanation for 1006 and protocol errors.
        by: ``server`` (it sent the first close frame), ``client`` (we did, by :meth:`WsConnection.close`
            or because the server broke the protocol) or ``abnormal`` (no close frame: code 1006).
    """

    def __init__(self, code: int, reason: str, by: ClosedBy) -> None:
        who = "no closing handshake" if by == "abnormal" else f"closed by {by}"
        super().__init__(f"{code} {reason}".rstrip() + f" ({who})")
        self.code = code
        self.reason = reason
        self.by: ClosedBy = by


@dataclass(frozen=True, slots=True)
class Message:
    """One complete WebSocket message.

    Attributes:
        kind: ``text`` or ``binary``.
        data: ``str`` for text (``bytes`` when the connection was opened with ``decode_text=False``),
            ``bytes`` for binary.
        received_ns: ``time.monotonic_ns()`` right after the read that completed the message was
            parsed; messages completed by the same read share it.
    """

    kind: Literal["text", "binary"]
    data: str | bytes
    received_ns: int


@dataclass(frozen=True, slots=True)
class ConnectTiming:
    """Where the connect time went, in nanoseconds of ``time.monotonic_ns()``.

    Attributes:
        dns_ns: Name resolution (``getaddrinfo``).
        tcp_ns: TCP connect, including the TLS handshake for ``wss://``.
        handshake_ns: From sending the upgrade request until the 101 response was parsed.
        total_ns: All of the above, measured end to end.
    """

    dns_ns: int
    tcp_ns: int
    handshake_ns: int
    total_ns: int


def _remaining(deadline: float, phase: ConnectPhase) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ConnectFailure("timeout", f"no answer within the connect timeout ({phase})", phase=phase)
    return left


def _status_detail(response: Response) -> str:
    body = bytes(response.body or b"")[:BODY_EXCERPT].decode("utf-8", "replace").strip()
    detail = f"HTTP {response.status_code} {response.reason_phrase}"
    return f"{detail}: {body}" if body else detail


def _open_tcp(host: str, port: int, deadline: float) -> tuple[socket.socket, int]:
    """Resolve and connect, trying each address in turn like ``socket.create_connection``."""
    started = time.monotonic_ns()
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectFailure("dns", f"cannot resolve {host!r}: {exc}", phase="dns") from exc
    dns_ns = time.monotonic_ns() - started
    last: ConnectFailure | None = None
    for family, type_, proto, _, address in infos:
        sock = socket.socket(family, type_, proto)
        try:
            sock.settimeout(_remaining(deadline, "tcp"))
            sock.connect(address)
        except ConnectFailure:
            sock.close()
            raise
        except ConnectionRefusedError as exc:
            sock.close()
            last = ConnectFailure("refused", f"{address}: {exc}", phase="tcp")
            continue
        except TimeoutError as exc:
            sock.close()
            raise ConnectFailure("timeout", f"TCP connect to {address} timed out", phase="tcp") from exc
        except OSError as exc:
            sock.close()
            last = ConnectFailure("other", f"{address}: {exc}", phase="tcp")
            continue
        # Small messages must leave at once; Nagle would add up to 40 ms to every round trip.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, dns_ns
    raise last if last is not None else ConnectFailure("dns", f"no address for {host!r}", phase="dns")


def connect(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    origin: str | None = None,
    cookies: Mapping[str, str] | None = None,
    subprotocols: Sequence[str] | None = None,
    timeout: float = 10.0,
    max_size: int | None = 2**20,
    decode_text: bool = True,
    ssl_context: ssl.SSLContext | None = None,
) -> WsConnection:
    """Open a WebSocket connection the way a browser would, blocking until it is open.

    Args:
        url: ``ws://`` or ``wss://`` URL; put query-string tokens here, as browsers must.
        headers: Extra request headers; a name given here replaces the one the client would send
            (``Host``, ``User-Agent``...).
        origin: Value of the ``Origin`` header (Channels' ``AllowedHostsOriginValidator`` refuses
            a socket without one).
        cookies: Sent as one ``Cookie`` header, ``name=value`` pairs joined by ``"; "``.
        subprotocols: Offered in ``Sec-WebSocket-Protocol``; the chosen one is
            :attr:`WsConnection.subprotocol`.
        timeout: Seconds for the whole connect: DNS, TCP, TLS and the opening handshake.
        max_size: Largest incoming message in bytes (``None``: no limit); a bigger one closes the
            connection with 1009.
        decode_text: Return text messages as ``str`` (validating UTF-8); ``False`` keeps the
            bytes, which saves the decode when the payload goes straight to a JSON parser.
        ssl_context: For ``wss://``; the default verifies certificates.

    Returns:
        The open connection.

    Raises:
        ConnectFailure: With ``kind`` telling why (see the class).
        ValueError: If ``url`` is not a WebSocket URL.
    """
    started = time.monotonic_ns()
    deadline = time.monotonic() + timeout
    try:
        uri = parse_uri(url)
    except InvalidURI as exc:
        raise ValueError(str(exc)) from exc

    sock, dns_ns = _open_tcp(uri.host, uri.port, deadline)
    try:
        if uri.secure:
            context = ssl_context if ssl_context is not None else ssl.create_default_context()
            sock.settimeout(_remaining(deadline, "tls"))
            try:
                sock = context.wrap_socket(sock, server_hostname=uri.host)
            except TimeoutError as exc:
                raise ConnectFailure("timeout", "TLS handshake timed out", phase="tls") from exc
            except OSError as exc:
                raise ConnectFailure("other", f"TLS handshake failed: {exc}", phase="tls") from exc
        tcp_done = time.monotonic_ns()

        protocol = ClientProtocol(
            uri,
            origin=Origin(origin) if origin is not None else None,
            subprotocols=[Subprotocol(p) for p in subprotocols] if subprotocols is not None else None,
            max_size=max_size,
        )
        request = protocol.connect()
        extra: dict[str, str] = {"User-Agent": USER_AGENT}
        if cookies:
            extra["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
        extra.update(headers or {})
        for name, value in extra.items():
            # Headers.__setitem__ appends, so drop the client's own value first to replace it.
            if name in request.headers:
                del request.headers[name]
            request.headers[name] = value
        protocol.send_request(request)

        conn = WsConnection(sock, protocol, decode_text=decode_text)
        response = conn._handshake(deadline)
        done = time.monotonic_ns()
    except BaseException:
        sock.close()
        raise
    conn.response_headers = dict(response.headers.raw_items())
    conn.connect_timing = ConnectTiming(
        dns_ns=dns_ns,
        tcp_ns=tcp_done - started - dns_ns,
        handshake_ns=done - tcp_done,
        total_ns=done - started,
    )
    return conn


class WsConnection:
    """An open client connection; not safe to share between greenlets or threads.

    Attributes:
        connect_timing: How long each phase of :func:`connect` took.
        response_headers: The server's 101 response headers.
    """

    connect_timing: ConnectTiming
    response_headers: dict[str, str]

    def __init__(self, sock: socket.socket, protocol: ClientProtocol, *, decode_text: bool) -> None:
        self._sock = sock
        self._protocol = protocol
        self._decode_text = decode_text
        self._pending: deque[Message] = deque()
        # Fragments of a message in progress: its opcode and the payloads so far.
        self._fragment_opcode: Opcode | None = None
        self._fragments: list[bytes] = []
        self._closed: Closed | None = None
        self._timeout: float | None = -1.0  # never a real value, so the first recv sets it

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
        try:
            self._flush()
            while True:
                self._settimeout(_remaining(deadline, "handshake"))
                data = self._sock.recv(READ_SIZE)
                if data:
                    protocol.receive_data(data)
                else:
                    protocol.receive_eof()
                events = protocol.events_received()
                if protocol.handshake_exc is not None:
                    exc = protocol.handshake_exc
                    if isinstance(exc, InvalidStatus):
                        status = exc.response.status_code
                        raise ConnectFailure(
                            "http_status", _status_detail(exc.response), phase="handshake", status=status
                        ) from exc
                    raise ConnectFailure("handshake_error", str(exc), phase="handshake") from exc
                if events:
                    response = events[0]
                    assert isinstance(response, Response)
                    # A server may send a message in the same segment as its 101 response.
                    self._process(events[1:], time.monotonic_ns())
                    self._flush()
                    return response
                if not data:
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
        try:
            if opcode is _TEXT:
                self._protocol.send_text(payload)
            else:
                self._protocol.send_binary(payload)
        except InvalidState:
            # The server's close frame was parsed but not yet delivered by recv(): finish closing.
            self._finish_close()
            assert self._closed is not None
            raise self._closed from None
        self._flush()

    def _flush(self) -> None:
        """Write what the protocol queued: our frames, pongs, close frames, or EOF (``b""``)."""
        try:
            for data in self._protocol.data_to_send():
                if data:
                    # One send() nearly always takes a small frame whole; gevent's sendall() adds a
                    # Python-level loop per call, a measurable share of a round trip's client CPU.
                    sent = self._sock.send(data)
                    if sent < len(data):
                        self._sock.sendall(memoryview(data)[sent:])
                else:
                    self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            # The peer is gone. The next read sees the reset or EOF and reports it (1006), after
            # any messages that arrived before it, so a write error is not raised here.
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
        protocol = self._protocol
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        now = time.monotonic_ns()
        events = protocol.events_received()
        if events:
            self._process(events, now)
        self._flush()
        if protocol.state is not State.OPEN and not self._pending:
            self._finish_close()

    def _finish_close(self) -> None:
        """The closing handshake has started or the TCP connection ended: wait for EOF, then record why."""
        protocol = self._protocol
        if not self._tcp_closed():
            self._settimeout(CLOSE_TIMEOUT)
            try:
                while not self._tcp_closed():
                    data = self._sock.recv(READ_SIZE)
                    if data:
                        protocol.receive_data(data)
                    else:
                        protocol.receive_eof()
                    # Messages the server sent before its close frame are kept for recv(); the
                    # protocol itself discards anything after it.
                    events = protocol.events_received()
                    if events:
                        self._process(events, time.monotonic_ns())
                    self._flush()
            except OSError:
                pass  # the server did not close in time (or reset): drop the connection ourselves
        self._flush()
        self._sock.close()
        self._closed = self._closed_exc()

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
        messages = list(self._pending)
        self._pending.clear()
        return messages

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
            self._flush()
        self._finish_close()

    def __enter__(self) -> WsConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
