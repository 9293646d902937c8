"""The punch event: what a reader gateway sends to the timeclock worker channel (docs/protocols.md#timeclock-worker)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["ACK_TYPE", "EVENT_TYPE", "InvalidEvent", "PunchEvent"]

#: The ``type`` of a punch event on the worker channel; the worker consumer method is ``punch_event``.
EVENT_TYPE = "punch.event"
#: The ``type`` of the worker's answer on the event's ``reply_channel``: the event id is stored (or was already).
ACK_TYPE = "punch.ack"
_SERIAL = re.compile(r"^[0-9A-Fa-f]{16}$")
_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class InvalidEvent(ValueError):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


@dataclass(frozen=True)
class PunchEvent:
    reader: int | str
    key_serial: str
    event_id: str
    inserted_at: datetime

    @classmethod
    def parse(cls, message: Mapping[str, Any]) -> PunchEvent:
        reader = message.get("reader")
        if isinstance(reader, bool) or not (
            (isinstance(reader, int) and reader > 0) or (isinstance(reader, str) and reader)
        ):
            raise InvalidEvent("reader", f"expected a terminal id (positive number) or terminal name, got {reader!r}")
        serial = message.get("key_serial")
        if not isinstance(serial, str) or not _SERIAL.match(serial):
            raise InvalidEvent("key_serial", f"expected 16 hex characters (8 bytes), got {serial!r}")
        event_id = message.get("event_id")
        if not isinstance(event_id, str) or not _EVENT_ID.match(event_id):
            raise InvalidEvent("event_id", f"expected 1-64 characters of letters, digits and '_.:-', got {event_id!r}")
        return cls(reader, serial.upper(), event_id, _timestamp(message.get("inserted_at")))

    def as_message(self) -> dict[str, Any]:
        return {
            "type": EVENT_TYPE,
            "reader": self.reader,
            "key_serial": self.key_serial,
            "event_id": self.event_id,
            "inserted_at": self.inserted_at.isoformat(),
        }


def _timestamp(value: object) -> datetime:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidEvent("inserted_at", f"{value!r} is not a usable Unix time") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidEvent("inserted_at", f"{value!r} is not an ISO 8601 time") from None
        if parsed.tzinfo is None:
            raise InvalidEvent("inserted_at", f"{value!r} has no UTC offset")
        return parsed
    raise InvalidEvent("inserted_at", f"expected an ISO 8601 time with offset or Unix seconds, got {value!r}")
