"""Turning a punch event into exactly one stored punch."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from reference_app.timeclock.events import PunchEvent
from reference_app.timeclock.models import Direction, Employee, Key, Punch, Terminal

__all__ = ["Outcome", "PunchResult", "record_punch", "terminal_group"]


def terminal_group(terminal_id: int) -> str:
    return f"timeclock.terminal.{terminal_id}"


class Outcome(enum.Enum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    UNKNOWN_KEY = "unknown_key"
    UNKNOWN_READER = "unknown_reader"


@dataclass(frozen=True)
class PunchResult:
    outcome: Outcome
    terminal_id: int | None = None
    message: dict[str, Any] | None = None


def _terminal(reader: int | str) -> Terminal | None:
    lookup = {"pk": reader} if isinstance(reader, int) else {"name": reader}
    return Terminal.objects.filter(**lookup).first()


def record_punch(event: PunchEvent) -> PunchResult:
    """Store the punch for ``event`` once; a replay of the same event id stores nothing.

    Returns the message to push to the terminal's kiosk group, if any.
    """
    terminal = _terminal(event.reader)
    if terminal is None:
        return PunchResult(Outcome.UNKNOWN_READER)
    key = Key.objects.select_related("employee").filter(serial=event.key_serial, active=True).first()
    if key is None:
        return PunchResult(
            Outcome.UNKNOWN_KEY,
            terminal.pk,
            {
                "type": "unknown_key",
                "key_serial": event.key_serial,
                "event_id": event.event_id,
                "inserted_at": event.inserted_at.isoformat(),
            },
        )
    try:
        with transaction.atomic():
            # Lock the employee row so two punches of one person (on PostgreSQL, possibly from two workers) decide
            # in/out one after the other; SQLite's IMMEDIATE transactions serialise writers already.
            employee = Employee.objects.select_for_update().get(pk=key.employee_id)
            if Punch.objects.filter(event_id=event.event_id).exists():
                return PunchResult(Outcome.DUPLICATE, terminal.pk)
            last = Punch.objects.filter(employee=employee).order_by("-inserted_at", "-id").first()
            direction = Direction.OUT if last is not None and last.direction == Direction.IN else Direction.IN
            punch = Punch.objects.create(
                employee=employee,
                terminal=terminal,
                key_serial=event.key_serial,
                direction=direction,
                inserted_at=event.inserted_at,
                event_id=event.event_id,
            )
    except IntegrityError:
        # Another worker stored the same event id between our check and insert.
        if Punch.objects.filter(event_id=event.event_id).exists():
            return PunchResult(Outcome.DUPLICATE, terminal.pk)
        raise
    return PunchResult(
        Outcome.RECORDED,
        terminal.pk,
        {
            "type": "punch",
            "punch_id": punch.pk,
            "event_id": punch.event_id,
            "employee": {"id": employee.pk, "name": employee.name, "number": employee.number},
            "direction": punch.direction,
            "key_serial": punch.key_serial,
            "inserted_at": punch.inserted_at.isoformat(),
            "recorded_at": punch.recorded_at.isoformat(),
        },
    )
