"""A2, accepting: the handshake, accept headers, subprotocols, sends before and accepts after accept, and an app
that returns or raises instead (ASGI www 2.5 §Connect, §Accept)."""

from __future__ import annotations

from harness.conformance.asgi_checks.context import (
    WWW,
    AsgiCheckTable,
    AsgiContext,
    AsgiResult,
    finish,
    handshake,
    new_token,
    refused,
)
from harness.conformance.asgi_client import Message
from harness.conformance.asgi_probe import ACCEPT_HEADERS
from harness.conformance.model import CloseVerdict, Verdict

__all__ = ["ACCEPT"]

ACCEPT = AsgiCheckTable("accept")


async def _accept_headers_session(ctx: AsgiContext) -> tuple[list[tuple[str, str]] | None, list[str]]:
    conn, log = await handshake(ctx, "/accept-headers")
    heads = conn.head.headers if conn is not None and conn.upgraded and conn.head else None
    await finish(conn, ctx)
    return heads, log.lines()


async def _refusal_check(ctx: AsgiContext, path: str, good: tuple[int, ...]) -> AsgiResult:
    conn, log = await handshake(ctx, path)
    status = conn.head.status if conn is not None and conn.head else None
    await finish(conn, ctx)
    if status == 101:
        return AsgiResult(Verdict.FAILED, ["the handshake completed"], wire_log=log.lines())
    if status in good:
        return AsgiResult(Verdict.OK, [f"HTTP {status}"])
    if status is not None and 400 <= status < 600:
        return AsgiResult(Verdict.NON_STRICT, [f"HTTP {status}"])
    return AsgiResult(Verdict.NON_STRICT, [f"{refused(conn)}: the client cannot tell why"], wire_log=log.lines())


@ACCEPT.check(
    "A2.1",
    f'{WWW} §Accept: "Sent by the application when it wishes to accept an incoming connection"',
    "101 with a valid Sec-WebSocket-Accept",
)
async def _a2_handshake(ctx: AsgiContext) -> AsgiResult:
    conn, log = await handshake(ctx, "/subprotocol")
    ok = conn is not None and conn.accept_ok
    status = conn.head.status if conn and conn.head else None
    await finish(conn, ctx)
    if ok:
        return AsgiResult(Verdict.OK)
    return AsgiResult(Verdict.FAILED, [f"status {status}, or a wrong Sec-WebSocket-Accept"], wire_log=log.lines())


@ACCEPT.check(
    "A2.2",
    f'{WWW} §Accept: "headers ... Added in spec version 2.1"',
    "accept headers delivered",
)
async def _a2_accept_headers(ctx: AsgiContext) -> AsgiResult:
    heads, log = await ctx.shared("accept-headers", lambda: _accept_headers_session(ctx))
    if heads is None:
        return AsgiResult(Verdict.FAILED, ["no 101"], wire_log=log)
    wanted = [(n.decode(), v.decode()) for n, v in ACCEPT_HEADERS]
    missing = [h for h in wanted if h not in heads]
    if missing:
        return AsgiResult(Verdict.FAILED, [f"accept headers missing from the 101: {missing}"], wire_log=log)
    return AsgiResult(Verdict.OK)


@ACCEPT.check(
    "A2.3",
    f'{WWW} §Accept: "Order must be preserved in the HTTP response"',
    "accept header order",
)
async def _a2_accept_header_order(ctx: AsgiContext) -> AsgiResult:
    heads, log = await ctx.shared("accept-headers", lambda: _accept_headers_session(ctx))
    names = [n.decode() for n, _ in ACCEPT_HEADERS]
    seen = [n for n, _ in heads or [] if n in names]
    if sorted(seen) != sorted(names):
        return AsgiResult(Verdict.NOT_APPLICABLE, ["the accept headers are not delivered (see A2.2)"])
    if seen == names:
        return AsgiResult(Verdict.OK)
    return AsgiResult(Verdict.FAILED, [f"accept headers in order {seen}"], wire_log=log)


@ACCEPT.check(
    "A2.4",
    f'{WWW} §Accept: "subprotocol ... The subprotocol the server wishes to accept"',
    "chosen subprotocol echoed",
)
async def _a2_subprotocol(ctx: AsgiContext) -> AsgiResult:
    conn, log = await handshake(ctx, "/subprotocol?choose=p2", (("Sec-WebSocket-Protocol", "p1, p2"),))
    chosen = conn.head.get("sec-websocket-protocol") if conn and conn.upgraded and conn.head else None
    upgraded = conn is not None and conn.upgraded
    await finish(conn, ctx)
    if upgraded and chosen == "p2":
        return AsgiResult(Verdict.OK)
    return AsgiResult(Verdict.FAILED, [f"upgraded={upgraded}, Sec-WebSocket-Protocol {chosen!r}"], wire_log=log.lines())


@ACCEPT.check(
    "A2.5",
    f'{WWW} §Accept: "subprotocol ... Optional; if missing defaults to None"',
    "no subprotocol header when none chosen",
)
async def _a2_no_subprotocol(ctx: AsgiContext) -> AsgiResult:
    conn, log = await handshake(ctx, "/subprotocol", (("Sec-WebSocket-Protocol", "p1, p2"),))
    chosen = conn.head.get("sec-websocket-protocol") if conn and conn.head else None
    upgraded = conn is not None and conn.upgraded
    await finish(conn, ctx)
    if upgraded and chosen is None:
        return AsgiResult(Verdict.OK)
    return AsgiResult(Verdict.FAILED, [f"upgraded={upgraded}, Sec-WebSocket-Protocol {chosen!r}"], wire_log=log.lines())


@ACCEPT.check(
    "A2.6",
    f'{WWW} §Connect: "not complete the handshake until it gets a reply"',
    "send before accept",
)
async def _a2_send_before_accept(ctx: AsgiContext) -> AsgiResult:
    token = new_token()
    conn, log = await handshake(ctx, f"/send-before-accept?token={token}")
    upgraded = conn is not None and conn.upgraded
    what = refused(conn)
    await finish(conn, ctx)
    obs = await ctx.observations(token, lambda e: any("send" in x for x in e))
    sent = next((x["send"] for x in obs if "send" in x), None)
    if upgraded:
        return AsgiResult(
            Verdict.FAILED, ["the handshake completed although the app never accepted"], wire_log=log.lines()
        )
    if sent and sent["raised"]:
        return AsgiResult(Verdict.OK, [f"send raised {sent['exception']}; client saw {what}"])
    return AsgiResult(Verdict.INFORMATIONAL, [f"send before accept did not raise; client saw {what}"])


@ACCEPT.check(
    "A2.7",
    f"{WWW} §Accept (a second accept is not specified)",
    "double accept",
)
async def _a2_double_accept(ctx: AsgiContext) -> AsgiResult:
    token = new_token()
    conn, log = await handshake(ctx, f"/double-accept?token={token}")
    msg = await conn.recv(ctx.timeout) if conn is not None and conn.upgraded else Message("eof")
    await finish(conn, ctx)
    obs = await ctx.observations(token, lambda e: any("second_accept" in x for x in e))
    second = next((x["second_accept"] for x in obs if "second_accept" in x), None)
    raised = f"second accept raised {second['exception']}" if second and second["raised"] else "second accept ignored"
    if msg.kind == "text" and msg.payload == b"after":
        return AsgiResult(Verdict.OK, [raised, "the connection stayed usable"])
    return AsgiResult(Verdict.INFORMATIONAL, [raised, f"then the client saw {msg.kind}"])


@ACCEPT.check(
    "A2.8",
    f'{WWW} §Connect: "must be responded to with either an Accept message or a Close message"',
    "app returns without accept",
)
async def _a2_return_without_accept(ctx: AsgiContext) -> AsgiResult:
    return await _refusal_check(ctx, "/return-without-accept", tuple(range(400, 600)))


@ACCEPT.check(
    "A2.9",
    f'{WWW} §Connection Scope: "if the application dies the socket should be closed"',
    "exception before accept",
)
async def _a2_raise_before(ctx: AsgiContext) -> AsgiResult:
    return await _refusal_check(ctx, "/raise-before", (500,))


@ACCEPT.check(
    "A2.10",
    f'{WWW} §Connection Scope: "if the application dies the socket should be closed"; RFC 6455 §7.4.1 1011',
    "exception after accept",
)
async def _a2_raise_after(ctx: AsgiContext) -> AsgiResult:
    conn, log = await handshake(ctx, "/raise-after")
    if conn is None or not conn.upgraded:
        await finish(conn, ctx)
        return AsgiResult(Verdict.FAILED, [f"{refused(conn)} before the app accepted"], wire_log=log.lines())
    msg = await conn.recv(ctx.timeout)
    while msg.kind in ("text", "binary", "pong"):
        msg = await conn.recv(ctx.timeout)
    if msg.kind == "close":
        await conn.close_and_wait(ctx.timeout, msg.code)
    conn.writer.close()
    if msg.kind == "close" and msg.code == 1011:
        return AsgiResult(Verdict.OK, close=CloseVerdict.OK, close_code=1011)
    if msg.kind == "close":
        return AsgiResult(Verdict.NON_STRICT, [f"closed with {msg.code}, not 1011"], CloseVerdict.WRONG_CODE, msg.code)
    if msg.kind == "eof":
        return AsgiResult(Verdict.NON_STRICT, ["TCP closed without a close frame"], CloseVerdict.UNCLEAN)
    return AsgiResult(
        Verdict.FAILED, ["the socket stayed open after the app died"], CloseVerdict.FAILED, None, log.lines()
    )
