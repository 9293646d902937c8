"""An ordinary Django Channels app the harness did not write, for the tests of the ``app`` scenario kind.

Two consumers of the shapes users run (docs/your-app.md):

* ``/ws/chat/<room>/``: a room chat that relays only the ``message`` field it is sent: every member gets
  ``{"type": "chat", "user": …, "message": …, "at": …}``, re-serialized, unknown fields dropped; a ``welcome``
  frame on connect.
* ``/ws/board/<room>/``: an app that re-broadcasts its whole state: after each message every member gets the
  room's last 20 messages as one HTML list, so each message arrives many times.
* ``/ws/others/<room>/``: the room chat, except that the sender gets no copy of its own message.
* ``POST /api/rooms/<room>/messages/`` with ``Authorization: Bearer relay-secret`` and ``{"text": …}``: the
  message is pushed to the room's chat sockets as from ``http`` (HTTP publish, WebSocket push); 401 without the
  token.
* ``/ws/beat/<room>/``: the room chat, plus a ``{"type": "heartbeat"}`` frame to each socket every 0.3 s.
* ``/ws/multi/``: one socket, rooms joined by message, as channels-examples' multichat: ``{"command": "join",
  "room": r}`` answers ``{"join": r}``; ``{"command": "send", "room": r, "message": m}`` reaches the members of
  ``r`` as ``{"msg_type": 0, "room": r, "message": m}``; a room not joined gets ``{"error": "ROOM_ACCESS_DENIED"}``.
* ``/ws/notes/<room>/``: ids the server makes: ``{"text": t}`` becomes note ``n``; its sender gets
  ``{"type": "created", "id": n, "text": t}``, the others only ``{"type": "note", "note_id": n}``, sent first, so
  some of them come before the sender learns the id.
* ``/ws/keyed/<room>/``: the room chat for clients that send ``X-Api-Key: relay-key`` on the upgrade and offer
  the ``relay.v1`` subprotocol; others are closed with 4401.
* ``/ws/api/``: request and reply, as djangochannelsrestframework answers: ``{"action": …, "request_id": …}`` gets
  ``{"action": …, "request_id": <the same>, "response_status": 200, "data": …}`` back, to the sender only.

Serve it with ``python -m uvicorn tests.app_kind.relay_chat:application``; in-memory channel layer, one process.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import time
from typing import Any

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="relay-chat-tests",
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
    )
    django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

__all__ = ["application"]

_boards: dict[str, list[str]] = {}


class RelayChat(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        self.room = self.scope["url_route"]["kwargs"]["room"]
        await self.channel_layer.group_add(f"chat-{self.room}", self.channel_name)
        await self.accept()
        await self.send_json({"type": "welcome", "room": self.room})

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(f"chat-{self.room}", self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        message = str(content.get("message", ""))[:2000]
        await self.channel_layer.group_send(
            f"chat-{self.room}", {"type": "chat.message", "user": self.channel_name[-6:], "message": message}
        )

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "chat", "user": event["user"], "message": event["message"], "at": time.time()})


class BeatChat(RelayChat):
    """The room chat with a heartbeat frame every 0.3 s on each socket."""

    async def connect(self) -> None:
        await super().connect()
        self.beat = asyncio.get_running_loop().create_task(self._beat())

    async def disconnect(self, code: int) -> None:
        self.beat.cancel()
        await super().disconnect(code)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(0.3)
            await self.send_json({"type": "heartbeat"})


class OthersChat(RelayChat):
    """Sends each message to every member but its sender."""

    async def chat_message(self, event: dict[str, Any]) -> None:
        if event["user"] != self.channel_name[-6:]:
            await super().chat_message(event)


class Board(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        self.room = self.scope["url_route"]["kwargs"]["room"]
        await self.channel_layer.group_add(f"board-{self.room}", self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(f"board-{self.room}", self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        board = _boards.setdefault(self.room, [])
        board.append(str(content.get("text", "")))
        del board[:-20]
        items = "".join(f"<li>{html.escape(text)}</li>" for text in board)
        await self.channel_layer.group_send(f"board-{self.room}", {"type": "board.state", "html": f"<ul>{items}</ul>"})

    async def board_state(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "state", "html": event["html"]})


_note_ids = itertools.count(1)


class Notes(RelayChat):
    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        event = {
            "type": "note.created",
            "id": next(_note_ids),
            "text": str(content.get("text")),
            "by": self.channel_name,
        }
        await self.channel_layer.group_send(f"chat-{self.room}", event)

    async def note_created(self, event: dict[str, Any]) -> None:
        if event["by"] == self.channel_name:
            await asyncio.sleep(0.005)  # the others hear of it first
            await self.send_json({"type": "created", "id": event["id"], "text": event["text"]})
        else:
            await self.send_json({"type": "note", "note_id": event["id"]})


class Keyed(RelayChat):
    async def connect(self) -> None:
        headers = dict(self.scope["headers"])
        if headers.get(b"x-api-key") != b"relay-key" or "relay.v1" not in self.scope["subprotocols"]:
            await self.close(code=4401)
            return
        self.room = self.scope["url_route"]["kwargs"]["room"]
        await self.channel_layer.group_add(f"chat-{self.room}", self.channel_name)
        await self.accept("relay.v1")

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "room"):
            await super().disconnect(code)


class Multi(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        self.rooms: set[str] = set()
        await self.accept()
        await self.send_json({"type": "welcome"})

    async def disconnect(self, code: int) -> None:
        for room in self.rooms:
            await self.channel_layer.group_discard(f"multi-{room}", self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        room = str(content.get("room"))
        if content.get("command") == "join":
            self.rooms.add(room)
            await self.channel_layer.group_add(f"multi-{room}", self.channel_name)
            await self.send_json({"join": room})
        elif content.get("command") == "send":
            if room not in self.rooms:
                await self.send_json({"error": "ROOM_ACCESS_DENIED"})
                return
            event = {"type": "multi.message", "room": room, "message": str(content.get("message"))}
            await self.channel_layer.group_send(f"multi-{room}", event)

    async def multi_message(self, event: dict[str, Any]) -> None:
        await self.send_json({"msg_type": 0, "room": event["room"], "message": event["message"]})


class Api(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if "request_id" not in content:
            await self.send_json({"errors": ["request_id is required"], "response_status": 400})
            return
        data = {"echo": content.get("data"), "server_time": time.time()}
        reply = {"action": content.get("action"), "request_id": content["request_id"], "response_status": 200}
        await self.send_json({**reply, "data": data})


async def publish(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The HTTP side: POST /api/rooms/<room>/messages/ pushes {"text"} to the room's sockets."""
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            break
    parts = scope["path"].strip("/").split("/")
    headers = dict(scope["headers"])
    status = 404
    if scope["method"] == "POST" and len(parts) == 4 and parts[:2] == ["api", "rooms"] and parts[3] == "messages":
        status = 401
        if headers.get(b"authorization") == b"Bearer relay-secret":
            text = str(json.loads(body or b"{}").get("text", ""))
            layer = get_channel_layer()
            await layer.group_send(f"chat-{parts[2]}", {"type": "chat.message", "user": "http", "message": text})
            status = 201
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(status).encode()})


application = ProtocolTypeRouter(
    {
        "http": publish,
        "websocket": URLRouter(
            [
                path("ws/chat/<str:room>/", RelayChat.as_asgi()),
                path("ws/board/<str:room>/", Board.as_asgi()),
                path("ws/others/<str:room>/", OthersChat.as_asgi()),
                path("ws/beat/<str:room>/", BeatChat.as_asgi()),
                path("ws/api/", Api.as_asgi()),
                path("ws/multi/", Multi.as_asgi()),
                path("ws/notes/<str:room>/", Notes.as_asgi()),
                path("ws/keyed/<str:room>/", Keyed.as_asgi()),
            ]
        ),
    }
)
