"""What the client hands its caller: messages, connect timings, and the two ways a connection ends badly."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final, Literal

from websockets.http11 import Response

__all__ = [
    "BODY_EXCERPT",
    "Closed",
    "ClosedBy",
    "ConnectFailure",
    "ConnectPhase",
    "ConnectTiming",
    "FailureKind",
    "Message",
    "remaining",
    "status_detail",
]

FailureKind = Literal["http_status", "refused", "timeout", "handshake_error", "dns", "other"]
ConnectPhase = Literal["dns", "tcp", "tls", "handshake"]
ClosedBy = Literal["server", "client", "abnormal"]
#: Status body bytes kept in a failure's detail: enough for a Django error line, not a whole page.
BODY_EXCERPT: Final = 200


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


# Not frozen: one is built per received message, and a frozen dataclass's __init__ (object.__setattr__ per
# field) costs three times as much. Nothing mutates or hashes one.
@dataclass(slots=True)
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


def remaining(deadline: float, phase: ConnectPhase) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ConnectFailure("timeout", f"no answer within the connect timeout ({phase})", phase=phase)
    return left


def status_detail(response: Response) -> str:
    body = bytes(response.body or b"")[:BODY_EXCERPT].decode("utf-8", "replace").strip()
    detail = f"HTTP {response.status_code} {response.reason_phrase}"
    return f"{detail}: {body}" if body else detail
