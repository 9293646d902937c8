"""Seeded, reproducible workloads: when which key goes into which reader [D].

Every model returns a sorted list of ``WorkloadEvent``. Randomness is drawn per device from a generator
seeded with (model, seed, device id), so a device's events do not depend on which other devices are in
the run: shards of one fleet in several processes produce exactly the events a single process would.

A reader holds one key at a time, so arrivals at one reader queue up: a worker whose arrival falls inside
another's dwell inserts ``gap_s`` after the previous key came out.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .frames import SERIAL_SIZE
from .key import KeyAction

__all__ = [
    "WorkloadEvent",
    "WorkloadFileError",
    "replay_csv",
    "shift_change",
    "steady",
]


@dataclass(frozen=True, slots=True, order=True)
class WorkloadEvent:
    time_s: float
    device_id: int
    action: KeyAction
    serial: bytes


class WorkloadFileError(ValueError):
    """A replay file row is invalid; the message names file, line and column."""

    def __init__(self, path: Path, line: int, column: int, message: str) -> None:
        super().__init__(f"{path}:{line}:{column}: {message}")
        self.path = path
        self.line = line
        self.column = column


def _check_dwell(dwell_s: tuple[float, float], gap_s: float) -> None:
    low, high = dwell_s
    if not (0 <= low <= high and math.isfinite(high)):
        raise ValueError(f"dwell_s must be (low, high) with 0 <= low <= high, got {dwell_s}")
    if gap_s < 0:
        raise ValueError(f"gap_s must be >= 0, got {gap_s}")


def _queue_at_reader(
    device_id: int,
    arrivals: list[tuple[float, bytes]],
    rng: random.Random,
    dwell_s: tuple[float, float],
    gap_s: float,
) -> list[WorkloadEvent]:
    events: list[WorkloadEvent] = []
    free_at = 0.0
    for arrival, serial in sorted(arrivals):
        start = max(arrival, free_at)
        end = start + rng.uniform(*dwell_s)
        events.append(WorkloadEvent(start, device_id, KeyAction.INSERT, serial))
        events.append(WorkloadEvent(end, device_id, KeyAction.REMOVE, serial))
        free_at = end + gap_s
    return events


def shift_change(
    device_ids: Iterable[int],
    *,
    seed: int | str,
    boundaries_s: Sequence[float] = (30.0, 120.0),
    spread_s: float = 10.0,
    keys_per_device: int = 10,
    dwell_s: tuple[float, float] = (1.0, 3.0),
    gap_s: float = 0.5,
) -> list[WorkloadEvent]:
    """Workers clock in and out around shift boundaries.

    Each reader serves ``keys_per_device`` workers (each with a fixed serial). At every boundary (a shift
    start or end, in seconds from the start of the run), each worker arrives at a time drawn from a normal
    distribution centred on the boundary with standard deviation ``spread_s`` (clipped at 0), inserts the
    key, and removes it after a dwell drawn uniformly from ``dwell_s``.
    """
    _check_dwell(dwell_s, gap_s)
    if spread_s < 0 or keys_per_device < 1:
        raise ValueError("spread_s must be >= 0 and keys_per_device >= 1")
    events: list[WorkloadEvent] = []
    for device_id in device_ids:
        rng = random.Random(f"shift-change:{seed}:{device_id}")
        serials = [rng.randbytes(SERIAL_SIZE) for _ in range(keys_per_device)]
        arrivals = [
            (max(0.0, rng.gauss(boundary, spread_s)), serial) for boundary in boundaries_s for serial in serials
        ]
        events += _queue_at_reader(device_id, arrivals, rng, dwell_s, gap_s)
    return sorted(events)


def steady(
    device_ids: Iterable[int],
    *,
    seed: int | str,
    rate_per_s: float = 0.1,
    duration_s: float = 60.0,
    keys_per_device: int = 10,
    dwell_s: tuple[float, float] = (1.0, 3.0),
    gap_s: float = 0.5,
) -> list[WorkloadEvent]:
    """Random use all day: arrivals at each reader form a Poisson process of ``rate_per_s`` per second."""
    _check_dwell(dwell_s, gap_s)
    if rate_per_s <= 0 or duration_s < 0 or keys_per_device < 1:
        raise ValueError("rate_per_s must be > 0, duration_s >= 0 and keys_per_device >= 1")
    events: list[WorkloadEvent] = []
    for device_id in device_ids:
        rng = random.Random(f"steady:{seed}:{device_id}")
        serials = [rng.randbytes(SERIAL_SIZE) for _ in range(keys_per_device)]
        arrivals = []
        t = rng.expovariate(rate_per_s)
        while t < duration_s:
            arrivals.append((t, rng.choice(serials)))
            t += rng.expovariate(rate_per_s)
        events += _queue_at_reader(device_id, arrivals, rng, dwell_s, gap_s)
    return sorted(events)


_COLUMNS = ("time_s", "reader", "key_serial_hex", "action")


def replay_csv(path: Path, *, dwell_s: float = 2.0) -> list[WorkloadEvent]:
    """Read a recorded workload: rows of ``time_s,reader,key_serial_hex[,action]``.

    A first row starting with ``time_s`` is a header. ``action`` is ``insert`` (the default) or
    ``remove``. A row without an action column inserts and, if ``dwell_s`` > 0, removes the key ``dwell_s``
    later. Raises ``WorkloadFileError`` naming file, line and column of the first bad field.
    """
    events: list[WorkloadEvent] = []
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise WorkloadFileError(path, 0, 0, f"cannot open: {exc.strerror}") from None
    with handle:
        for line_no, row in enumerate(csv.reader(handle), start=1):
            if not row or all(not field.strip() for field in row) or row[0].lstrip().startswith("#"):
                continue
            if line_no == 1 and row[0].strip() == "time_s":
                continue
            if not 3 <= len(row) <= 4:
                raise WorkloadFileError(
                    path, line_no, 1, f"expected 3 or 4 columns ({', '.join(_COLUMNS)}), got {len(row)}"
                )
            events += _parse_row(path, line_no, [field.strip() for field in row], dwell_s)
    return sorted(events)


def _parse_row(path: Path, line_no: int, row: list[str], dwell_s: float) -> list[WorkloadEvent]:
    def bad(column: int, message: str) -> WorkloadFileError:
        return WorkloadFileError(path, line_no, column, f"{_COLUMNS[column - 1]}: {message}")

    try:
        time_s = float(row[0])
    except ValueError:
        raise bad(1, f"{row[0]!r} is not a number") from None
    if not (math.isfinite(time_s) and time_s >= 0):
        raise bad(1, f"{row[0]!r} must be a finite number >= 0")
    try:
        reader = int(row[1])
    except ValueError:
        raise bad(2, f"{row[1]!r} is not a device number") from None
    if reader < 0:
        raise bad(2, f"{reader} must be >= 0")
    try:
        serial = bytes.fromhex(row[2])
    except ValueError:
        raise bad(3, f"{row[2]!r} is not hex") from None
    if len(serial) != SERIAL_SIZE:
        raise bad(3, f"{row[2]!r} must be {2 * SERIAL_SIZE} hex digits")
    if len(row) == 4:
        try:
            action = KeyAction(row[3].lower())
        except ValueError:
            raise bad(4, f"{row[3]!r} must be insert or remove") from None
        return [WorkloadEvent(time_s, reader, action, serial)]
    events = [WorkloadEvent(time_s, reader, KeyAction.INSERT, serial)]
    if dwell_s > 0:
        events.append(WorkloadEvent(time_s + dwell_s, reader, KeyAction.REMOVE, serial))
    return events
