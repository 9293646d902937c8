"""The in-process control API: what a harness (or the HTTP endpoint) does to a running fleet.

Every call acts at once on a local device; ids are global fleet ids. Errors are ``KeyError`` for an id
not run by this process and ``ValueError`` (``FaultSpecError``) for bad parameters, each naming the cause.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from .events import KeyEvent, Subscriber
from .faults import Fault, FaultKind
from .fleet import Fleet
from .frames import SERIAL_SIZE, USER_DATA_SIZE
from .key import Key

__all__ = ["Controller"]


class Controller:
    """Insert and remove keys, inject and clear faults, reboot devices, read devices, metrics and events."""

    def __init__(self, fleet: Fleet, *, seed: int | str | None = None) -> None:
        self.fleet = fleet
        self.journal = fleet.journal
        self._rng = random.Random(f"control:{fleet.config.seed if seed is None else seed}")

    def devices(self) -> list[dict[str, object]]:
        return [device.describe() for device in self.fleet.devices.values()]

    def device(self, device_id: int) -> dict[str, object]:
        return self.fleet.device(device_id).describe()

    def insert(
        self,
        device_id: int,
        serial: bytes | str | None = None,
        *,
        user_data: bytes | None = None,
        read_only: bool = False,
    ) -> KeyEvent:
        """Insert a key (``serial`` as 8 bytes or 16 hex digits; None: a seeded random one).

        Returns the stamped insert event, the reference point for insert-to-terminal latency.
        """
        device = self.fleet.device(device_id)
        if serial is None:
            key = Key.random(self._rng)
        else:
            raw = Key.from_hex(serial).serial if isinstance(serial, str) else serial
            if len(raw) != SERIAL_SIZE:
                raise ValueError(f"serial must be {SERIAL_SIZE} bytes ({2 * SERIAL_SIZE} hex digits)")
            key = Key(raw)
        if user_data is not None:
            if len(user_data) > USER_DATA_SIZE:
                raise ValueError(f"user data must be at most {USER_DATA_SIZE} bytes, got {len(user_data)}")
            key.user_data[: len(user_data)] = user_data
        key.read_only = read_only
        device.insert(key, source="api")
        event = self.journal.last
        assert event is not None and event.device_id == device_id
        return event

    def remove(self, device_id: int) -> KeyEvent | None:
        """Pull the key; returns the stamped remove event, or None if the reader was empty."""
        if self.fleet.device(device_id).remove(source="api") is None:
            return None
        return self.journal.last

    def inject_fault(self, device_id: int, fault: Fault) -> None:
        self.fleet.device(device_id).inject(fault)

    def inject_fault_fraction(self, fault: Fault, fraction: float, seed: int | str | None = None) -> list[int]:
        """Inject ``fault`` into a seeded ``fraction`` of the fleet; returns the local ids affected."""
        chosen = self.fleet.select(fraction, seed)
        for device_id in chosen:
            self.fleet.device(device_id).inject(fault)
        return chosen

    def clear_faults(self, device_id: int, kind: FaultKind | None = None) -> list[FaultKind]:
        return self.fleet.device(device_id).clear(kind)

    def reboot(self, device_id: int, down_s: float, *, keep_key: bool = True) -> None:
        if not (math.isfinite(down_s) and down_s >= 0):
            raise ValueError(f"down_s must be a finite number >= 0, got {down_s}")
        self.fleet.device(device_id).reboot(down_s, keep_key=keep_key)

    def metrics(self) -> dict[str, object]:
        return {
            "fleet": self.fleet.status(),
            "devices": {str(i): d.metrics.as_dict() for i, d in self.fleet.devices.items()},
        }

    def inserts(self, since_seq: int = 0) -> list[KeyEvent]:
        return self.journal.inserts(since_seq)

    def events(self, since_seq: int = 0) -> list[KeyEvent]:
        return self.journal.events(since_seq=since_seq)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(event)`` for every later insert and remove; returns an unsubscribe function."""
        return self.journal.subscribe(subscriber)
