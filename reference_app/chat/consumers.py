"""``ws/chat/<room>/``: room chat over a channel-layer group (docs/protocols.md#chat)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

from reference_app.chat.models import Room
from reference_app.jsonsocket import JsonSocketConsumer, MessageError, Payload, echo_fields, require

__all__ = ["CLOSE_UNKNOWN_ROOM", "ChatConsumer", "room_group"]

#: Application close code: the room in the URL does not exist.
CLOSE_UNKNOWN_ROOM = 4404


def room_group(slug: str) -> str:
    return f"chat.room.{slug}"


def _spend_cpu(seconds: float) -> None:
    # The test-only cost knob (REFERENCE_APP_TEST_ONLY_CHAT_CPU_US). Thread CPU time, not wall time: a descheduled
    # process still owes the whole cost, so the injected regression is the same size on a busy machine.
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class ChatConsumer(JsonSocketConsumer):
    endpoint = "chat"
    fields = {"ping": frozenset(), "message": frozenset({"text"})}

    room: str
    group: str | None = None
    username: str

    def handlers(self) -> dict[str, Any]:
        return {**super().handlers(), "message": self.on_message}

    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            # Closing before accept makes the server answer the handshake with HTTP 403.
            await self.close()
            return
        self.username = user.get_username()
        self.room = self.scope["url_route"]["kwargs"]["room"]
        if not await Room.objects.filter(slug=self.room).aexists():
            await self.accept()
            await self.send_error("unknown_room", f"room {self.room!r} does not exist")
            await self.close(code=CLOSE_UNKNOWN_ROOM)
            return
        self.group = room_group(self.room)
        await self.join_group(self.group)
        await self.accept()
        await self.welcome(room=self.room, user=self.username)
        await self.channel_layer.group_send(
            self.group, {"type": "chat.presence", "event": "join", "user": self.username, "room": self.room}
        )

    async def disconnect(self, code: int) -> None:
        if self.group is None:
            return
        await self.channel_layer.group_send(
            self.group, {"type": "chat.presence", "event": "leave", "user": self.username, "room": self.room}
        )
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def on_message(self, payload: Payload) -> None:
        text = require(payload, "text", str, "a non-empty string")
        limit: int = settings.CHAT_MAX_TEXT_CHARS
        if not text.strip():
            raise MessageError("invalid_field", "'text' must not be empty or only white space", field="text")
        if len(text) > limit:
            raise MessageError(
                "invalid_field",
                f"'text' has {len(text)} characters; the limit is {limit} (CHAT_MAX_TEXT_CHARS)",
                field="text",
            )
        assert self.group is not None
        if settings.TEST_ONLY_CHAT_CPU_US:
            _spend_cpu(settings.TEST_ONLY_CHAT_CPU_US / 1e6)
        await self.channel_layer.group_send(
            self.group,
            {
                "type": "chat.message",
                "room": self.room,
                "user": self.username,
                "text": text,
                "server_ts": time.time(),
                **echo_fields(payload),
            },
        )

    async def chat_message(self, event: Payload) -> None:
        await self.send_json({**event, "type": "message"})

    async def chat_presence(self, event: Payload) -> None:
        await self.send_json({**event, "type": "presence"})
