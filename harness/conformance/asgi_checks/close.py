"""A4, closing: the app's close code and reason, the disconnect event after either side closes or the TCP
connection drops, a close before accept, and sends after the end (ASGI www 2.5 §Close, §Disconnect)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.conformance.asgi_checks.context import (
    WWW,
    AsgiCheckTable,
    AsgiContext,
    AsgiResult,
    Outcome,
    RunFn,
    finish,
    handshake,
    judged,
    new_token,
)
from harness.conformance.asgi_client import Message
from harness.conformance.model import CloseVerdict, Verdict

__all__ = ["CLOSE"]

CLOSE = AsgiCheckTable("close")

_CLOSE_SRC = f'{WWW} §Close: "the server must close the socket with the close code passed in the message"'
_DISC_SRC = f"{WWW} §Disconnect"
_REASON_UNICODE = "ciao ü€"
#: The app closes with 4001 and the reason "bye": one session a run serves A4.2, A4.3 and A4.5.
_BYE = "&code=4001&reason=bye"

AppCloseJudge = Callable[[Message, list[dict[str, Any]]], Outcome]
ClientCloseJudge = Callable[[dict[str, Any] | None], Outcome]


async def _app_close_session(ctx: AsgiContext, query: str) -> tuple[Message, list[dict[str, Any]], list[str]]:
    token = new_token()
    conn, log = await handshake(ctx, f"/close?token={token}{query}")
    msg = Message("eof")
    if conn is not None and conn.upgraded:
        msg = await conn.recv(ctx.timeout)
        if msg.kind == "close":
            # Echo the server's code so the closing handshake completes the normal way (RFC 6455 §5.5.1).
            conn.send_close(msg.code)
            await conn.drain()
            tail = await conn.recv(ctx.timeout)
            if tail.kind in ("text", "binary"):
                log.add("!", "data after the close frame")
    await finish(conn, ctx)
    obs = await ctx.observations(token, lambda e: any(x.get("type") == "websocket.disconnect" for x in e))
    return msg, obs, log.lines()


def _on_app_close(session: str, query: str) -> Callable[[AppCloseJudge], RunFn]:
    """Judge the close frame the app's ``/close`` with ``query`` gave, and what the probe recorded after it."""

    def wrap(judge: AppCloseJudge) -> RunFn:
        async def run(ctx: AsgiContext) -> AsgiResult:
            msg, obs, log = await ctx.shared(session, lambda: _app_close_session(ctx, query))
            behaviour, notes = judge(msg, obs)
            close = CloseVerdict.OK if msg.kind == "close" else CloseVerdict.UNCLEAN
            return AsgiResult(behaviour, notes, close, msg.code, log)

        return run

    return wrap


def _reason_is(msg: Message, expected: str) -> Outcome:
    if msg.kind == "close" and msg.reason == expected.encode():
        return Verdict.OK, []
    return Verdict.FAILED, [f"close reason {msg.reason!r}; expected {expected!r}"]


async def _client_close_session(ctx: AsgiContext, how: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The app waits for the client to leave; ``how`` is "reason" (4002 + reason), "empty" (no payload) or "drop"."""
    token = new_token()
    conn, log = await handshake(ctx, f"/disconnect-record?token={token}")
    if conn is not None and conn.upgraded:
        await conn.recv(ctx.timeout)  # the app's "ready": it is now waiting in receive()
        if how == "drop":
            await conn.abort()
        else:
            await conn.close_and_wait(ctx.timeout, 4002 if how == "reason" else None, b"client-bye")
    await finish(conn, ctx)
    obs = await ctx.observations(token, lambda e: any(x.get("type") == "websocket.disconnect" for x in e))
    return next((x for x in obs if x.get("type") == "websocket.disconnect"), None), log.lines()


def _on_client_close(how: str) -> Callable[[ClientCloseJudge], RunFn]:
    """Judge the disconnect event the app got when the client left ``how`` ("reason", "empty" or "drop")."""

    def wrap(judge: ClientCloseJudge) -> RunFn:
        async def run(ctx: AsgiContext) -> AsgiResult:
            event, log = await ctx.shared(f"client-close-{how}", lambda: _client_close_session(ctx, how))
            return judged(judge(event), log)

        return run

    return wrap


async def _reject_session(ctx: AsgiContext) -> tuple[int | None, dict[str, Any] | None, list[str]]:
    token = new_token()
    conn, log = await handshake(ctx, f"/reject?token={token}")
    status = conn.head.status if conn is not None and conn.head else None
    await finish(conn, ctx)
    obs = await ctx.observations(token, lambda e: any("after_close" in x for x in e))
    after = next((x["after_close"] for x in obs if "after_close" in x), None)
    return status, after, log.lines()


async def _send_raised(ctx: AsgiContext, path: str, *, close_first: bool) -> AsgiResult:
    token = new_token()
    conn, log = await handshake(ctx, f"{path}?token={token}")
    late: list[str] = []
    if conn is not None and conn.upgraded:
        if close_first:
            msg = await conn.recv(ctx.timeout)
            after = await conn.recv(0.5 * ctx.unit)
            if after.kind in ("text", "binary"):
                late.append(f"a {after.kind} frame after the close frame")
            conn.send_close(msg.code)
            await conn.drain()
        else:
            await conn.close_and_wait(ctx.timeout)
    await finish(conn, ctx)
    obs = await ctx.observations(token, lambda e: any("send" in x for x in e))
    sent = next((x["send"] for x in obs if "send" in x), None)
    if late:
        return AsgiResult(Verdict.FAILED, late, wire_log=log.lines())
    if sent is None:
        return AsgiResult(Verdict.FAILED, ["the probe did not report the send"], wire_log=log.lines())
    if sent["is_oserror"]:
        return AsgiResult(Verdict.OK, [f"raised {sent['exception']} (an OSError)"])
    if sent["raised"]:
        return AsgiResult(Verdict.NON_STRICT, [f"raised {sent['exception']}, not an OSError subclass"])
    return AsgiResult(Verdict.NON_STRICT, ["send() returned without raising"])


@CLOSE.check(
    "A4.1",
    f'{_CLOSE_SRC} "(or 1000 if none is specified)"',
    "app close, default code",
)
@_on_app_close("close-default", "")
def _j_default_code(msg: Message, _: list[dict[str, Any]]) -> Outcome:
    if msg.kind == "close" and msg.code == 1000:
        return Verdict.OK, []
    return Verdict.FAILED, [f"got {msg.kind} code {msg.code}; expected 1000"]


@CLOSE.check(
    "A4.2",
    _CLOSE_SRC,
    "app close 4001",
)
@_on_app_close("close-4001", _BYE)
def _j_custom_code(msg: Message, _: list[dict[str, Any]]) -> Outcome:
    if msg.kind == "close" and msg.code == 4001:
        return Verdict.OK, []
    return Verdict.FAILED, [f"got {msg.kind} code {msg.code}; expected 4001"]


@CLOSE.check(
    "A4.3",
    f'{WWW} §Close: "reason -- A reason given for the closure, can be any string"',
    "app close reason",
)
@_on_app_close("close-4001", _BYE)
def _j_reason_bye(msg: Message, _: list[dict[str, Any]]) -> Outcome:
    return _reason_is(msg, "bye")


@CLOSE.check(
    "A4.4",
    f'{WWW} §Close: "reason ... can be any string"',
    "non-ASCII close reason",
)
@_on_app_close("close-unicode", "&code=4003&reason=ciao%20%C3%BC%E2%82%AC")
def _j_reason_unicode(msg: Message, _: list[dict[str, Any]]) -> Outcome:
    return _reason_is(msg, _REASON_UNICODE)


@CLOSE.check(
    "A4.5",
    f'{_DISC_SRC}: "Sent to the application when ... the server closing the connection"',
    "disconnect after app close",
)
@_on_app_close("close-4001", _BYE)
def _j_disconnect_after_app_close(_: Message, obs: list[dict[str, Any]]) -> Outcome:
    event = next((x for x in obs if x.get("type") == "websocket.disconnect"), None)
    if event and event["code_type"] == "int":
        return Verdict.OK, [f"disconnect code {event['code']}"]
    return Verdict.FAILED, [f"no websocket.disconnect with an int code after the app closed: {event}"]


@CLOSE.check(
    "A4.6",
    f'{_DISC_SRC}: "code (int) -- The WebSocket close code"',
    "client close code to app",
)
@_on_client_close("reason")
def _j_client_code(event: dict[str, Any] | None) -> Outcome:
    if event and event["code"] == 4002 and event["code_type"] == "int":
        return Verdict.OK, []
    return Verdict.FAILED, [f"disconnect event {event}; expected code 4002"]


@CLOSE.check(
    "A4.7",
    f'{_DISC_SRC}: "reason (Unicode string) -- A reason given for the disconnect" (2.5)',
    "client close reason to app",
)
@_on_client_close("reason")
def _j_client_reason(event: dict[str, Any] | None) -> Outcome:
    if event is None:
        return Verdict.FAILED, ["no websocket.disconnect"]
    if event["reason"] == "client-bye":
        return Verdict.OK, []
    if not event["reason"]:
        return Verdict.UNIMPLEMENTED, [f"disconnect has no reason (has_reason={event['has_reason']}); added in 2.5"]
    return Verdict.FAILED, [f"disconnect reason {event['reason']!r}; expected 'client-bye'"]


@CLOSE.check(
    "A4.8",
    f'{_DISC_SRC}: "If no code was received ... the server should set this to 1005"',
    "disconnect 1005 without a code",
)
@_on_client_close("empty")
def _j_no_code(event: dict[str, Any] | None) -> Outcome:
    if event is None:
        return Verdict.FAILED, ["no websocket.disconnect"]
    if event["code"] == 1005:
        return Verdict.OK, []
    return Verdict.NON_STRICT, [f"disconnect code {event['code']!r} for a close frame without a code"]


@CLOSE.check(
    "A4.9",
    f'{_DISC_SRC}: "Sent to the application when ... loss of the socket"',
    "disconnect after TCP loss",
)
@_on_client_close("drop")
def _j_drop(event: dict[str, Any] | None) -> Outcome:
    if event is None:
        return Verdict.FAILED, ["no websocket.disconnect after the TCP connection was lost"]
    if event["code_type"] == "int":
        return Verdict.OK, [f"disconnect code {event['code']}"]
    return Verdict.FAILED, [f"disconnect code {event['code']!r} is not an int"]


@CLOSE.check(
    "A4.10",
    f'{WWW} §Close: "before the socket is accepted, the server must close the connection with a HTTP 403"',
    "pre-accept close is 403",
)
async def _a4_reject_status(ctx: AsgiContext) -> AsgiResult:
    status, _, log = await ctx.shared("reject", lambda: _reject_session(ctx))
    if status == 403:
        return AsgiResult(Verdict.OK)
    return AsgiResult(Verdict.FAILED, [f"HTTP {status}; expected 403"], wire_log=log)


@CLOSE.check(
    "A4.11",
    f"{_DISC_SRC}: sent when the server closes the connection (asgiref#381)",
    "pre-accept close then disconnect",
)
async def _a4_reject_disconnect(ctx: AsgiContext) -> AsgiResult:
    _, after, log = await ctx.shared("reject", lambda: _reject_session(ctx))
    if after and after.get("type") == "websocket.disconnect":
        return AsgiResult(Verdict.OK, [f"disconnect code {after['code']}"])
    return AsgiResult(Verdict.FAILED, [f"after the pre-accept close the app got {after}"], wire_log=log)


@CLOSE.check(
    "A4.12",
    f'{WWW} §Disconnected Client: "send() ... on a closed connection the server should raise" an OSError',
    "send after app close",
)
async def _a4_send_after_close(ctx: AsgiContext) -> AsgiResult:
    return await _send_raised(ctx, "/send-after-close", close_first=True)


@CLOSE.check(
    "A4.13",
    f'{WWW} §Disconnect: "you should expect future calls to send() to raise an exception"',
    "send after disconnect",
)
async def _a4_send_after_disconnect(ctx: AsgiContext) -> AsgiResult:
    return await _send_raised(ctx, "/send-after-disconnect", close_first=False)
