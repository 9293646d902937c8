"""Key memory and how a reader answers requests against it (pure logic, no I/O).

Key memory [F]: 116 bytes of user data at 0-115, then the 8-byte serial at 116-123.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field

from .frames import (
    MAX_READ_COUNT,
    MEMORY_SIZE,
    SERIAL_ADDRESS,
    SERIAL_SIZE,
    USER_DATA_SIZE,
    Frame,
    KeyState,
    KeyStatus,
    ReadReply,
    ReadRequest,
    Status,
    StatusReply,
    WriteRequest,
    key_id,
)

__all__ = [
    "Key",
    "KeyAction",
    "answer",
    "read_status",
    "write_status",
]

WRITE_BLOCK = 4


class KeyAction(enum.StrEnum):
    INSERT = "insert"
    REMOVE = "remove"


@dataclass(eq=False)
class Key:
    """A physical key: a fixed serial and writable user data (unless ``read_only``)."""

    serial: bytes
    user_data: bytearray = field(default_factory=lambda: bytearray(USER_DATA_SIZE))
    read_only: bool = False

    def __post_init__(self) -> None:
        if len(self.serial) != SERIAL_SIZE:
            raise ValueError(f"serial must be {SERIAL_SIZE} bytes, got {len(self.serial)}")
        if len(self.user_data) != USER_DATA_SIZE:
            raise ValueError(f"user_data must be {USER_DATA_SIZE} bytes, got {len(self.user_data)}")
        self.user_data = bytearray(self.user_data)

    @classmethod
    def from_hex(cls, serial_hex: str) -> Key:
        """Build a key from 16 hex digits, e.g. ``"00A1B2C3D4E5F607"``; raises ValueError otherwise."""
        try:
            serial = bytes.fromhex(serial_hex)
        except ValueError:
            raise ValueError(f"serial {serial_hex!r} is not hex") from None
        return cls(serial)

    @classmethod
    def random(cls, rng: random.Random) -> Key:
        """A key with a serial drawn from ``rng`` and an employee number in ASCII at user bytes 0-7 [D]."""
        serial = rng.randbytes(SERIAL_SIZE)
        user = bytearray(USER_DATA_SIZE)
        user[0:8] = f"{rng.randrange(10**8):08d}".encode()
        return cls(serial, user)

    @property
    def id(self) -> str:
        return key_id(self.serial)

    def memory(self) -> bytes:
        return bytes(self.user_data) + self.serial


def read_status(request: ReadRequest) -> Status | None:
    """The status for a read with bad parameters, or None if they are in range.

    Ranges are [F] (start 0-116, count 1-124, start + count <= 124). The manuals give no status number for
    an out-of-range read; the emulator answers 06, the only documented parameter error [D].
    """
    if not (request.start <= SERIAL_ADDRESS and 1 <= request.count <= MAX_READ_COUNT):
        return Status.MISALIGNED
    if request.start + request.count > MEMORY_SIZE:
        return Status.MISALIGNED
    return None


def write_status(request: WriteRequest) -> Status | None:
    """The status for a write with bad parameters, or None if they are in range.

    [F]: start 0-112 in steps of 4, count 4-116 in multiples of 4, status 06 when not a multiple of 4.
    [D]: other range errors (start + count beyond the user data) are answered with 06 as well.
    """
    if request.start % WRITE_BLOCK or request.count % WRITE_BLOCK:
        return Status.MISALIGNED
    if request.count < WRITE_BLOCK or request.start + request.count > USER_DATA_SIZE:
        return Status.MISALIGNED
    return None


def answer(request: Frame, key: Key | None, *, reported_state: KeyState | None = None) -> Frame:
    """The reply a reader gives to ``request`` with ``key`` in it (None: no key); writes change ``key``.

    Parameters are checked before the key [D], so a bad read gets 06 even with no key in the reader.
    ``reported_state`` overrides the ``Ek`` answer (used by the ``ek_other`` fault).
    """
    if isinstance(request, KeyStatus):
        if reported_state is not None:
            return KeyStatus(reported_state)
        return KeyStatus(KeyState.IN if key is not None else KeyState.OUT)
    if isinstance(request, ReadRequest):
        status = read_status(request)
        if status is not None:
            return StatusReply(status)
        if key is None:
            return StatusReply(Status.NO_KEY)
        return ReadReply(request.start, key.memory()[request.start : request.start + request.count])
    if isinstance(request, WriteRequest):
        status = write_status(request)
        if status is not None:
            return StatusReply(status)
        if key is None:
            return StatusReply(Status.NO_KEY)
        if key.read_only:
            return StatusReply(Status.WRITE_PROTECTED)
        key.user_data[request.start : request.start + request.count] = request.data
        return StatusReply(Status.OK)
    raise ValueError(f"{request!r} is not a request a reader answers")
