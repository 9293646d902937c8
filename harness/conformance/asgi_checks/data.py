"""A3, data: empty, large, fragmented and ordered messages both ways, and pings the server answers itself
(ASGI www 2.5 §Receive, §Send)."""

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
    refused,
)
from harness.conformance.asgi_client import Connection, Message
from harness.conformance.frames import Opcode
from harness.conformance.model import Verdict

__all__ = ["DATA"]

DATA = AsgiCheckTable("data")

_LARGE = 512 * 1024  # under Daphne's 1 MiB default limit, so the check tests delivery and not the limit
_BURST = 200

RecordJudge = Callable[[list[dict[str, Any]], list[Message]], Outcome]


async def _send_empty_session(ctx: AsgiContext) -> tuple[list[Message], list[str]]:
    conn, log = await handshake(ctx, "/send-empty")
    got: list[Message] = []
    if conn is not None and conn.upgraded:
        while True:
            msg = await conn.recv(ctx.timeout)
            if msg.kind not in ("text", "binary"):
                break
            got.append(msg)
            if msg.kind == "text" and msg.payload == b"end":
                break
    await finish(conn, ctx)
    return got, log.lines()


async def _empty_sent(ctx: AsgiContext, kind: str) -> AsgiResult:
    got, log = await ctx.shared("send-empty", lambda: _send_empty_session(ctx))
    seen = [m.kind for m in got]
    if any(m.kind == kind and m.payload == b"" for m in got):
        return AsgiResult(Verdict.OK)
    return AsgiResult(Verdict.FAILED, [f"no empty {kind} message arrived; got {seen}"], wire_log=log)


async def _record_session(ctx: AsgiContext) -> tuple[list[dict[str, Any]], list[Message], list[str]]:
    """Client-to-app traffic on ``/record``: each data message is acknowledged by the app with "ack"."""
    token = new_token()
    conn, log = await handshake(ctx, f"/record?token={token}")
    got: list[Message] = []
    if conn is not None and conn.upgraded:
        for opcode, payload in (
            (Opcode.TEXT, b"hi"),
            (Opcode.BINARY, b"\x00\xff"),
            (Opcode.TEXT, b""),
            (Opcode.BINARY, b""),
        ):
            conn.send(opcode, payload)
        conn.send(Opcode.TEXT, b"frag-", fin=False)
        conn.send(Opcode.CONTINUATION, b"ment-", fin=False)
        conn.send(Opcode.PING, b"probe-ping")
        conn.send(Opcode.CONTINUATION, b"ed")
        await conn.drain()
        while sum(1 for m in got if m.kind == "text") < 5 or not any(m.kind == "pong" for m in got):
            msg = await conn.recv(ctx.timeout)
            if msg.kind not in ("text", "binary", "pong"):
                break
            got.append(msg)
    await finish(conn, ctx)
    obs = await ctx.observations(token, lambda e: any(x.get("type") == "websocket.disconnect" for x in e))
    return obs, got, log.lines()


def _received(obs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [x for x in obs if x.get("type") == "websocket.receive"]


def _on_record(judge: RecordJudge) -> RunFn:
    """Judge what the probe recorded of the client-to-app traffic on ``/record`` (one session a run)."""

    async def run(ctx: AsgiContext) -> AsgiResult:
        obs, got, log = await ctx.shared("record", lambda: _record_session(ctx))
        return judged(judge(obs, got), log)

    return run


async def _large_echoed(ctx: AsgiContext, opcode: Opcode) -> AsgiResult:
    payload = (b"0123456789abcdef" * (_LARGE // 16))[:_LARGE]
    conn, log = await handshake(ctx, "/echo")
    if conn is None or not conn.upgraded:
        await finish(conn, ctx)
        return AsgiResult(Verdict.FAILED, [refused(conn)], wire_log=log.lines())
    conn.send(opcode, payload)
    await conn.drain()
    msg = await conn.recv(ctx.timeout)
    await finish(conn, ctx)
    kind = "text" if opcode == Opcode.TEXT else "binary"
    if msg.kind == kind and msg.payload == payload:
        return AsgiResult(Verdict.OK, [f"{_LARGE} bytes echoed"])
    return AsgiResult(Verdict.FAILED, [f"got {msg.kind} of {len(msg.payload)} bytes"], wire_log=log.lines())


async def _burst_received(conn: Connection, ctx: AsgiContext) -> list[str]:
    """The texts of up to ``_BURST`` messages, until something other than a text message arrives."""
    got: list[str] = []
    while len(got) < _BURST:
        msg = await conn.recv(ctx.timeout)
        if msg.kind != "text":
            break
        got.append(msg.payload.decode())
    return got


def _in_order(got: list[str], what: str, log: list[str]) -> AsgiResult:
    """OK when ``got`` is "0" to ``_BURST - 1`` in order; otherwise where the order first broke."""
    if got == [str(i) for i in range(_BURST)]:
        return AsgiResult(Verdict.OK)
    first_diff = next((i for i, v in enumerate(got) if v != str(i)), len(got))
    return AsgiResult(Verdict.FAILED, [f"{len(got)} {what}, first out of order at {first_diff}"], wire_log=log)


@DATA.check(
    "A3.1",
    f'{WWW} §Send: "Exactly one of bytes or text must be non-None"',
    "empty text app to client",
)
async def _a3_empty_text(ctx: AsgiContext) -> AsgiResult:
    return await _empty_sent(ctx, "text")


@DATA.check(
    "A3.2",
    f'{WWW} §Send: "Exactly one of bytes or text must be non-None"',
    "empty bytes app to client",
)
async def _a3_empty_bytes(ctx: AsgiContext) -> AsgiResult:
    return await _empty_sent(ctx, "binary")


@DATA.check(
    "A3.3",
    f'{WWW} §Receive: "text ... The message content, if it was text mode"',
    "empty text client to app",
)
@_on_record
def _j_recv_empty_text(obs: list[dict[str, Any]], _: list[Message]) -> Outcome:
    if any(x["text"] == "" and x["bytes_type"] == "NoneType" for x in _received(obs)):
        return Verdict.OK, []
    return Verdict.FAILED, [f"no receive event with text '' among {len(_received(obs))} events"]


@DATA.check(
    "A3.4",
    f'{WWW} §Receive: "bytes ... The message content, if it was binary mode"',
    "empty bytes client to app",
)
@_on_record
def _j_recv_empty_bytes(obs: list[dict[str, Any]], _: list[Message]) -> Outcome:
    if any(x["bytes_hex"] == "" and x["text_type"] == "NoneType" for x in _received(obs)):
        return Verdict.OK, []
    return Verdict.FAILED, [f"no receive event with bytes b'' among {len(_received(obs))} events"]


@DATA.check(
    "A3.5",
    f'{WWW} §Receive: "Exactly one of bytes or text must be non-None"',
    "receive event shape",
)
@_on_record
def _j_exactly_one(obs: list[dict[str, Any]], _: list[Message]) -> Outcome:
    events = _received(obs)
    bad = [
        x["keys"]
        for x in events
        if [x["text_type"], x["bytes_type"]].count("NoneType") != 1
        or x["text_type"] not in ("str", "NoneType")
        or x["bytes_type"] not in ("bytes", "NoneType")
    ]
    if not events:
        return Verdict.FAILED, ["no receive events recorded"]
    if bad:
        return Verdict.FAILED, [f"events without exactly one str text / bytes bytes: {bad}"]
    return Verdict.OK, [f"{len(events)} events"]


@DATA.check(
    "A3.6",
    f'{WWW} §WebSocket: "should handle message fragmentation themselves, and deliver complete messages"',
    "fragmented message delivered whole",
)
@_on_record
def _j_fragments(obs: list[dict[str, Any]], _: list[Message]) -> Outcome:
    texts = [x["text"] for x in _received(obs)]
    if "frag-ment-ed" in texts:
        return Verdict.OK, []
    return Verdict.FAILED, [f"the three-fragment message was not delivered whole; texts {texts}"]


@DATA.check(
    "A3.7",
    f'{WWW} §WebSocket: "should handle PING/PONG messages themselves"',
    "ping answered, not delivered",
)
@_on_record
def _j_ping(obs: list[dict[str, Any]], got: list[Message]) -> Outcome:
    pongs = [m.payload for m in got if m.kind == "pong"]
    leaked = [x for x in obs if x.get("type") not in ("websocket.receive", "websocket.disconnect")]
    if b"probe-ping" not in pongs:
        return Verdict.NON_STRICT, [f"no pong with the ping's payload (pongs {pongs})"]
    if leaked or len(_received(obs)) != 5:
        return Verdict.FAILED, [f"the app saw {len(_received(obs))} receive events (5 sent) and {leaked}"]
    return Verdict.OK, []


@DATA.check(
    "A3.8",
    f"{WWW} §Receive/§Send (no size limit in the spec)",
    f"{_LARGE // 1024} KiB text round trip",
)
async def _a3_large_text(ctx: AsgiContext) -> AsgiResult:
    return await _large_echoed(ctx, Opcode.TEXT)


@DATA.check(
    "A3.9",
    f"{WWW} §Receive/§Send (no size limit in the spec)",
    f"{_LARGE // 1024} KiB binary round trip",
)
async def _a3_large_binary(ctx: AsgiContext) -> AsgiResult:
    return await _large_echoed(ctx, Opcode.BINARY)


@DATA.check(
    "A3.10",
    f"{WWW} §Receive; RFC 6455 §6.2 messages in order",
    f"{_BURST} client messages echoed in order",
)
async def _a3_order_in(ctx: AsgiContext) -> AsgiResult:
    conn, log = await handshake(ctx, "/echo")
    if conn is None or not conn.upgraded:
        await finish(conn, ctx)
        return AsgiResult(Verdict.FAILED, [refused(conn)], wire_log=log.lines())
    for i in range(_BURST):
        conn.send(Opcode.TEXT, str(i).encode())
    await conn.drain()
    got = await _burst_received(conn, ctx)
    await finish(conn, ctx)
    return _in_order(got, "echoes", log.lines())


@DATA.check(
    "A3.11",
    f"{WWW} §Send; RFC 6455 §6.1 messages in order",
    f"{_BURST} app messages in order",
)
async def _a3_order_out(ctx: AsgiContext) -> AsgiResult:
    conn, log = await handshake(ctx, f"/burst?n={_BURST}")
    got = await _burst_received(conn, ctx) if conn is not None and conn.upgraded else []
    await finish(conn, ctx)
    return _in_order(got, "messages", log.lines())
