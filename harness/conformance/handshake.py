"""The opening handshake as raw bytes, shared by the wire driver (``runner``) and the ``asgi`` client: the target,
the request, the response head and the TCP connection they travel on."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.conformance.wire_log import WireLog

__all__ = [
    "MAX_HEAD",
    "HttpHead",
    "Target",
    "accept_for",
    "handshake_request",
    "open_tcp",
    "parse_http_head",
    "parse_ws_url",
    "read_head",
    "request_key",
]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD = 65536


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str
    #: Sent with every handshake to the target (an Origin an app's origin check accepts).
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def host_header(self) -> str:
        return f"{self.host}:{self.port}"


def parse_ws_url(url: str) -> Target:
    """Split ``ws://host:port/path?query``; ``wss`` is refused because the checks write raw TCP bytes."""
    parts = urlsplit(url)
    if parts.scheme != "ws":
        raise ValueError(f"only ws:// URLs are supported, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.hostname, parts.port or 80, path)


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def handshake_request(target: Target, key: str, extra: Sequence[tuple[str, str]] = ()) -> bytes:
    lines = [
        f"GET {target.path} HTTP/1.1",
        f"Host: {target.host_header}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in (*target.headers, *extra)),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class HttpHead:
    status: int
    headers: list[tuple[str, str]]

    def get(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n == name]
        return ", ".join(values) if values else None


def parse_http_head(raw: bytes) -> HttpHead | None:
    """Parse a status line and headers; None when the bytes are not an HTTP/1.x response."""
    text = raw.decode("latin-1")
    status_line, *lines = text.split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        return None
    headers = []
    for line in lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip().lower(), value.strip()))
    return HttpHead(int(parts[1]), headers)


async def read_head(reader: asyncio.StreamReader, log: WireLog, timeout: float) -> tuple[bytes, bytes] | None:
    """Read up to the blank line ending an HTTP head; returns (head, leftover) or None on EOF/timeout."""
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or len(buf) > MAX_HEAD:
            return None
        try:
            chunk = await asyncio.wait_for(reader.read(65536), remaining)
        except (TimeoutError, OSError):
            return None
        if not chunk:
            log.add("<", "EOF")
            return None
        log.data("<", chunk)
        buf += chunk
    head, _, leftover = buf.partition(b"\r\n\r\n")
    return head, leftover


async def open_tcp(target: Target, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect with Nagle off, so each write leaves as its own segment."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(target.host, target.port, limit=MAX_HEAD), timeout)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


def request_key(request: bytes) -> str | None:
    """The Sec-WebSocket-Key a raw request carries, if any."""
    for line in request.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return value.strip().decode("latin-1")
    return None
