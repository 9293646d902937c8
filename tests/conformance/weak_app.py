"""A deliberately insecure, sloppy stand-in for the reference app, so the tests can see the checks report FAILED.

It accepts every WebSocket whatever its Origin, cookie or token (it takes the user name from the cookie without
checking it), and delivers each chat message twice to every
member of the room. It answers every HTTP request with 404, so logins fail too.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["app"]

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

_rooms: dict[str, list[Send]] = defaultdict(list)


async def _text(send: Send, message: dict[str, Any]) -> None:
    await send({"type": "websocket.send", "text": json.dumps(message)})


def _user(scope: dict[str, Any]) -> str:
    # Trusts the cookie blindly: session "s<n>" of the made-up credentials is user "u<n>", and no cookie is fine too.
    for name, value in scope["headers"]:
        if name == b"cookie" and b"sessionid=s" in value:
            return "u" + value.split(b"sessionid=s", 1)[1].split(b";")[0].decode()
    return "anonymous"


async def _socket(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    path: str = scope["path"]
    room = path.split("/")[3] if path.startswith("/ws/chat/") else None
    await _text(
        send, {"type": "welcome", "endpoint": "chat", "server_pid": os.getpid(), "room": room, "user": "anyone"}
    )
    members = _rooms[path]
    members.append(send)
    user = _user(scope)
    for member in list(members):
        await _text(member, {"type": "presence", "event": "join", "user": user, "room": room})
    try:
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            payload = json.loads(event.get("text") or "{}")
            if payload.get("type") == "ping":
                await _text(send, {**payload, "type": "pong"})
                continue
            broadcast = {**payload, "room": room, "user": user, "server_ts": 0.0}
            for member in list(members):
                for _ in range(2):
                    await _text(member, broadcast)
    finally:
        members.remove(send)


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await _socket(scope, receive, send)
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"not here"})
    elif scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
