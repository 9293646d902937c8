"""The fault catalogue: what can go wrong with a reader, as data [D].

A ``Fault`` says what to do; ``EmulatedDevice.inject`` does it. One-shot faults (``fin``, ``rst``,
``reboot``, ``bounce``, ``pulled_mid_read``) end by themselves; the others stay until cleared or until
``duration_s`` has passed. The byte-level helpers here only rewrite bytes, so they can be tested alone.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields

from .frames import HEADER_SIZE, SERIAL_SIZE, CommandId

__all__ = [
    "ONE_SHOT",
    "Fault",
    "FaultKind",
    "FaultSpecError",
    "replace_command",
    "replace_length",
    "select_fraction",
]


class FaultKind(enum.StrEnum):
    FIN = "fin"  # close the client connection normally
    RST = "rst"  # abortive close (SO_LINGER 0)
    REBOOT = "reboot"  # listener down, connects refused for down_s, then back
    BLACKHOLE = "blackhole"  # half-open: socket kept, nothing read or answered
    FLAP = "flap"  # repeated reboot cycles: down_s down, up_s up
    SLOW = "slow"  # delay_s added to every reply
    SPLIT = "split"  # every frame written 1 byte at a time, gap_s apart
    COALESCE = "coalesce"  # every frame written together with an Ek status frame in one write
    BAD_LENGTH = "bad_length"  # every frame sent with a wrong length byte
    UNKNOWN_COMMAND = "unknown_command"  # every frame sent with an unknown command id
    GARBAGE = "garbage"  # every frame replaced by size random bytes
    READ_ERROR = "read_error"  # reads answered with RF status (0x40-0x4F, or 0x03 parity)
    PULLED_MID_READ = "pulled_mid_read"  # the next read finds the key pulled: RF 02, then Ek 02
    EK_OTHER = "ek_other"  # Ek answers and pushes report 03
    BOUNCE = "bounce"  # insert, remove, insert, gap_s apart
    SECOND_CLIENT = "second_client"  # as if another client held the reader: RF 61 and close


ONE_SHOT = frozenset({FaultKind.FIN, FaultKind.RST, FaultKind.REBOOT, FaultKind.BOUNCE, FaultKind.PULLED_MID_READ})


_KNOWN_IDS = frozenset(c.value.decode() for c in CommandId)


class FaultSpecError(ValueError):
    """A fault description is invalid; the message names the field."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault and its parameters; fields a kind does not use are ignored.

    Args:
        kind: which fault.
        duration_s: clear a lasting fault after this long (None: until cleared).
        down_s: reboot and flap: how long the listener stays closed.
        up_s: flap: how long the listener stays open between outages.
        cycles: flap: number of down/up cycles (0: until cleared).
        keep_key: reboot and flap: whether the key is still in after the reboot.
        delay_s: slow: added reply delay.
        gap_s: split: pause between bytes; bounce: pause between the three steps.
        length: bad_length: the length byte to send (None: the true length + 1).
        command: unknown_command: the two-letter id to send.
        size: garbage: how many random bytes replace each frame.
        status: read_error: the RF status (0x40-0x4F, or 0x03 parity error).
        serial_hex: bounce: the key serial (None: a seeded random one).
    """

    kind: FaultKind
    duration_s: float | None = None
    down_s: float = 1.0
    up_s: float = 1.0
    cycles: int = 0
    keep_key: bool = True
    delay_s: float = 0.5
    gap_s: float = 0.005
    length: int | None = None
    command: str = "Zz"
    size: int = 16
    status: int = 0x40
    serial_hex: str | None = None

    def __post_init__(self) -> None:
        for name in ("down_s", "up_s", "delay_s", "gap_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise FaultSpecError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.duration_s is not None and not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise FaultSpecError(f"duration_s must be > 0, got {self.duration_s!r}")
        if self.cycles < 0:
            raise FaultSpecError(f"cycles must be >= 0, got {self.cycles}")
        if self.length is not None and not 0 <= self.length <= 0xFF:
            raise FaultSpecError(f"length must be 0-255, got {self.length}")
        if len(self.command) != 2 or not self.command.isascii() or self.command in {"TL", "RL", "TP", "RF", "Ek"}:
            raise FaultSpecError(f"command must be two ASCII characters that are not a known id, got {self.command!r}")
        if not 1 <= self.size <= 4096:
            raise FaultSpecError(f"size must be 1-4096, got {self.size}")
        if not (self.status == 0x03 or 0x40 <= self.status <= 0x4F):
            raise FaultSpecError(f"status must be 0x40-0x4F or 0x03, got {self.status:#04x}")
        if self.serial_hex is not None:
            try:
                serial = bytes.fromhex(self.serial_hex)
            except ValueError:
                raise FaultSpecError(f"serial_hex {self.serial_hex!r} is not hex") from None
            if len(serial) != SERIAL_SIZE:
                raise FaultSpecError(f"serial_hex must be {2 * SERIAL_SIZE} hex digits, got {self.serial_hex!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> Fault:
        """Build a fault from decoded JSON, naming the offending field in any ``FaultSpecError``."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise FaultSpecError(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if "kind" not in data:
            raise FaultSpecError(f"field 'kind' is required; one of {', '.join(k.value for k in FaultKind)}")
        try:
            kind = FaultKind(str(data["kind"]))
        except ValueError:
            raise FaultSpecError(
                f"kind {data['kind']!r} is not a fault; one of {', '.join(k.value for k in FaultKind)}"
            ) from None
        values: dict[str, object] = {"kind": kind}
        for name, value in data.items():
            if name == "kind":
                continue
            default = known[name].default
            values[name] = _coerce(name, value, default)
        return cls(**values)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in asdict(self).items()}


def _coerce(name: str, value: object, default: object) -> object:
    if value is None and default is None:
        return None
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise FaultSpecError(f"{name} must be true or false, got {value!r}")
        return value
    if name in {"cycles", "length", "size", "status"}:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FaultSpecError(f"{name} must be an integer, got {value!r}")
        return value
    if name in {"command", "serial_hex"}:
        if not isinstance(value, str):
            raise FaultSpecError(f"{name} must be a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultSpecError(f"{name} must be a number, got {value!r}")
    return float(value)


def replace_length(frame: bytes, length: int | None) -> bytes:
    """The frame with its length byte replaced (None: the true length + 1, which no fixed-size frame has)."""
    wrong = (len(frame) + 1) & 0xFF if length is None else length
    return bytes((wrong,)) + frame[1:]


def replace_command(frame: bytes, command: str) -> bytes:
    """The frame with bytes 1-2 replaced by an unknown command id."""
    if len(frame) < HEADER_SIZE:
        raise ValueError("not a whole frame")
    return frame[:1] + command.encode("ascii") + frame[3:]


def select_fraction(device_ids: Iterable[int], fraction: float, seed: int | str) -> list[int]:
    """A reproducible sample of ``fraction`` of the devices (rounded, at least one if fraction > 0).

    The sample depends only on the seed and the set of ids, not on their order.
    """
    if not 0 <= fraction <= 1:
        raise FaultSpecError(f"fraction must be 0-1, got {fraction}")
    ids: Sequence[int] = sorted(set(device_ids))
    if fraction == 0 or not ids:
        return []
    count = max(1, round(fraction * len(ids)))
    return sorted(random.Random(f"faults:{seed}").sample(ids, count))
