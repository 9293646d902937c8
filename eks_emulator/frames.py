"""EKS Ethernet message frames: dataclasses, encoders and a prefix-driven decoder.

Wire layout (docs/eks-emulator.md, "Wire format"; facts from the Euchner manuals are marked [F]):

    byte 0     LEN, total frame length including this byte            [F]
    bytes 1-2  command id, two ASCII letters                          [F]
    byte 3     constant 0x01                                          [F]
    bytes 4-5  start address (big-endian) or padding                  [F]
    byte 6     byte count or status number                            [F]
    bytes 7..  data (TP and RL only)                                  [F]

The decoder checks a frame in a fixed order, each check looking only at a prefix of fixed size. That makes
the outcome (frame or error, and the bytes an error reports) independent of how TCP split the stream.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "CONSTANT",
    "HEADER_SIZE",
    "MAX_FRAME_SIZE",
    "MAX_READ_COUNT",
    "MEMORY_SIZE",
    "READ_SERIAL",
    "SERIAL_ADDRESS",
    "SERIAL_SIZE",
    "USER_DATA_SIZE",
    "CommandId",
    "Complete",
    "Frame",
    "FrameError",
    "KeyState",
    "KeyStatus",
    "MalformedFrame",
    "NeedMore",
    "ReadReply",
    "ReadRequest",
    "Status",
    "StatusReply",
    "WriteRequest",
    "decode_frame",
    "inspect_prefix",
    "key_id",
    "status_kind",
]

HEADER_SIZE = 7
CONSTANT = 0x01
# LEN is a single byte, so no frame can be longer than this, whatever the command.
MAX_FRAME_SIZE = 0xFF
USER_DATA_SIZE = 116
SERIAL_ADDRESS = 116
SERIAL_SIZE = 8
MEMORY_SIZE = USER_DATA_SIZE + SERIAL_SIZE
MAX_READ_COUNT = MEMORY_SIZE


class CommandId(enum.Enum):
    """The two ASCII letters at bytes 1-2 [F]."""

    TL = b"TL"  # read request, controller -> device
    RL = b"RL"  # read reply with data, device -> controller
    TP = b"TP"  # write request with data, controller -> device
    RF = b"RF"  # status reply, device -> controller
    EK = b"Ek"  # key status: query (controller) or reply/push (device)


class Status(enum.IntEnum):
    """Status numbers carried by ``RF`` at byte 6 [F]."""

    OK = 0x00
    NO_KEY = 0x02
    PARITY_ERROR = 0x03
    MISALIGNED = 0x06
    # 0x40-0x4F all mean "key communication error, retry"; this member stands for the whole range.
    KEY_COMM_ERROR = 0x40
    WRITE_PROTECTED = 0x50
    TOO_MANY_CONNECTIONS = 0x61


class KeyState(enum.IntEnum):
    """Key states carried by a device's ``Ek`` frame at byte 6 [F]."""

    IN = 0x01
    OUT = 0x02
    OTHER = 0x03


def status_kind(code: int) -> Status | None:
    """Classify a status number; the 0x40-0x4F range maps to ``Status.KEY_COMM_ERROR``.

    Returns None for numbers the manuals do not list (the codec passes them through so callers can log them).
    """
    if 0x40 <= code <= 0x4F:
        return Status.KEY_COMM_ERROR
    try:
        return Status(code)
    except ValueError:
        return None


def key_id(serial: bytes) -> str:
    """The key identity used by the timeclock: the 8-byte serial as 16 upper-case hex characters [D]."""
    if len(serial) != SERIAL_SIZE:
        raise ValueError(f"a key serial is {SERIAL_SIZE} bytes, got {len(serial)}")
    return serial.hex().upper()


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")


def _header(command: CommandId, length: int, address: int, byte6: int) -> bytes:
    return bytes((length,)) + command.value + bytes((CONSTANT, address >> 8, address & 0xFF, byte6))


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """``TL``: read ``count`` bytes of key memory from ``start`` [F].

    Any 16-bit start and 8-bit count can be encoded; whether they are in range (start 0-116, count 1-124,
    start + count <= 124) is for the device to answer with a status, not for the codec to refuse.
    """

    start: int
    count: int
    command: ClassVar[CommandId] = CommandId.TL

    def __post_init__(self) -> None:
        _check_range("start", self.start, 0, 0xFFFF)
        _check_range("count", self.count, 0, 0xFF)

    def serialize(self) -> bytes:
        return _header(CommandId.TL, HEADER_SIZE, self.start, self.count)


@dataclass(frozen=True, slots=True)
class ReadReply:
    """``RL``: the device's answer to a successful ``TL``, echoing start and count, then the data [F]."""

    start: int
    data: bytes
    command: ClassVar[CommandId] = CommandId.RL

    def __post_init__(self) -> None:
        _check_range("start", self.start, 0, SERIAL_ADDRESS)
        _check_range("count", len(self.data), 1, MAX_READ_COUNT)
        _check_range("start + count", self.start + len(self.data), 1, MEMORY_SIZE)

    @property
    def count(self) -> int:
        return len(self.data)

    def serialize(self) -> bytes:
        return _header(CommandId.RL, HEADER_SIZE + len(self.data), self.start, len(self.data)) + self.data


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """``TP``: write ``data`` to key memory at ``start`` [F].

    As with ``ReadRequest``, range and 4-byte alignment are checked by the device (status 06), so that the
    emulator can answer a bad write the way a real reader does.
    """

    start: int
    data: bytes
    command: ClassVar[CommandId] = CommandId.TP

    def __post_init__(self) -> None:
        _check_range("start", self.start, 0, 0xFFFF)
        _check_range("count", len(self.data), 0, MAX_FRAME_SIZE - HEADER_SIZE)

    @property
    def count(self) -> int:
        return len(self.data)

    def serialize(self) -> bytes:
        return _header(CommandId.TP, HEADER_SIZE + len(self.data), self.start, len(self.data)) + self.data


@dataclass(frozen=True, slots=True)
class StatusReply:
    """``RF``: a status number, e.g. ``07 52 46 01 00 00 02`` = no key [F].

    ``status`` is kept as an int: numbers the manuals do not list pass through (see ``status_kind``).
    """

    status: int
    padding: int = 0
    command: ClassVar[CommandId] = CommandId.RF

    def __post_init__(self) -> None:
        _check_range("status", self.status, 0, 0xFF)
        _check_range("padding", self.padding, 0, 0xFFFF)

    @property
    def kind(self) -> Status | None:
        return status_kind(self.status)

    def serialize(self) -> bytes:
        return _header(CommandId.RF, HEADER_SIZE, self.padding, self.status)


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """``Ek``: a status query from the controller (``state`` None, byte 6 = 00) or the device's key state.

    The device sends the same frame unasked when a key is inserted or removed [F], and (by default) right
    after accepting a connection [I].
    """

    state: KeyState | None = None
    padding: int = 0
    command: ClassVar[CommandId] = CommandId.EK

    def __post_init__(self) -> None:
        _check_range("padding", self.padding, 0, 0xFFFF)

    @property
    def is_query(self) -> bool:
        return self.state is None

    def serialize(self) -> bytes:
        return _header(CommandId.EK, HEADER_SIZE, self.padding, 0 if self.state is None else int(self.state))


Frame = ReadRequest | ReadReply | WriteRequest | StatusReply | KeyStatus

READ_SERIAL = ReadRequest(SERIAL_ADDRESS, SERIAL_SIZE)


class FrameError(enum.Enum):
    """Why bytes could not be decoded as a frame."""

    LENGTH_TOO_SHORT = "length_too_short"
    UNKNOWN_COMMAND = "unknown_command"
    LENGTH_MISMATCH = "length_mismatch"
    BAD_CONSTANT = "bad_constant"
    FIELD_OUT_OF_RANGE = "field_out_of_range"
    UNEXPECTED_COMMAND = "unexpected_command"
    TRUNCATED = "truncated"


@dataclass(frozen=True, slots=True)
class MalformedFrame:
    """A decoding failure, reported as a value rather than raised.

    ``data`` is exactly the prefix the failing check looked at, so it does not depend on TCP segmentation.
    """

    error: FrameError
    detail: str
    data: bytes


@dataclass(frozen=True, slots=True)
class NeedMore:
    """The prefix is valid so far but shorter than the frame it announces."""


@dataclass(frozen=True, slots=True)
class Complete:
    """A whole frame was decoded from the first ``size`` bytes of the buffer."""

    frame: Frame
    size: int


_COMMANDS = {command.value: command for command in CommandId}
_FIXED_LENGTH = {CommandId.TL, CommandId.RF, CommandId.EK}


def inspect_prefix(buffer: bytes | bytearray) -> Complete | MalformedFrame | NeedMore:
    """Decode the frame at the start of ``buffer``, if there is enough of it.

    Checks run in a fixed order (length byte, command id, fixed length, constant, count, fields), each on
    a prefix of fixed size, so a stream split at any points yields the same results. Never raises.
    """
    if len(buffer) < 1:
        return NeedMore()
    length = buffer[0]
    if length < HEADER_SIZE:
        return MalformedFrame(
            FrameError.LENGTH_TOO_SHORT, f"length byte {length:#04x} < {HEADER_SIZE:#04x}", bytes(buffer[:1])
        )
    if len(buffer) < 3:
        return NeedMore()
    command = _COMMANDS.get(bytes(buffer[1:3]))
    if command is None:
        return MalformedFrame(
            FrameError.UNKNOWN_COMMAND, f"unknown command id {bytes(buffer[1:3])!r}", bytes(buffer[:3])
        )
    if command in _FIXED_LENGTH and length != HEADER_SIZE:
        return MalformedFrame(
            FrameError.LENGTH_MISMATCH,
            f"{command.value.decode()} frames are {HEADER_SIZE} bytes, length byte says {length}",
            bytes(buffer[:3]),
        )
    if len(buffer) < 4:
        return NeedMore()
    if buffer[3] != CONSTANT:
        return MalformedFrame(
            FrameError.BAD_CONSTANT,
            f"byte 3 is {buffer[3]:#04x}, expected {CONSTANT:#04x}",
            bytes(buffer[:4]),
        )
    if len(buffer) < HEADER_SIZE:
        return NeedMore()
    byte6 = buffer[6]
    if command not in _FIXED_LENGTH and length != HEADER_SIZE + byte6:
        return MalformedFrame(
            FrameError.LENGTH_MISMATCH,
            f"{command.value.decode()} with count {byte6} must be {HEADER_SIZE + byte6} bytes, "
            f"length byte says {length}",
            bytes(buffer[:HEADER_SIZE]),
        )
    if len(buffer) < length:
        return NeedMore()
    raw = bytes(buffer[:length])
    address = (raw[4] << 8) | raw[5]
    data = raw[HEADER_SIZE:]
    frame: Frame
    if command is CommandId.TL:
        frame = ReadRequest(address, byte6)
    elif command is CommandId.TP:
        frame = WriteRequest(address, data)
    elif command is CommandId.RF:
        frame = StatusReply(byte6, address)
    elif command is CommandId.EK:
        if byte6 > KeyState.OTHER:
            return MalformedFrame(FrameError.FIELD_OUT_OF_RANGE, f"Ek state {byte6:#04x} is not 00-03", raw)
        frame = KeyStatus(None if byte6 == 0 else KeyState(byte6), address)
    else:
        # RL comes only from a device answering a valid read, so anything outside the readable memory is
        # a broken peer, not a request to answer with a status.
        if not (1 <= byte6 and address <= SERIAL_ADDRESS and address + byte6 <= MEMORY_SIZE):
            return MalformedFrame(
                FrameError.FIELD_OUT_OF_RANGE,
                f"RL start {address} count {byte6} is outside key memory (start 0-116, count 1-124, "
                f"start + count <= 124)",
                raw,
            )
        frame = ReadReply(address, data)
    return Complete(frame, length)


def decode_frame(data: bytes) -> Frame | MalformedFrame:
    """Decode exactly one complete frame; extra or missing bytes are reported as ``MalformedFrame``."""
    result = inspect_prefix(data)
    if isinstance(result, NeedMore):
        return MalformedFrame(FrameError.TRUNCATED, f"{len(data)} bytes do not hold a whole frame", data)
    if isinstance(result, MalformedFrame):
        return result
    if result.size != len(data):
        return MalformedFrame(
            FrameError.LENGTH_MISMATCH,
            f"length byte says {result.size} but {len(data)} bytes were given",
            data,
        )
    return result.frame
