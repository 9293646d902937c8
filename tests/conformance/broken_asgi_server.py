"""A deliberately non-conforming ASGI server, built as middleware around the probe so any real server can host it.

Served by uvicorn, it changes what the probe sees and what reaches uvicorn the way a careless server would: the
scope loses its types and splits (``query_string`` as str, an empty ``scheme``, ``subprotocols`` not comma-split),
accept headers and the chosen subprotocol are dropped, the close reason is dropped, and a close before accept is
answered with HTTP 200 instead of 403 (through uvicorn's denial-response extension). The checks must rate each of
these FAILED while the same probe passes on plain uvicorn.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from harness.conformance.asgi_probe import Message, Receive, Send
from harness.conformance.asgi_probe import app as probe

__all__ = ["app"]


def _break_scope(scope: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    broken = dict(scope)
    raw = scope.get("query_string", b"")
    broken["query_string"] = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    broken["scheme"] = ""
    offered = [value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"sec-websocket-protocol"]
    broken["subprotocols"] = offered
    return broken


async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    if scope.get("type") != "websocket":
        await probe(scope, receive, send)
        return
    accepted = False

    async def careless_send(message: Message) -> None:
        nonlocal accepted
        kind = message.get("type")
        if kind == "websocket.accept":
            accepted = True
            message = {"type": "websocket.accept"}
        elif kind == "websocket.close" and not accepted:
            await send({"type": "websocket.http.response.start", "status": 200, "headers": []})
            await send({"type": "websocket.http.response.body", "body": b""})
            return
        elif kind == "websocket.close":
            message = {"type": "websocket.close", "code": message.get("code", 1000)}
        await send(message)

    await probe(_break_scope(scope), receive, careless_send)
