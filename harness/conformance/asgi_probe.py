"""A raw ASGI probe application for the ``asgi`` conformance group (no Django, no Channels).

Each WebSocket path makes the app do one thing the ASGI 2.5 www spec talks about, so a check can watch what the
server does with it from the client side. What only the app can see (an exception raised by ``send``, the
``websocket.disconnect`` event after the client left) is recorded under a client-chosen ``token`` and read back
over plain HTTP at ``GET /observations/<token>``; the app therefore also answers HTTP, and names itself at
``GET /harness-probe`` (:data:`IDENTITY`), so that ``harness conform --target`` can tell whether it is there.

Run it with any ASGI server, e.g. ``python -m uvicorn harness.conformance.asgi_probe:app --ws wsproto`` or
``python -m daphne harness.conformance.asgi_probe:app``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qs

from harness.conformance.echo_app import Message, Receive, Send, echo, lifespan

__all__ = [
    "ACCEPT_HEADERS",
    "DENIAL_BODY_PARTS",
    "DENIAL_HEADERS",
    "DENIAL_STATUS",
    "IDENTITY",
    "IDENTITY_PATH",
    "app",
    "describe_scope",
]

#: Where the probe names itself, and what it answers there (JSON).
IDENTITY_PATH = "/harness-probe"
IDENTITY: dict[str, Any] = {"app": "harness.conformance.asgi_probe", "version": 1}

#: Extra headers ``/accept-headers`` passes in ``websocket.accept`` (order matters: the spec says it must be kept).
ACCEPT_HEADERS: list[tuple[bytes, bytes]] = [(b"x-probe-one", b"1"), (b"x-probe-two", b"2")]
DENIAL_STATUS = 401
DENIAL_HEADERS: list[tuple[bytes, bytes]] = [(b"content-type", b"text/plain"), (b"x-probe-denied", b"yes")]
#: Sent as two ``websocket.http.response.body`` messages, to check ``more_body`` is honoured.
DENIAL_BODY_PARTS: tuple[bytes, bytes] = (b"denied: ", b"by probe")

#: token -> what the app saw; a list because one token may collect several events.
_observations: dict[str, list[dict[str, Any]]] = {}
#: Bounded so a long-running server does not grow without limit when nobody reads the observations back.
_MAX_TOKENS = 4096
#: How long the app waits for an event the server should deliver (seconds); the checks wait longer than this.
_EVENT_WAIT = 3.0


def _record(token: str | None, entry: dict[str, Any]) -> None:
    if not token:
        return
    if token not in _observations and len(_observations) >= _MAX_TOKENS:
        _observations.pop(next(iter(_observations)))
    _observations.setdefault(token, []).append(entry)


def _type_name(value: object) -> str:
    return type(value).__name__


def _jsonable(value: object) -> object:
    """A JSON view of a scope value that keeps what the checks need: bytes become latin-1 text."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def describe_scope(scope: MutableMapping[str, Any]) -> dict[str, Any]:
    """Every scope key with its Python type name and a JSON view of its value.

    Header items and their elements get their own type names, since "byte string" is what the spec demands
    and the JSON view alone would hide it.
    """
    keys: dict[str, Any] = {}
    for key, value in scope.items():
        entry: dict[str, Any] = {"type": _type_name(value), "value": _jsonable(value)}
        if key == "headers" and isinstance(value, list | tuple):
            entry["item_types"] = [[_type_name(item)] + [_type_name(x) for x in item] for item in value]
        if key in ("client", "server", "subprotocols") and isinstance(value, list | tuple):
            entry["item_types"] = [_type_name(x) for x in value]
        if key == "extensions" and isinstance(value, dict):
            entry["value_types"] = {str(k): _type_name(v) for k, v in value.items()}
        keys[key] = entry
    return keys


def _query(scope: MutableMapping[str, Any]) -> dict[str, str]:
    raw = scope.get("query_string", b"")
    # A broken server may pass a str; the probe still has to route, the scope check reports the type.
    text = raw.decode("latin-1") if isinstance(raw, bytes | bytearray) else str(raw)
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _event_shape(message: Message) -> dict[str, Any]:
    return {
        "type": message.get("type"),
        "keys": sorted(message),
        "text_type": _type_name(message.get("text")),
        "bytes_type": _type_name(message.get("bytes")),
        "text": message.get("text") if isinstance(message.get("text"), str) else None,
        "bytes_hex": message["bytes"].hex() if isinstance(message.get("bytes"), bytes) else None,
        "code": message.get("code"),
        "code_type": _type_name(message.get("code")),
        "reason": message.get("reason"),
        "has_reason": "reason" in message,
    }


async def _try_send(send: Send, message: Message) -> dict[str, Any]:
    try:
        await send(message)
    except Exception as exc:  # the exception type is the observation, whatever it is
        return {"raised": True, "exception": type(exc).__name__, "is_oserror": isinstance(exc, OSError)}
    return {"raised": False, "exception": None, "is_oserror": False}


async def _receive_within(receive: Receive, timeout: float) -> Message | None:
    try:
        return await asyncio.wait_for(receive(), timeout)
    except TimeoutError:
        return None


async def _lifespan(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    def mark_state() -> None:
        state = scope.get("state")
        if isinstance(state, dict):
            # The scope check A1 looks for this key to tell a copied lifespan state from an empty dict.
            state["probe"] = "lifespan"

    await lifespan(receive, send, on_startup=mark_state)


async def _http(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    await receive()
    path: str = scope.get("path", "")
    status, body = 404, b'{"error": "not found"}'
    if path.startswith("/observations/"):
        token = path.removeprefix("/observations/")
        status, body = 200, json.dumps(_observations.get(token, [])).encode()
    elif path == IDENTITY_PATH:
        status, body = 200, json.dumps(IDENTITY).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def _drain_until_disconnect(receive: Receive, token: str | None, *, record: bool) -> None:
    while True:
        message = await receive()
        if record:
            _record(token, _event_shape(message))
        if message["type"] == "websocket.disconnect":
            return


async def _websocket(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    path: str = scope.get("path", "")
    query = _query(scope)
    token = query.get("token")
    first = await receive()
    if first.get("type") != "websocket.connect":
        _record(token, {"unexpected_first_event": _event_shape(first)})
        return

    if path.startswith("/scope"):
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps({"scope": describe_scope(scope), "first": first})})
        await _drain_until_disconnect(receive, token, record=False)
    elif path == "/accept-headers":
        await send({"type": "websocket.accept", "headers": ACCEPT_HEADERS})
        await _drain_until_disconnect(receive, token, record=False)
    elif path == "/subprotocol":
        chosen = query.get("choose")
        await send({"type": "websocket.accept", "subprotocol": chosen or None})
        await _drain_until_disconnect(receive, token, record=False)
    elif path == "/echo":
        await send({"type": "websocket.accept"})
        await echo(receive, send)
    elif path == "/record":
        # Acknowledge each event with a non-empty message so servers that drop empty sends still answer.
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            _record(token, _event_shape(message))
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": "ack"})
    elif path == "/send-empty":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": ""})
        await send({"type": "websocket.send", "bytes": b""})
        await send({"type": "websocket.send", "text": "end"})
        await _drain_until_disconnect(receive, token, record=False)
    elif path == "/burst":
        await send({"type": "websocket.accept"})
        for i in range(int(query.get("n", "100"))):
            await send({"type": "websocket.send", "text": str(i)})
        await _drain_until_disconnect(receive, token, record=False)
    elif path == "/close":
        await send({"type": "websocket.accept"})
        close: Message = {"type": "websocket.close"}
        if "code" in query:
            close["code"] = int(query["code"])
        if "reason" in query:
            close["reason"] = query["reason"]
        await send(close)
        await _drain_until_disconnect(receive, token, record=True)
    elif path == "/reject":
        await send({"type": "websocket.close"})
        # asgiref#381: the app must still be told the connection is gone.
        after = await _receive_within(receive, _EVENT_WAIT)
        _record(token, {"after_close": _event_shape(after) if after is not None else None})
    elif path == "/deny":
        extensions = scope.get("extensions") or {}
        advertised = isinstance(extensions, dict) and "websocket.http.response" in extensions
        _record(token, {"advertised": advertised})
        if advertised:
            await send({"type": "websocket.http.response.start", "status": DENIAL_STATUS, "headers": DENIAL_HEADERS})
            await send({"type": "websocket.http.response.body", "body": DENIAL_BODY_PARTS[0], "more_body": True})
            await send({"type": "websocket.http.response.body", "body": DENIAL_BODY_PARTS[1]})
        else:
            await send({"type": "websocket.close"})
        after = await _receive_within(receive, _EVENT_WAIT)
        _record(token, {"after_denial": _event_shape(after) if after is not None else None})
    elif path == "/raise-before":
        raise RuntimeError("asgi probe: deliberate exception before accept")
    elif path == "/raise-after":
        await send({"type": "websocket.accept"})
        raise RuntimeError("asgi probe: deliberate exception after accept")
    elif path == "/return-without-accept":
        return
    elif path == "/send-before-accept":
        _record(token, {"send": await _try_send(send, {"type": "websocket.send", "text": "too early"})})
        await send({"type": "websocket.close"})
    elif path == "/double-accept":
        await send({"type": "websocket.accept"})
        _record(token, {"second_accept": await _try_send(send, {"type": "websocket.accept"})})
        await send({"type": "websocket.send", "text": "after"})
        await _drain_until_disconnect(receive, token, record=False)
    elif path == "/send-after-close":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})
        _record(token, {"send": await _try_send(send, {"type": "websocket.send", "text": "after close"})})
        await _drain_until_disconnect(receive, token, record=False)
    elif path == "/send-after-disconnect":
        await send({"type": "websocket.accept"})
        await _drain_until_disconnect(receive, token, record=False)
        _record(token, {"send": await _try_send(send, {"type": "websocket.send", "text": "after disconnect"})})
    elif path == "/disconnect-record":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "ready"})
        await _drain_until_disconnect(receive, token, record=True)
    else:
        await send({"type": "websocket.close"})


async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    kind = scope.get("type")
    if kind == "lifespan":
        await _lifespan(scope, receive, send)
    elif kind == "http":
        await _http(scope, receive, send)
    elif kind == "websocket":
        await _websocket(scope, receive, send)
