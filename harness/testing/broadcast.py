"""Broadcast: every message goes to every socket connected to the same path, the sender included."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from harness.testing._asgi import Receive, Scope, Send, accept, not_found, outgoing

__all__ = ["app", "fan_out"]

# One process serves every member of a path, so a module-level registry is the whole "channel layer".
_members: defaultdict[str, list[Send]] = defaultdict(list)


async def fan_out(path: str, message: dict[str, Any]) -> None:
    """Send ``message`` (an ASGI ``websocket.send`` event) to every member of ``path``."""
    for member in list(_members[path]):
        try:
            await member(message)
        except Exception:  # a member that left mid-send must not stop the others
            pass


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "websocket":
        await not_found(scope, receive, send)
        return
    if not await accept(receive, send):
        return
    path = scope["path"]
    _members[path].append(send)
    try:
        while True:
            event = await receive()
            if event["type"] != "websocket.receive":
                return
            await fan_out(path, outgoing(event))
    finally:
        _members[path].remove(send)
