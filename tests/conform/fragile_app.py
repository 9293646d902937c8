"""An ASGI app that breaks under malformed input, for the robustness group's tests.

``/drop``: a binary message makes it close every other client's socket. ``/crash``: a text message that is not
JSON kills the whole server process. ``/guarded/drop``: as ``/drop``, behind an origin check like Channels'
(a socket without the site's own Origin is refused with HTTP 403). ``/refuse``: every socket is refused. Anything
else is echoed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["app"]

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

_clients: dict[int, Send] = {}


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "websocket":
        return
    await receive()
    headers = {bytes(k).decode(): bytes(v).decode() for k, v in scope["headers"]}
    guarded = scope["path"].startswith("/guarded")
    if scope["path"] == "/refuse" or (guarded and headers.get("origin") != f"http://{headers.get('host')}"):
        await send({"type": "websocket.close"})
        return
    path = scope["path"].removeprefix("/guarded")
    await send({"type": "websocket.accept"})
    me = id(send)
    _clients[me] = send
    try:
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            if event.get("bytes") is not None and path == "/drop":
                for other, their_send in list(_clients.items()):
                    if other != me:
                        await their_send({"type": "websocket.close", "code": 1011})
                continue
            text = event.get("text")
            if text is not None and path == "/crash":
                try:
                    json.loads(text)
                except ValueError:
                    os._exit(3)
            await send({"type": "websocket.send", "text": text, "bytes": event.get("bytes")})
    finally:
        _clients.pop(me, None)
