"""The JSON WebSocket consumer every endpoint of the reference app builds on.

It owns the behaviour docs/protocols.md promises for all endpoints: one JSON object per text frame with a ``type``
key, an ``error`` reply naming the problem for anything malformed (the socket stays open), and close code 4009 for a
frame over ``WS_MAX_MESSAGE_BYTES``. Subclasses register one coroutine per accepted ``type``.

Groups are joined with :meth:`JsonSocketConsumer.join_group`, which also re-joins them every ``GROUP_REFRESH_S``
(docs/reliability.md#how-the-reference-app-recovers-per-fault): a membership Redis lost in a restart comes back
within that period, and the layer's ``group_expiry`` can be short enough that the channels of a killed process leave
every group on their own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

import orjson
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

__all__ = [
    "CLOSE_MESSAGE_TOO_BIG",
    "ECHO_FIELDS",
    "JsonSocketConsumer",
    "MessageError",
    "Payload",
    "echo_fields",
    "require",
]

logger = logging.getLogger("reference_app.jsonsocket")

#: "Message too big", in the application range. RFC 6455's own 1009 would fit, but Daphne (autobahn) lets an app close
#: only with 1000 or 3000-4999: asking it for 1009 raises inside the server and the client sees 1011 instead.
CLOSE_MESSAGE_TOO_BIG = 4009
#: Fields a client may add to any message; the server returns them untouched in the direct reply or broadcast.
ECHO_FIELDS = ("id", "seq", "sent_at", "client")

Payload = dict[str, Any]
Handler = Callable[[Payload], Awaitable[None]]


class MessageError(Exception):
    """A client message the server refuses; turned into an ``error`` reply, never a crash."""

    def __init__(self, code: str, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.field = field


def require(payload: Mapping[str, Any], field: str, kind: type | tuple[type, ...], expected: str) -> Any:
    """Return ``payload[field]`` when present and of ``kind``; raise a MessageError naming the field otherwise."""
    if field not in payload:
        raise MessageError("missing_field", f"'{field}' is required: expected {expected}", field=field)
    value = payload[field]
    # bool is an int subclass; a JSON true is never a valid number here.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise MessageError("invalid_field", f"'{field}' must be {expected}, got {_json_type(value)}", field=field)
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _json_type(value: object) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def echo_fields(payload: Mapping[str, Any]) -> Payload:
    return {key: payload[key] for key in ECHO_FIELDS if key in payload}


class JsonSocketConsumer(AsyncWebsocketConsumer):
    """Base for the app's JSON endpoints: decoding, limits, dispatch by ``type`` and error replies."""

    #: Endpoint name used in ``welcome`` messages and logs.
    endpoint: ClassVar[str] = "json"
    #: Accepted top-level keys per message type, beyond ``type`` and the echo fields.
    fields: ClassVar[dict[str, frozenset[str]]] = {"ping": frozenset()}

    def handlers(self) -> dict[str, Handler]:
        return {"ping": self.on_ping}

    async def join_group(self, group: str) -> None:
        """Join ``group`` now and keep re-joining it while the socket is open (every ``GROUP_REFRESH_S``)."""
        await self.channel_layer.group_add(group, self.channel_name)
        joined: list[str] = self.__dict__.setdefault("_joined", [])
        joined.append(group)
        interval: float = settings.GROUP_REFRESH_S
        if interval > 0 and self.__dict__.get("_refresher") is None:
            self.__dict__["_refresher"] = asyncio.get_running_loop().create_task(self._refresh_groups(interval))

    async def _refresh_groups(self, interval: float) -> None:
        # Spread over the period: sockets that connected together must not refresh together.
        await asyncio.sleep(random.uniform(0.5, 1.0) * interval)
        while True:
            for group in list(self.__dict__.get("_joined", ())):
                try:
                    await self.channel_layer.group_add(group, self.channel_name)
                except Exception as exc:
                    # Redis is down: the next round tries again; the socket itself is the server's business.
                    logger.warning("re-joining %s failed (%s: %s)", group, type(exc).__name__, exc)
            await asyncio.sleep(interval)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # However the consumer ends (a disconnect, an exception), a refresher left running would keep a dead
            # channel in its groups for ever.
            refresher: asyncio.Task[None] | None = self.__dict__.pop("_refresher", None)
            if refresher is not None:
                refresher.cancel()

    def _handler_table(self) -> dict[str, Handler]:
        # Built on the first message and kept: handlers() allocates, and receive() is the hot path.
        table: dict[str, Handler] | None = self.__dict__.get("_handlers")
        if table is None:
            table = self.__dict__["_handlers"] = self.handlers()
        return table

    async def on_ping(self, payload: Payload) -> None:
        await self.send_json({"type": "pong", **echo_fields(payload)})

    async def welcome(self, **extra: Any) -> None:
        await self.send_json({"type": "welcome", "endpoint": self.endpoint, "server_pid": os.getpid(), **extra})

    async def send_json(self, content: Mapping[str, Any]) -> None:
        await self.send(text_data=orjson.dumps(content).decode())

    async def send_error(self, code: str, detail: str, *, field: str | None = None, ref: Any = None) -> None:
        message: Payload = {"type": "error", "code": code, "detail": detail}
        if field is not None:
            message["field"] = field
        if ref is not None:
            message["ref"] = ref
        await self.send_json(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.send_error(
                "binary_frame",
                "this endpoint takes JSON in text frames; a binary frame was received and ignored",
            )
            return
        limit: int = settings.WS_MAX_MESSAGE_BYTES
        # Most frames are far under the limit; only encode when the character count alone cannot decide.
        if len(text_data) > limit or (len(text_data) * 4 > limit and len(text_data.encode()) > limit):
            size = len(text_data.encode())
            await self.send_error(
                "too_large", f"message is {size} bytes; the limit is {limit} bytes (WS_MAX_MESSAGE_BYTES)"
            )
            await self.close(code=CLOSE_MESSAGE_TOO_BIG)
            return
        try:
            payload = orjson.loads(text_data)
        except orjson.JSONDecodeError as exc:
            await self.send_error("invalid_json", f"message is not valid JSON: {exc}")
            return
        if not isinstance(payload, dict):
            await self.send_error("not_an_object", f"message must be a JSON object, got {_json_type(payload)}")
            return
        ref = payload.get("id")
        try:
            message_type = require(payload, "type", str, "a message type string")
            handlers = self._handler_table()
            handler = handlers.get(message_type)
            if handler is None:
                accepted = ", ".join(sorted(handlers))
                raise MessageError(
                    "unknown_type",
                    f"unknown message type {message_type!r}; accepted: {accepted}",
                    field="type",
                )
            allowed = self.fields[message_type]
            unknown = sorted(key for key in payload if key != "type" and key not in ECHO_FIELDS and key not in allowed)
            if unknown:
                raise MessageError(
                    "unknown_field",
                    f"unknown field(s) {', '.join(unknown)} for type {message_type!r}; accepted: "
                    f"{', '.join(sorted(allowed | set(ECHO_FIELDS)))}",
                    field=unknown[0],
                )
            await handler(payload)
        except MessageError as exc:
            await self.send_error(exc.code, exc.detail, field=exc.field, ref=ref)
