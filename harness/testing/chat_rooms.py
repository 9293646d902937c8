"""Chat rooms shaped like the reference app's ``ws/chat/<room>/``, with a join storm the tests can stretch.

As in ``reference_app/chat/consumers.py``, a socket joining a room is announced to every member then in the room,
itself included, with ``{"type": "presence", "event": "join", ...}``, and a ``{"type": "message", ...}`` sent to
the room reaches every member with its ``client`` field kept. No Django: no session, the cookie is ignored.
Configuration, read at import:

* ``HARNESS_CHAT_PRESENCE_DELAY_S``: each join is announced this many seconds after the socket joined (to the
  members there when it joined), so the storm outlasts the connects.
* ``HARNESS_CHAT_PRESENCE_EVERY_S``: once a room has a member, every member is sent a join announcement this
  often, for ever: a storm that never settles.
* ``HARNESS_CHAT_STRICT``: when ``1``, a message that arrives while a join announcement of its room is still to be
  sent closes the sender's socket with :data:`CLOSE_SENT_DURING_STORM`: a client that sent before the storm was
  over shows up as an unexpected close.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from typing import Any, Final

import orjson

from harness.testing._asgi import Receive, Scope, Send, accept, not_found

__all__ = ["CLOSE_SENT_DURING_STORM", "app"]

#: Application close code: a message arrived while its room was still being joined.
CLOSE_SENT_DURING_STORM: Final = 4409

PRESENCE_DELAY_S = float(os.environ.get("HARNESS_CHAT_PRESENCE_DELAY_S", "0"))
PRESENCE_EVERY_S = float(os.environ.get("HARNESS_CHAT_PRESENCE_EVERY_S", "0"))
STRICT = os.environ.get("HARNESS_CHAT_STRICT", "") == "1"

_members: defaultdict[str, list[Send]] = defaultdict(list)
#: Join announcements scheduled but not sent yet, per room.
_pending: defaultdict[str, int] = defaultdict(int)
_noise: dict[str, asyncio.Task[None]] = {}


async def _send_all(members: list[Send], body: dict[str, Any]) -> None:
    text = orjson.dumps(body).decode()
    for member in members:
        try:
            await member({"type": "websocket.send", "text": text})
        except Exception:  # a member that left mid-send must not stop the others
            pass


async def _announce(room: str, members: list[Send], user: str) -> None:
    try:
        if PRESENCE_DELAY_S > 0:
            await asyncio.sleep(PRESENCE_DELAY_S)
        await _send_all(members, {"type": "presence", "event": "join", "user": user, "room": room})
    finally:
        _pending[room] -= 1


async def _noise_for_ever(room: str) -> None:
    while True:
        await asyncio.sleep(PRESENCE_EVERY_S)
        await _send_all(list(_members[room]), {"type": "presence", "event": "join", "user": "noise", "room": room})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    path = str(scope.get("path", ""))
    parts = path.strip("/").split("/")
    if scope["type"] != "websocket" or len(parts) != 3 or parts[:2] != ["ws", "chat"]:
        await not_found(scope, receive, send)
        return
    if not await accept(receive, send):
        return
    room = parts[2]
    _members[room].append(send)
    _pending[room] += 1
    user = f"member-{id(send)}"
    announce = asyncio.ensure_future(_announce(room, list(_members[room]), user))
    if PRESENCE_EVERY_S > 0 and room not in _noise:
        _noise[room] = asyncio.ensure_future(_noise_for_ever(room))
    try:
        while True:
            event = await receive()
            if event["type"] != "websocket.receive":
                return
            if STRICT and _pending[room]:
                await send({"type": "websocket.close", "code": CLOSE_SENT_DURING_STORM})
                return
            body = orjson.loads(event.get("text") or event.get("bytes") or b"{}")
            await _send_all(list(_members[room]), {**body, "type": "message", "room": room})
    finally:
        _members[room].remove(send)
        if not announce.done():
            announce.cancel()
