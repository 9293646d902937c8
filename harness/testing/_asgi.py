"""ASGI plumbing the test servers share: the HTTP refusal and the WebSocket accept loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["Receive", "Scope", "Send", "accept", "not_found", "send_message"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer anything that is not a WebSocket with 404 (lifespan events are ignored)."""
    if scope["type"] == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"not a WebSocket endpoint\n"})


async def accept(receive: Receive, send: Send) -> bool:
    """Wait for ``websocket.connect`` and accept it; False if the client left first."""
    event = await receive()
    if event["type"] != "websocket.connect":
        return False
    await send({"type": "websocket.accept"})
    return True


async def send_message(send: Send, event: MutableMapping[str, Any]) -> None:
    """Send back the payload of a ``websocket.receive`` event with its original frame type."""
    if event.get("text") is not None:
        await send({"type": "websocket.send", "text": event["text"]})
    else:
        await send({"type": "websocket.send", "bytes": event.get("bytes") or b""})
