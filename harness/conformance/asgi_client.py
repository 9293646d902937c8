"""A minimal raw WebSocket client and HTTP getter for the ``asgi`` checks.

The checks need to see what a library client hides: the HTTP status and headers of a refused handshake, a denial
body, a close frame with no payload, a TCP drop without a close frame, frames that arrive after a close. So the
handshake bytes come from ``handshake.handshake_request`` and frames from our own ``frames`` writer and reader.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from dataclasses import dataclass, field
from typing import Literal

from harness.conformance.frames import FrameReader, Opcode, close_payload, encode_frame, parse_close_payload
from harness.conformance.handshake import (
    HttpHead,
    Target,
    accept_for,
    handshake_request,
    open_tcp,
    parse_http_head,
    read_head,
)
from harness.conformance.wire_log import WireLog

__all__ = ["Connection", "Message", "http_get", "open_ws", "read_body"]

_MAX_MESSAGE = 8 * 1024 * 1024


@dataclass(frozen=True)
class Message:
    """One thing read from the server: a whole data message, a pong, a close frame, EOF, or nothing in time."""

    kind: Literal["text", "binary", "pong", "close", "eof", "timeout"]
    payload: bytes = b""
    code: int | None = None

    @property
    def reason(self) -> bytes:
        return parse_close_payload(self.payload)[1] if self.kind == "close" and len(self.payload) >= 2 else b""


@dataclass
class Connection:
    """An open TCP connection after the opening handshake, whatever its status."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    log: WireLog
    head: HttpHead | None
    key: str
    leftover: bytes = b""
    frames: FrameReader = field(default_factory=lambda: FrameReader(max_size=_MAX_MESSAGE))
    _pending: list[Message] = field(default_factory=list)
    _fragments: bytearray | None = None
    _fragment_kind: Literal["text", "binary"] = "text"
    closed: bool = False

    @property
    def upgraded(self) -> bool:
        return self.head is not None and self.head.status == 101

    @property
    def accept_ok(self) -> bool:
        return self.upgraded and self.head is not None and self.head.get("sec-websocket-accept") == accept_for(self.key)

    def send(self, opcode: int, payload: bytes = b"", *, fin: bool = True) -> None:
        data = encode_frame(opcode, payload, fin=fin, mask_key=os.urandom(4))
        self.log.data(">", data)
        self.writer.write(data)

    def send_close(self, code: int | None, reason: bytes = b"") -> None:
        self.send(Opcode.CLOSE, close_payload(code, reason) if code is not None else b"")

    async def drain(self) -> None:
        try:
            await self.writer.drain()
        except OSError as exc:
            self.log.add("!", f"write failed: {exc!r}")

    def _take_frames(self) -> None:
        for frame in self.frames.frames_received():
            if frame.opcode == Opcode.PING:
                self.send(Opcode.PONG, frame.payload)
            elif frame.opcode == Opcode.PONG:
                self._pending.append(Message("pong", frame.payload))
            elif frame.opcode == Opcode.CLOSE:
                code, _ = parse_close_payload(frame.payload) if len(frame.payload) >= 2 else (None, b"")
                self._pending.append(Message("close", frame.payload, code))
            elif frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION):
                if frame.opcode != Opcode.CONTINUATION:
                    self._fragments = bytearray()
                    self._fragment_kind = "text" if frame.opcode == Opcode.TEXT else "binary"
                if self._fragments is None:
                    continue
                self._fragments += frame.payload
                if frame.fin:
                    self._pending.append(Message(self._fragment_kind, bytes(self._fragments)))
                    self._fragments = None

    async def recv(self, timeout: float) -> Message:
        """The next message or control event, answering pings on the way."""
        if self.leftover:
            self.frames.receive_data(self.leftover)
            self.leftover = b""
            self._take_frames()
        deadline = time.monotonic() + timeout
        while not self._pending:
            if self.closed:
                return Message("eof")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Message("timeout")
            try:
                data = await asyncio.wait_for(self.reader.read(65536), remaining)
            except TimeoutError:
                return Message("timeout")
            except OSError as exc:
                self.log.add("<", f"read failed: {exc!r}")
                data = b""
            if not data:
                self.log.add("<", "EOF")
                self.closed = True
                continue
            self.log.data("<", data)
            self.frames.receive_data(data)
            self._take_frames()
            if self.frames.error is not None:
                self.log.add("!", f"unparseable server bytes: {self.frames.error}")
                self.closed = True
        return self._pending.pop(0)

    async def close_and_wait(self, timeout: float, code: int | None = 1000, reason: bytes = b"") -> Message:
        """Start a closing handshake and return the server's close frame (or EOF/timeout)."""
        self.send_close(code, reason)
        await self.drain()
        while True:
            msg = await self.recv(timeout)
            if msg.kind in ("close", "eof", "timeout"):
                return msg

    async def abort(self) -> None:
        self.writer.transport.abort()
        self.closed = True
        await asyncio.sleep(0)


async def open_ws(
    base: Target, path: str, timeout: float, extra: tuple[tuple[str, str], ...] = ()
) -> tuple[Connection | None, WireLog]:
    """Connect and send the opening handshake for ``path``; the connection is returned whatever the status.

    ``None`` means the server closed or stayed silent without an HTTP response head.
    """
    log = WireLog()
    target = Target(base.host, base.port, path)
    key = base64.b64encode(os.urandom(16)).decode()
    try:
        reader, writer = await open_tcp(target, timeout)
    except (OSError, TimeoutError) as exc:
        log.add("!", f"connect failed: {exc!r}")
        return None, log
    request = handshake_request(target, key, extra)
    log.data(">", request)
    writer.write(request)
    got = await read_head(reader, log, timeout)
    if got is None:
        writer.close()
        return None, log
    head, leftover = got
    return Connection(reader, writer, log, parse_http_head(head), key, leftover), log


async def read_body(conn: Connection, timeout: float) -> bytes:
    """The HTTP body after a non-101 head: read to EOF, decoding chunked transfer when the server used it."""
    data = bytearray(conn.leftover)
    conn.leftover = b""
    deadline = time.monotonic() + timeout
    length = conn.head.get("content-length") if conn.head else None
    while length is None or len(data) < int(length):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            chunk = await asyncio.wait_for(conn.reader.read(65536), remaining)
        except (TimeoutError, OSError):
            break
        if not chunk:
            break
        conn.log.data("<", chunk)
        data += chunk
        if conn.head and "chunked" in (conn.head.get("transfer-encoding") or "") and data.endswith(b"0\r\n\r\n"):
            break
    if conn.head and "chunked" in (conn.head.get("transfer-encoding") or ""):
        return _dechunk(bytes(data))
    return bytes(data)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)


async def http_get(base: Target, path: str, timeout: float) -> tuple[int, bytes]:
    """A plain HTTP/1.0 GET, so the server answers without chunking and closes the connection."""
    reader, writer = await open_tcp(base, timeout)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {base.host_header}\r\n\r\n".encode())
        raw = await asyncio.wait_for(reader.read(-1), timeout)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    parsed = parse_http_head(head)
    if parsed is None:
        return 0, body
    # Some servers chunk even an HTTP/1.0 answer when the app sets no content-length.
    if "chunked" in (parsed.get("transfer-encoding") or ""):
        body = _dechunk(body)
    return parsed.status, body
