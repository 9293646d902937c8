"""Drive the wire cases against a WebSocket echo endpoint and judge them as Autobahn's fuzzing client does.

One TCP connection per case. Legal and illegal frames alike come from our own writer
(``frames.encode_frame``), so the driver never depends on a library that would refuse to send them; server
frames are parsed by ``frames.FrameReader``. All waits are multiples of one time ``unit`` (seconds) so slow
machines can scale it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import socket
import time
import zlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from harness.conformance.blocking import blocking
from harness.conformance.catalogue import wire_cases
from harness.conformance.datasets import slice_payload
from harness.conformance.deflate import (
    DeflateParams,
    MessageDeflater,
    MessageInflater,
    parse_deflate_response,
)
from harness.conformance.frames import (
    Frame,
    FrameReader,
    Opcode,
    close_payload,
    encode_frame,
    parse_close_payload,
)
from harness.conformance.model import (
    Case,
    CheckResult,
    CloseVerdict,
    EchoRounds,
    Expect,
    HandshakeProbe,
    KnownDeviation,
    Observation,
    SendBatch,
    SendFrame,
    SendMessage,
    SendRaw,
    Sleep,
    Step,
    Verdict,
    WaitServerPing,
    apply_deviations,
)

__all__ = [
    "MAX_HEAD",
    "Target",
    "parse_ws_url",
    "read_head",
    "run_case",
    "run_wire_checks",
    "run_wire_checks_async",
    "select_cases",
]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD = 65536
_MAX_MESSAGE = 64 * 1024 * 1024
_LOG_ENTRIES = 120
_LOG_BYTES = 48
#: How long a server may take to fail the connection or finish closing, in units (Autobahn's killAfter(1)).
_CLOSE_WAIT_UNITS = 2.0


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str

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
        *(f"{name}: {value}" for name, value in extra),
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


class WireLog:
    """Bytes both ways, time-stamped and truncated; kept for every case, attached to failures only."""

    def __init__(self) -> None:
        self._t0 = time.perf_counter()
        self.entries: list[str] = []
        self.dropped = 0

    def add(self, direction: str, text: str) -> None:
        if len(self.entries) >= _LOG_ENTRIES:
            self.dropped += 1
            return
        self.entries.append(f"{time.perf_counter() - self._t0:8.3f}s {direction} {text}")

    def data(self, direction: str, data: bytes) -> None:
        shown = data[:_LOG_BYTES].hex(" ")
        more = f" ... (+{len(data) - _LOG_BYTES}B)" if len(data) > _LOG_BYTES else ""
        self.add(direction, f"{len(data)}B {shown}{more}")

    def lines(self) -> list[str]:
        tail = [f"... {self.dropped} more entries not kept"] if self.dropped else []
        return self.entries + tail


@dataclass
class _State:
    """What the connection has seen so far; ``first_closer`` decides Autobahn's "closed by me"."""

    observations: list[Observation] = field(default_factory=list)
    first_closer: Literal["client", "server"] | None = None
    server_close_code: int | None = None
    server_close_received: bool = False
    client_close_sent: bool = False
    eof: bool = False
    dropped_by_client: bool = False
    steps_done: int = 0
    steps_done_at_server_close: int | None = None
    notes: list[str] = field(default_factory=list)


class _Connection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        log: WireLog,
        *,
        answer_pings: bool,
        deflate: DeflateParams | None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.log = log
        self.answer_pings = answer_pings
        self.state = _State()
        self.parser = FrameReader(max_size=_MAX_MESSAGE)
        self.changed = asyncio.Event()
        self.server_pinged = asyncio.Event()
        self.rounds: asyncio.Queue[Observation] | None = None
        self.deflater = MessageDeflater(deflate) if deflate else None
        self.inflater = MessageInflater(deflate, max_size=_MAX_MESSAGE) if deflate else None
        self._message: bytearray | None = None
        self._message_kind: Literal["text", "binary"] = "text"
        self._message_compressed = False
        self._reader_task: asyncio.Task[None] | None = None
        self._parse_failed = False

    @property
    def closing(self) -> bool:
        """The server has started or finished ending the connection."""
        return self.state.server_close_received or self.state.eof

    def start(self, leftover: bytes) -> None:
        if leftover:
            self._feed(leftover)
        self._reader_task = asyncio.create_task(self._read_loop())

    async def stop(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            try:
                await self._reader_task
            except (asyncio.CancelledError, OSError):
                pass
        self.writer.transport.abort()

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                self.log.data("<", data)
                self._feed(data)
        except OSError as exc:
            self.state.notes.append(f"read failed: {exc.__class__.__name__}")
        self.log.add("<", "EOF")
        self.state.eof = True
        self._mark_server_closing()
        self.changed.set()

    def _mark_server_closing(self) -> None:
        if self.state.first_closer is None:
            self.state.first_closer = "server"
        if self.state.steps_done_at_server_close is None:
            self.state.steps_done_at_server_close = self.state.steps_done

    def _feed(self, data: bytes) -> None:
        self.parser.receive_data(data)
        for frame in self.parser.frames_received():
            self.log.add("<", str(frame))
            self._on_frame(frame)
        if self.parser.error is not None and not self._parse_failed:
            # The stream cannot be resynchronised after a framing error, so stop reading it.
            self._parse_failed = True
            self.state.notes.append(f"unparseable server bytes: {self.parser.error}")
            self.writer.transport.abort()
        self.changed.set()

    def _on_frame(self, frame: Frame) -> None:
        if self.state.server_close_received:
            self.state.notes.append(f"server sent a frame after its close frame: {frame}")
            return
        # RSV1 is legal only on the first frame of a compressed message; continuations are not checked here.
        rsv1_allowed = self.inflater is not None and frame.opcode in (Opcode.TEXT, Opcode.BINARY)
        if frame.rsv2 or frame.rsv3 or (frame.rsv1 and not rsv1_allowed):
            self.state.notes.append(f"server set reserved bits: {frame}")
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION):
            self._on_data(frame)
        elif frame.opcode == Opcode.PING:
            self.server_pinged.set()
            if self.answer_pings and not self.state.client_close_sent:
                self._write(encode_frame(Opcode.PONG, frame.payload, mask_key=os.urandom(4)), "pong")
        elif frame.opcode == Opcode.PONG:
            if self.rounds is None:
                self.state.observations.append(Observation("pong", frame.payload))
        elif frame.opcode == Opcode.CLOSE:
            code, _reason = parse_close_payload(frame.payload)
            self.state.server_close_received = True
            self.state.server_close_code = code
            self._mark_server_closing()
            if not self.state.client_close_sent:
                # Answer with the server's code, as Autobahn does, so the close handshake completes.
                self.send_close(code, b"")
        else:
            self.state.notes.append(f"server sent reserved opcode {frame.opcode}")

    def _on_data(self, frame: Frame) -> None:
        if frame.opcode != Opcode.CONTINUATION:
            if self._message is not None:
                self.state.notes.append("server started a message inside another")
            self._message = bytearray()
            self._message_kind = "text" if frame.opcode == Opcode.TEXT else "binary"
            self._message_compressed = frame.rsv1
        elif self._message is None:
            self.state.notes.append("server sent a continuation frame with nothing to continue")
            return
        self._message += frame.payload
        if not frame.fin:
            return
        payload = bytes(self._message)
        self._message = None
        if self._message_compressed and self.inflater is not None:
            try:
                payload = self.inflater.decompress(payload)
            except (ValueError, zlib.error) as exc:
                self.state.notes.append(f"cannot inflate a server message: {exc}")
                return
        if self._message_kind == "text":
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                self.state.notes.append("server sent a text message that is not valid UTF-8")
        obs = Observation(self._message_kind, payload)
        if self.rounds is not None:
            self.rounds.put_nowait(obs)
        else:
            self.state.observations.append(obs)

    def _write(self, data: bytes, label: str | None = None) -> None:
        if self.writer.transport.is_closing():
            return
        if label:
            self.log.add(">", label)
        self.log.data(">", data)
        self.writer.write(data)

    async def write(self, data: bytes, chop: int | None = None) -> None:
        if chop is None or chop >= len(data):
            self._write(data)
            await self.writer.drain()
            return
        for i in range(0, len(data), chop):
            self._write(data[i : i + chop])
            # Draining after each piece makes the pieces separate TCP segments (TCP_NODELAY is on).
            await self.writer.drain()

    def send_close(self, code: int | None, reason: bytes) -> None:
        if self.state.first_closer is None:
            self.state.first_closer = "client"
        self.state.client_close_sent = True
        self._write(encode_frame(Opcode.CLOSE, close_payload(code, reason), mask_key=os.urandom(4)))

    def note_frame_sent(self, step: SendFrame) -> None:
        # Only a well-formed close frame starts a closing handshake; one with RSV bits set is just bad traffic
        # (3.7), while a close with a bad code or reason still counts as the client closing (7.3, 7.5, 7.9).
        if step.opcode == Opcode.CLOSE and step.fin and not step.rsv:
            if self.state.first_closer is None:
                self.state.first_closer = "client"
            self.state.client_close_sent = True

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                return predicate()
        return True

    async def drop(self) -> None:
        if not self.state.eof:
            self.state.dropped_by_client = True
            if self.state.first_closer is None:
                self.state.first_closer = "client"
            self.log.add(">", "client drops TCP")
        self.writer.transport.abort()


def _frame_bytes(step: SendFrame) -> bytes:
    return encode_frame(
        step.opcode,
        step.payload,
        fin=step.fin,
        rsv1=bool(step.rsv & 4),
        rsv2=bool(step.rsv & 2),
        rsv3=bool(step.rsv & 1),
        mask_key=os.urandom(4) if step.masked else None,
        length_form=step.length_form,
    )


def _message_frames(opcode: int, payload: bytes, fragment_size: int | None, *, compressed: bool) -> list[bytes]:
    size = fragment_size or max(len(payload), 1)
    pieces = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
    out = []
    for i, piece in enumerate(pieces):
        out.append(
            encode_frame(
                opcode if i == 0 else Opcode.CONTINUATION,
                piece,
                fin=i == len(pieces) - 1,
                rsv1=compressed and i == 0,
                mask_key=os.urandom(4),
            )
        )
    return out


async def _run_step(conn: _Connection, step: Step, unit: float, deadline: float) -> None:
    if isinstance(step, SendFrame):
        conn.note_frame_sent(step)
        await conn.write(_frame_bytes(step), step.chop)
    elif isinstance(step, SendBatch):
        for frame in step.frames:
            conn.note_frame_sent(frame)
        await conn.write(b"".join(_frame_bytes(f) for f in step.frames), step.chop)
    elif isinstance(step, SendMessage):
        for data in _message_frames(step.opcode, step.payload, step.fragment_size, compressed=False):
            await conn.write(data, step.chop)
    elif isinstance(step, SendRaw):
        await conn.write(step.data, step.chop)
    elif isinstance(step, Sleep):
        # Sleep, but wake up early if the server closes: the fail-fast cases measure exactly that.
        await conn.wait_for(lambda: conn.closing, step.units * unit)
    elif isinstance(step, WaitServerPing):
        started = time.monotonic()
        try:
            await asyncio.wait_for(conn.server_pinged.wait(), step.units * unit)
            conn.state.notes.append(f"the server pinged after {time.monotonic() - started:.1f}s")
        except TimeoutError:
            conn.state.notes.append(f"no server ping within {step.units * unit:.1f}s")
    else:
        await _echo_rounds(conn, step, deadline)


async def _echo_rounds(conn: _Connection, step: EchoRounds, deadline: float) -> None:
    queue: asyncio.Queue[Observation] = asyncio.Queue()
    conn.rounds = queue
    matched = 0
    opcode = Opcode.BINARY if step.binary else Opcode.TEXT
    kind = "binary" if step.binary else "text"
    try:
        for i in range(step.count):
            if conn.closing:
                break
            payload = slice_payload(step.dataset, i, step.size)
            wire_payload = conn.deflater.compress(payload) if conn.deflater else payload
            frames = _message_frames(opcode, wire_payload, step.fragment_size, compressed=conn.deflater is not None)
            await conn.write(b"".join(frames))
            try:
                got = await asyncio.wait_for(queue.get(), max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                conn.state.notes.append(f"echo {i + 1} of {step.count} did not arrive in time")
                break
            if got.kind != kind or got.payload != payload:
                conn.state.notes.append(f"echo {i + 1} differs: sent {kind} {len(payload)}B, got {got}")
                break
            matched += 1
    finally:
        conn.rounds = None
        conn.state.observations.append(Observation("rounds", str(matched).encode()))


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


async def _open(target: Target, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(target.host, target.port, limit=MAX_HEAD), timeout)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


def _judge(expect: Expect, state: _State) -> tuple[Verdict, CloseVerdict, list[str]]:
    """Autobahn's rules (case.py ``onConnectionLost``), plus one of ours.

    A server that never fails a connection it must fail is FAILED even when it echoed nothing; Autobahn would
    only fail the close verdict.
    """
    notes: list[str] = []
    obs = tuple(state.observations)
    closed_by_client = state.first_closer == "client"
    clean = state.server_close_received and state.client_close_sent
    if expect.informational:
        got = ", ".join(str(o) for o in obs[:6]) or "nothing"
        closer = state.first_closer or "nobody"
        notes.append(f"received {got}; closing started by {closer}; server close code {state.server_close_code}")
        return Verdict.INFORMATIONAL, CloseVerdict.INFORMATIONAL, notes
    if expect.close.closed_by_client != closed_by_client:
        close = CloseVerdict.FAILED
        notes.append("the connection was ended by the wrong endpoint")
    elif expect.close.require_clean and not clean:
        close = CloseVerdict.UNCLEAN
        notes.append("no closing handshake: the connection dropped without an exchange of close frames")
    elif state.server_close_code is not None and state.server_close_code not in expect.close.codes:
        close = CloseVerdict.WRONG_CODE
        codes = "/".join(str(c) for c in expect.close.codes)
        notes.append(f"close code {state.server_close_code}, expected {codes} or none")
    elif state.dropped_by_client:
        close = CloseVerdict.FAILED_BY_CLIENT
        notes.append("the client had to drop TCP; the server should close it after the closing handshake")
    else:
        close = CloseVerdict.OK
    if obs == expect.ok:
        behaviour = Verdict.OK
        if expect.fail_fast_step is not None and (
            state.steps_done_at_server_close is None or state.steps_done_at_server_close > expect.fail_fast_step
        ):
            behaviour = Verdict.NON_STRICT
            notes.append("the server failed the connection only after the whole message arrived, not fast")
    elif obs in expect.non_strict:
        behaviour = Verdict.NON_STRICT
    else:
        behaviour = Verdict.FAILED
        got = ", ".join(str(o) for o in obs[:6]) or "nothing"
        want = ", ".join(str(o) for o in expect.ok[:6]) or "nothing"
        notes.append(f"received {got}; expected {want}")
    if not expect.close.closed_by_client and state.first_closer != "server":
        behaviour = Verdict.FAILED
        notes.append("the server did not fail the connection although the traffic was invalid")
    if expect.wrong_code_fails and close is CloseVerdict.WRONG_CODE:
        behaviour = Verdict.FAILED
    return behaviour, close, notes


async def _run_frames_case(case: Case, target: Target, unit: float, log: WireLog) -> CheckResult:
    assert case.expect is not None
    t0 = time.monotonic()
    deadline = t0 + case.timeout_units * unit

    def result(behaviour: Verdict, close: CloseVerdict, code: int | None, notes: list[str]) -> CheckResult:
        return CheckResult(
            case.id,
            case.group,
            case.category,
            case.source,
            behaviour,
            close,
            code,
            time.monotonic() - t0,
            notes=notes,
        )

    reader, writer = await _open(target, 2 * unit)
    key = base64.b64encode(os.urandom(16)).decode()
    extra = [("Sec-WebSocket-Extensions", ", ".join(o.header_value() for o in case.deflate_offers))]
    request = handshake_request(target, key, extra if case.deflate_offers else ())
    log.data(">", request)
    writer.write(request)
    got = await read_head(reader, log, 2 * unit)
    head = parse_http_head(got[0]) if got else None
    if got is None or head is None or head.status != 101 or head.get("sec-websocket-accept") != accept_for(key):
        writer.transport.abort()
        status = head.status if head else "no response"
        return result(Verdict.FAILED, CloseVerdict.FAILED, None, [f"opening handshake failed ({status})"])
    deflate: DeflateParams | None = None
    ext = parse_deflate_response(head.get("sec-websocket-extensions"))
    if isinstance(ext, str):
        writer.transport.abort()
        return result(Verdict.FAILED, CloseVerdict.FAILED, None, [f"bad permessage-deflate answer: {ext}"])
    if ext is not None:
        if not case.deflate_offers:
            writer.transport.abort()
            return result(Verdict.FAILED, CloseVerdict.FAILED, None, ["server enabled an extension not offered"])
        deflate = ext
    conn = _Connection(reader, writer, log, answer_pings=case.answer_pings, deflate=deflate)
    conn.start(got[1])
    try:
        if case.deflate_offers and deflate is None:
            conn.send_close(1000, b"")
            await conn.wait_for(lambda: conn.state.eof, _CLOSE_WAIT_UNITS * unit)
            return result(
                Verdict.UNIMPLEMENTED,
                CloseVerdict.NOT_APPLICABLE,
                conn.state.server_close_code,
                ["permessage-deflate was offered but not negotiated"],
            )
        try:
            for i, step in enumerate(case.steps):
                if conn.closing:
                    break
                await _run_step(conn, step, unit, deadline)
                conn.state.steps_done = i + 1
        except OSError as exc:
            conn.state.notes.append(f"write failed: {exc.__class__.__name__}")
        expect = case.expect
        remaining = max(deadline - time.monotonic(), 0.0)
        if expect.close.closed_by_client:
            ok = expect.ok
            await conn.wait_for(lambda: conn.closing or tuple(conn.state.observations) == ok, remaining)
            if not conn.state.client_close_sent and not conn.closing:
                conn.send_close(1000, b"")
        else:
            await conn.wait_for(lambda: conn.closing, min(remaining, _CLOSE_WAIT_UNITS * unit))
        if not await conn.wait_for(lambda: conn.state.eof, _CLOSE_WAIT_UNITS * unit):
            await conn.drop()
        state = conn.state
        behaviour, close, notes = _judge(expect, state)
        return result(behaviour, close, state.server_close_code, state.notes + notes)
    finally:
        await conn.stop()


async def _run_handshake_case(
    case: Case, probe: HandshakeProbe, target: Target, unit: float, log: WireLog
) -> CheckResult:
    t0 = time.monotonic()
    notes: list[str] = []
    reader, writer = await _open(target, 2 * unit)
    request = probe.request.replace(b"{host}", target.host_header.encode()).replace(b"{path}", target.path.encode())
    log.data(">", request)
    writer.write(request)
    try:
        if probe.expect == "timeout":
            # The RFC sets no handshake deadline, so keeping a stalled client is a weakness, not a violation.
            behaviour = Verdict.NON_STRICT
            try:
                data = await asyncio.wait_for(reader.read(65536), case.timeout_units * unit)
                while data:
                    log.data("<", data)
                    data = await asyncio.wait_for(reader.read(65536), case.timeout_units * unit)
                behaviour = Verdict.OK
                notes.append(f"the server closed the stalled connection after {time.monotonic() - t0:.1f}s")
            except TimeoutError:
                notes.append(f"the server kept a stalled handshake open for {case.timeout_units * unit:.0f}s")
            except OSError:
                behaviour = Verdict.OK
            return _handshake_result(case, behaviour, t0, notes)
        got = await read_head(reader, log, case.timeout_units * unit)
        head = parse_http_head(got[0]) if got else None
        if head is None:
            if got is None:
                notes.append("no HTTP response: the server closed or timed out")
            behaviour = Verdict.NON_STRICT if probe.expect == "reject" else Verdict.FAILED
        elif probe.expect == "accept":
            key = _request_key(probe.request)
            good = head.status == 101 and (key is None or head.get("sec-websocket-accept") == accept_for(key))
            behaviour = Verdict.OK if good else Verdict.FAILED
            if not good:
                notes.append(f"expected 101 with a valid Sec-WebSocket-Accept, got {head.status}")
        elif head.status == 101:
            behaviour = Verdict.NON_STRICT if probe.lenient_upgrade else Verdict.FAILED
            notes.append("the server upgraded a request it should reject")
        elif head.status in probe.statuses or (not probe.statuses and 400 <= head.status < 500):
            behaviour = Verdict.OK
        elif 400 <= head.status < 500:
            behaviour = Verdict.NON_STRICT
            notes.append(f"rejected with {head.status}; expected {'/'.join(map(str, probe.statuses))}")
        else:
            behaviour = Verdict.FAILED
            notes.append(f"status {head.status} for a client error")
        if head is not None and behaviour is not Verdict.FAILED:
            for name, value in probe.required_headers:
                present = head.get(name)
                if present is None or value.lower() not in present.lower():
                    behaviour = Verdict.NON_STRICT
                    notes.append(f"response lacks '{name}: {value}'")
        return _handshake_result(case, behaviour, t0, notes)
    finally:
        writer.transport.abort()


def _handshake_result(case: Case, behaviour: Verdict, t0: float, notes: list[str]) -> CheckResult:
    """A handshake probe has no closing handshake to judge."""
    return CheckResult(
        case.id,
        case.group,
        case.category,
        case.source,
        behaviour,
        CloseVerdict.NOT_APPLICABLE,
        None,
        time.monotonic() - t0,
        notes=notes,
    )


def _request_key(request: bytes) -> str | None:
    for line in request.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return value.strip().decode("latin-1")
    return None


async def run_case(case: Case, target: Target, *, unit: float = 1.0) -> CheckResult:
    """Run one case; never raises for server misbehaviour, which is what is being measured."""
    log = WireLog()
    t0 = time.monotonic()
    try:
        if case.handshake is not None:
            res = await asyncio.wait_for(
                _run_handshake_case(case, case.handshake, target, unit, log), (case.timeout_units + 5) * unit
            )
        else:
            res = await asyncio.wait_for(_run_frames_case(case, target, unit, log), (case.timeout_units + 5) * unit)
    except TimeoutError:
        res = CheckResult(
            case.id,
            case.group,
            case.category,
            case.source,
            Verdict.FAILED,
            CloseVerdict.FAILED,
            None,
            time.monotonic() - t0,
            notes=["the case did not finish in its time budget"],
        )
    except OSError as exc:
        res = CheckResult(
            case.id,
            case.group,
            case.category,
            case.source,
            Verdict.FAILED,
            CloseVerdict.FAILED,
            None,
            time.monotonic() - t0,
            notes=[f"cannot talk to {target.host_header}: {exc}; is the server running?"],
        )
    bad_close = res.behaviour_close in (CloseVerdict.FAILED, CloseVerdict.UNCLEAN, CloseVerdict.WRONG_CODE)
    if res.behaviour is Verdict.FAILED or bad_close:
        res.wire_log = log.lines()
    return res


def select_cases(
    *,
    categories: Collection[str] | None = None,
    ids: Collection[str] | None = None,
    include_slow: bool = False,
    max_message_size: int | None = None,
) -> list[Case]:
    """Filter the catalogue. ``categories`` match the category's first word ("1", "6", "handshake");
    ``ids`` match whole ids or id prefixes ending at a dot ("6.4" selects 6.4.1-6.4.4)."""
    chosen = []
    for case in wire_cases(max_message_size=max_message_size):
        if case.slow and not include_slow:
            continue
        if categories is not None and case.category.split(" ", 1)[0] not in categories:
            continue
        if ids is not None and not any(case.id == i or case.id.startswith(i + ".") for i in ids):
            continue
        chosen.append(case)
    return chosen


async def run_wire_checks_async(
    url: str,
    *,
    categories: Collection[str] | None = None,
    ids: Collection[str] | None = None,
    include_slow: bool = False,
    unit: float = 1.0,
    concurrency: int = 4,
    known_deviations: Sequence[KnownDeviation] = (),
    max_message_size: int | None = None,
) -> list[CheckResult]:
    """Run the wire group against a WebSocket echo endpoint (``ws://host:port/path``).

    ``run_wire_checks`` takes the same arguments and runs this in an event loop of its own.

    Args:
        url: the endpoint; it must echo text and binary messages back unchanged.
        categories: category first words to run ("1" ... "13", "handshake", "limits", "keepalive").
        ids: case ids or id prefixes to run.
        include_slow: also run the opt-in slow set (9.x, big 12.x/13.x, limit sweeps, keepalive waits).
        unit: the time unit in seconds every wait is scaled from.
        concurrency: cases run at once, each on its own connection.
        known_deviations: expected failures to report as KNOWN DEVIATION with their upstream link.
        max_message_size: the server's configured message limit, enabling the boundary checks.

    Returns:
        One ``CheckResult`` per case, in catalogue order.
    """
    target = parse_ws_url(url)
    cases = select_cases(categories=categories, ids=ids, include_slow=include_slow, max_message_size=max_message_size)
    limit = asyncio.Semaphore(concurrency)

    async def one(case: Case) -> CheckResult:
        async with limit:
            return await run_case(case, target, unit=unit)

    results = list(await asyncio.gather(*(one(c) for c in cases)))
    apply_deviations(results, known_deviations)
    return results


run_wire_checks = blocking(run_wire_checks_async)
