"""The wire driver's side of one WebSocket connection: what it has seen (``ConnectionState``), the reader that
parses server frames and answers pings and closes (``WireConnection``), and the client frames it writes."""

from __future__ import annotations

import asyncio
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from harness.conformance.deflate import DeflateParams, MessageDeflater, MessageInflater
from harness.conformance.frames import Frame, FrameReader, Opcode, close_payload, encode_frame, parse_close_payload
from harness.conformance.model import Observation, SendFrame
from harness.conformance.wire_log import WireLog

__all__ = ["ConnectionState", "WireConnection", "frame_bytes", "message_frames"]

_MAX_MESSAGE = 64 * 1024 * 1024


@dataclass
class ConnectionState:
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


class WireConnection:
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
        self.state = ConnectionState()
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


def frame_bytes(step: SendFrame) -> bytes:
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


def message_frames(opcode: int, payload: bytes, fragment_size: int | None, *, compressed: bool) -> list[bytes]:
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
