"""An echo or broadcast that loses, duplicates and reorders chosen messages, for accounting tests.

Messages are picked by the envelope seq (``q``) of their sender (``s``); the envelope is the whole
message or its ``client`` member. Configuration, read at import (comma-separated seqs):

* ``HARNESS_LOSSY_DROP``: never forwarded.
* ``HARNESS_LOSSY_DUPLICATE``: forwarded twice in a row.
* ``HARNESS_LOSSY_REORDER``: held back and forwarded right after the sender's next message.
* ``HARNESS_LOSSY_MODE``: ``echo`` (default: back to the sender) or ``broadcast`` (to every
  socket on the same path).

A seq should be in at most one list, and a reordered seq must not be the sender's last message
(it would never be released). Messages that are not envelopes pass through unchanged.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from harness.testing._asgi import Receive, Scope, Send, accept, not_found, outgoing
from harness.testing.broadcast import _members, fan_out

__all__ = ["DROP", "DUPLICATE", "MODE", "REORDER", "app"]


def _seqs(name: str) -> frozenset[int]:
    raw = os.environ.get(name, "")
    return frozenset(int(part) for part in raw.split(",") if part.strip())


DROP = _seqs("HARNESS_LOSSY_DROP")
DUPLICATE = _seqs("HARNESS_LOSSY_DUPLICATE")
REORDER = _seqs("HARNESS_LOSSY_REORDER")
MODE = os.environ.get("HARNESS_LOSSY_MODE", "echo")
if MODE not in ("echo", "broadcast"):
    raise ValueError(f"HARNESS_LOSSY_MODE must be 'echo' or 'broadcast', got {MODE!r}")


def _envelope_key(event: Any) -> tuple[str, int] | None:
    payload = event.get("text") if event.get("text") is not None else event.get("bytes")
    try:
        obj = orjson.loads(payload or b"")
    except orjson.JSONDecodeError:
        return None
    if isinstance(obj, dict) and isinstance(obj.get("client"), dict):
        obj = obj["client"]
    if not isinstance(obj, dict) or not isinstance(obj.get("s"), str) or type(obj.get("q")) is not int:
        return None
    return obj["s"], obj["q"]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "websocket":
        await not_found(scope, receive, send)
        return
    if not await accept(receive, send):
        return
    path = scope["path"]
    _members[path].append(send)
    # Held messages are per sender: a reordered seq is released after that sender's next message.
    held: dict[str, dict[str, Any]] = {}

    async def forward(message: dict[str, Any]) -> None:
        if MODE == "broadcast":
            await fan_out(path, message)
        else:
            await send(message)

    try:
        while True:
            event = await receive()
            if event["type"] != "websocket.receive":
                return
            message = outgoing(event)
            key = _envelope_key(event)
            if key is None:
                await forward(message)
                continue
            sender, seq = key
            if seq in DROP:
                continue
            if seq in REORDER:
                held[sender] = message
                continue
            await forward(message)
            if seq in DUPLICATE:
                await forward(message)
            if sender in held:
                await forward(held.pop(sender))
    finally:
        _members[path].remove(send)
