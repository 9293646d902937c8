"""ASGI plumbing the test servers share: the HTTP refusal and the WebSocket accept loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["App", "Receive", "Scope", "Send", "accept", "echo_app", "not_found", "outgoing", "send_message"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


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


def outgoing(event: MutableMapping[str, Any]) -> dict[str, Any]:
    """The ``websocket.send`` message carrying the payload of a ``websocket.receive`` event, in its frame type."""
    if event.get("text") is not None:
        return {"type": "websocket.send", "text": event["text"]}
    return {"type": "websocket.send", "bytes": event.get("bytes") or b""}


async def send_message(send: Send, event: MutableMapping[str, Any]) -> None:
    """Send back the payload of a ``websocket.receive`` event with its original frame type."""
    await send(outgoing(event))


def echo_app(before_echo: Callable[[], Awaitable[None]] | None = None) -> App:
    """An app that returns every message to the socket that sent it, awaiting ``before_echo()`` first if given."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await not_found(scope, receive, send)
            return
        if not await accept(receive, send):
            return
        while True:
            event = await receive()
            if event["type"] != "websocket.receive":
                return
            if before_echo is not None:
                await before_echo()
            await send_message(send, event)

    return app
