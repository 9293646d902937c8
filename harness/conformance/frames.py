"""Sans-I/O WebSocket frame writer and reader (RFC 6455 §5) that can build frames a conforming stack refuses.

The writer exists because the conformance cases must put illegal frames on the wire: reserved bits and
opcodes, fragmented or oversized control frames, non-minimal length encodings. Libraries such as
``websockets`` check frames before serialising them, so they cannot produce those bytes. Nothing here touches
a socket.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

__all__ = [
    "Frame",
    "FrameError",
    "FrameReader",
    "LengthForm",
    "Opcode",
    "apply_mask",
    "close_payload",
    "encode_frame",
    "parse_close_payload",
]


class Opcode(enum.IntEnum):
    """The opcodes RFC 6455 §5.2 defines; the reserved values 3-7 and 11-15 are plain ints."""

    CONTINUATION = 0
    TEXT = 1
    BINARY = 2
    CLOSE = 8
    PING = 9
    PONG = 10


class LengthForm(enum.Enum):
    """How the payload length is written (RFC 6455 §5.2): the minimal form, or a forced 7/16/64-bit form."""

    MINIMAL = "minimal"
    BITS7 = 7
    BITS16 = 16
    BITS64 = 64


_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")


class FrameError(ValueError):
    """The server sent bytes that are not a frame a server may send (e.g. masked, or over the size limit)."""


def apply_mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte masking ``key`` (RFC 6455 §5.3); masking and unmasking are the same."""
    if len(key) != 4:
        raise ValueError("a masking key is exactly 4 bytes")
    if not data:
        return b""
    # One big-int XOR is far faster than a per-byte loop for the multi-megabyte payloads of the 9.x cases.
    repeated = (key * (len(data) // 4 + 1))[: len(data)]
    n = int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")
    return n.to_bytes(len(data), "big")


def encode_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask_key: bytes | None = b"\x37\xfa\x21\x3d",
    length_form: LengthForm = LengthForm.MINIMAL,
) -> bytes:
    """Serialise one frame exactly as asked, legal or not.

    Args:
        opcode: 0-15, reserved values included.
        payload: the application data, unmasked.
        fin, rsv1, rsv2, rsv3: the header bits.
        mask_key: 4 bytes to mask with (clients must mask, RFC 6455 §5.3), or None for an unmasked frame.
        length_form: force a 16- or 64-bit length even when a shorter form fits (non-minimal encodings).

    Raises:
        ValueError: the opcode is out of range or the payload does not fit the forced length form.
    """
    if not 0 <= opcode <= 15:
        raise ValueError(f"opcode {opcode} does not fit in 4 bits")
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0) | opcode
    mask_bit = 0x80 if mask_key is not None else 0
    n = len(payload)
    form = length_form
    if form is LengthForm.MINIMAL:
        form = LengthForm.BITS7 if n < 126 else LengthForm.BITS16 if n < 65536 else LengthForm.BITS64
    if form is LengthForm.BITS7:
        if n > 125:
            raise ValueError(f"{n} bytes do not fit the 7-bit length")
        header = bytes([first, mask_bit | n])
    elif form is LengthForm.BITS16:
        if n > 0xFFFF:
            raise ValueError(f"{n} bytes do not fit the 16-bit length")
        header = bytes([first, mask_bit | 126]) + _U16.pack(n)
    else:
        header = bytes([first, mask_bit | 127]) + _U64.pack(n)
    if mask_key is None:
        return header + payload
    return header + mask_key + apply_mask(payload, mask_key)


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    """The body of a close frame (RFC 6455 §5.5.1): nothing, or a 2-byte code then the reason bytes,
    unchecked."""
    if code is None:
        return reason
    return _U16.pack(code) + reason


def parse_close_payload(payload: bytes) -> tuple[int | None, bytes]:
    """Split a close frame body into (code, reason); a 1-byte body has no readable code and returns (None,
    body)."""
    if len(payload) < 2:
        return None, payload
    return _U16.unpack_from(payload)[0], payload[2:]


@dataclass(frozen=True)
class Frame:
    """One parsed frame. ``payload`` is unmasked; ``masked`` says whether the sender masked it."""

    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    masked: bool = False

    def serialize(self, *, mask_key: bytes | None = None, length_form: LengthForm = LengthForm.MINIMAL) -> bytes:
        """The frame's bytes; a reader round-trips them (the tests check both directions on RFC vectors)."""
        return encode_frame(
            self.opcode,
            self.payload,
            fin=self.fin,
            rsv1=self.rsv1,
            rsv2=self.rsv2,
            rsv3=self.rsv3,
            mask_key=mask_key,
            length_form=length_form,
        )

    def __str__(self) -> str:
        shown = self.payload if len(self.payload) <= 32 else self.payload[:24] + b"..." + self.payload[-4:]
        bits = "".join(c for c, on in (("F", self.fin), ("1", self.rsv1), ("2", self.rsv2), ("3", self.rsv3)) if on)
        return f"<op={self.opcode} [{bits}] len={len(self.payload)} {shown!r}>"


@dataclass
class FrameReader:
    """Incremental parser for server-to-client frames: ``receive_data(bytes)`` in, ``frames_received()`` out.

    It checks only what is needed to keep parsing safe: a length limit, and (unless ``allow_masked``) that the
    server did not mask (RFC 6455 §5.1). Whether a frame is *legal* is left to the caller, which must be able
    to see what a broken server actually sent.
    """

    max_size: int = 64 * 1024 * 1024
    allow_masked: bool = False
    _buffer: bytearray = field(default_factory=bytearray)
    _frames: list[Frame] = field(default_factory=list)
    error: FrameError | None = None
    eof: bool = False

    def receive_data(self, data: bytes) -> None:
        """Feed bytes; once an error is recorded further bytes are ignored, as the stream is unparseable."""
        if self.error is not None or self.eof:
            return
        self._buffer += data
        try:
            while self._parse_one():
                pass
        except FrameError as exc:
            self.error = exc

    def receive_eof(self) -> None:
        self.eof = True

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a whole frame (non-zero at EOF means a truncated frame)."""
        return len(self._buffer)

    def frames_received(self) -> list[Frame]:
        frames, self._frames = self._frames, []
        return frames

    def _parse_one(self) -> bool:
        buf = self._buffer
        if len(buf) < 2:
            return False
        first, second = buf[0], buf[1]
        masked = bool(second & 0x80)
        length = second & 0x7F
        offset = 2
        if length == 126:
            if len(buf) < 4:
                return False
            length = _U16.unpack_from(buf, 2)[0]
            offset = 4
        elif length == 127:
            if len(buf) < 10:
                return False
            length = _U64.unpack_from(buf, 2)[0]
            offset = 10
        if masked and not self.allow_masked:
            raise FrameError("the server sent a masked frame (RFC 6455 §5.1 forbids it)")
        if length > self.max_size:
            raise FrameError(f"frame of {length} bytes exceeds the reader limit of {self.max_size}")
        key = b""
        if masked:
            if len(buf) < offset + 4:
                return False
            key = bytes(buf[offset : offset + 4])
            offset += 4
        if len(buf) < offset + length:
            return False
        payload = bytes(buf[offset : offset + length])
        del buf[: offset + length]
        if masked:
            payload = apply_mask(payload, key)
        self._frames.append(
            Frame(
                opcode=first & 0x0F,
                payload=payload,
                fin=bool(first & 0x80),
                rsv1=bool(first & 0x40),
                rsv2=bool(first & 0x20),
                rsv3=bool(first & 0x10),
                masked=masked,
            )
        )
        return True
