"""A raw ASGI WebSocket echo application, the endpoint shape the wire checks expect (no Django, no Channels).

Run it with any ASGI server, e.g. ``python -m uvicorn harness.conformance.echo_app:app --ws wsproto``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["app", "echo", "lifespan"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def lifespan(receive: Receive, send: Send, on_startup: Callable[[], None] | None = None) -> None:
    """Complete the lifespan protocol; ``on_startup`` runs before startup is reported complete."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if on_startup is not None:
                on_startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def echo(receive: Receive, send: Send) -> None:
    """After the accept: send every message back with its type until the client disconnects."""
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        # Exactly one of text/bytes is set (ASGI www spec 2.5); echo it back with the same type.
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] == "http":
        await receive()
        await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"WebSocket echo only\n"})
        return
    if scope["type"] != "websocket":
        return
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await echo(receive, send)
