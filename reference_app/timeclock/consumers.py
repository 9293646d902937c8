"""The kiosk socket ``ws/terminal/<id>/`` and the timeclock worker consumer (docs/protocols.md#timeclock)."""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.consumer import AsyncConsumer
from django.db import DatabaseError

from reference_app.jsonsocket import JsonSocketConsumer, Payload
from reference_app.timeclock.events import ACK_TYPE, InvalidEvent, PunchEvent
from reference_app.timeclock.models import Terminal
from reference_app.timeclock.punching import Outcome, record_punch, terminal_group
from reference_app.tokens import digest

__all__ = ["KioskConsumer", "PunchWorker", "TERMINAL_TOKEN_HEADER"]

logger = logging.getLogger("reference_app.timeclock")

#: Header a kiosk device sends its token in; browsers, which cannot set WebSocket headers, use ``?token=``.
TERMINAL_TOKEN_HEADER = b"x-terminal-token"


def _token(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", []):
        if name == TERMINAL_TOKEN_HEADER:
            return bytes(value).decode("latin-1").strip() or None
    values = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1")).get("token")
    return values[0] if values else None


class KioskConsumer(JsonSocketConsumer):
    endpoint = "kiosk"
    group: str | None = None

    async def connect(self) -> None:
        terminal_id = int(self.scope["url_route"]["kwargs"]["terminal_id"])
        token = _token(self.scope)
        terminal = None
        if token is not None:
            terminal = await Terminal.objects.filter(pk=terminal_id, token_digest=digest(token)).afirst()
        if terminal is None:
            # Same answer for an unknown terminal and a wrong token, so the socket cannot be used to probe ids.
            await self.close()
            return
        self.group = terminal_group(terminal.pk)
        await self.join_group(self.group)
        await self.accept()
        await self.welcome(terminal={"id": terminal.pk, "name": terminal.name})

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def kiosk_event(self, event: Payload) -> None:
        await self.send_json(event["message"])


class PunchWorker(AsyncConsumer):
    """Runs under ``manage.py runworker <TIMECLOCK_CHANNEL>``: one event at a time, each punched at most once."""

    async def health_ping(self, message: Payload) -> None:
        # Lets /healthz?worker=1 prove, through the layer, that a worker is listening on the channel.
        reply = message.get("reply_channel")
        if isinstance(reply, str):
            await self.channel_layer.send(reply, {"type": "health.pong", "pid": os.getpid()})

    async def punch_event(self, message: Payload) -> None:
        try:
            event = PunchEvent.parse(message)
        except InvalidEvent as exc:
            logger.error("punch event refused: %s (message %r)", exc, message)
            return
        try:
            result = await sync_to_async(record_punch)(event)
        except DatabaseError as exc:
            # Not acknowledged, so the gateway sends it again; the worker stays up for the next one.
            logger.error("punch event %s not stored (%s: %s)", event.event_id, type(exc).__name__, exc)
            return
        # The punch is committed (or was already): from here on a re-send of it stores nothing.
        await self._acknowledge(message, event, result.outcome)
        if result.outcome is Outcome.UNKNOWN_READER:
            logger.error("punch event %s names no known terminal: reader=%r", event.event_id, event.reader)
            return
        if result.outcome is Outcome.DUPLICATE:
            logger.info("punch event %s already recorded; replay ignored", event.event_id)
            return
        if result.outcome is Outcome.UNKNOWN_KEY:
            logger.warning("punch event %s: unknown key %s", event.event_id, event.key_serial)
        assert result.terminal_id is not None and result.message is not None
        await self.channel_layer.group_send(
            terminal_group(result.terminal_id), {"type": "kiosk.event", "message": result.message}
        )

    async def _acknowledge(self, message: Payload, event: PunchEvent, outcome: Outcome) -> None:
        reply = message.get("reply_channel")
        if not isinstance(reply, str) or not reply:
            return  # a sender that does not ask for acknowledgements (docs/protocols.md#timeclock-worker)
        try:
            await self.channel_layer.send(
                reply, {"type": ACK_TYPE, "event_id": event.event_id, "outcome": outcome.value}
            )
        except Exception as exc:
            # The layer is down: the sender's time-out sends the event again, and the replay is acknowledged then.
            logger.warning("punch event %s: acknowledgement not sent (%s: %s)", event.event_id, type(exc).__name__, exc)
