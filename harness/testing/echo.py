"""Echo: every message goes back to the socket that sent it, unchanged."""

from __future__ import annotations

from harness.testing._asgi import Receive, Scope, Send, accept, not_found, send_message

__all__ = ["app"]


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
        await send_message(send, event)
