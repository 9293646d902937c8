"""A5, the WebSocket Denial Response extension: an HTTP response instead of the handshake (ASGI extensions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.conformance.asgi_checks.context import (
    EXT,
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
from harness.conformance.asgi_client import read_body
from harness.conformance.asgi_probe import DENIAL_BODY_PARTS, DENIAL_HEADERS, DENIAL_STATUS
from harness.conformance.model import Verdict

__all__ = ["DENIAL"]

DENIAL = AsgiCheckTable("denial")

DenialJudge = Callable[[int | None, list[tuple[str, str]], bytes, Any], Outcome]


async def _deny_session(
    ctx: AsgiContext,
) -> tuple[bool | None, int | None, list[tuple[str, str]], bytes, Any, list[str]]:
    token = new_token()
    conn, log = await handshake(ctx, f"/deny?token={token}")
    status = conn.head.status if conn is not None and conn.head else None
    headers = conn.head.headers if conn is not None and conn.head else []
    body = await read_body(conn, ctx.timeout) if conn is not None and status != 101 else b""
    await finish(conn, ctx)
    obs = await ctx.observations(token, lambda e: any("after_denial" in x for x in e))
    advertised = next((x["advertised"] for x in obs if "advertised" in x), None)
    after = next((x["after_denial"] for x in obs if "after_denial" in x), None)
    return advertised, status, headers, body, after, log.lines()


def _on_denial(judge: DenialJudge) -> RunFn:
    """Judge the probe's denial response (one session a run); N/A when the server does not advertise it."""

    async def run(ctx: AsgiContext) -> AsgiResult:
        advertised, status, headers, body, after, log = await ctx.shared("deny", lambda: _deny_session(ctx))
        if not advertised:
            return AsgiResult(Verdict.NOT_APPLICABLE, ["websocket.http.response is not advertised"])
        return judged(judge(status, headers, body, after), log)

    return run


@DENIAL.check(
    "A5.1",
    f'{EXT} §Websocket Denial Response: "will provide websocket.http.response in the extensions"',
    "extension advertised",
)
async def _a5_advertised(ctx: AsgiContext) -> AsgiResult:
    advertised, status, *_ = await ctx.shared("deny", lambda: _deny_session(ctx))
    if advertised:
        return AsgiResult(Verdict.OK, ["extensions['websocket.http.response'] present"])
    note = f"not advertised; the app's plain close gave HTTP {status}"
    return AsgiResult(Verdict.NOT_APPLICABLE, [note])


@DENIAL.check(
    "A5.2",
    f'{EXT}: "send HTTP response messages after the websocket.connect message"',
    "denial status",
)
@_on_denial
def _j_deny_status(status: int | None, *_: Any) -> Outcome:
    if status == DENIAL_STATUS:
        return Verdict.OK, []
    return Verdict.FAILED, [f"HTTP {status}; the app sent {DENIAL_STATUS}"]


@DENIAL.check(
    "A5.3",
    f'{EXT}: "a structure that matches the http.response.start"',
    "denial headers",
)
@_on_denial
def _j_deny_headers(_: int | None, headers: list[tuple[str, str]], *__: Any) -> Outcome:
    wanted = [(n.decode(), v.decode()) for n, v in DENIAL_HEADERS]
    missing = [h for h in wanted if h not in headers]
    return (Verdict.FAILED, [f"missing {missing}"]) if missing else (Verdict.OK, [])


@DENIAL.check(
    "A5.4",
    f'{EXT}: "and http.response.body messages"',
    "denial body in two parts",
)
@_on_denial
def _j_deny_body(_: int | None, __: list[tuple[str, str]], body: bytes, *___: Any) -> Outcome:
    expected = b"".join(DENIAL_BODY_PARTS)
    if body == expected:
        return Verdict.OK, []
    return Verdict.FAILED, [f"body {body[:60]!r}; expected {expected!r} from two body messages"]


@DENIAL.check(
    "A5.5",
    f'{EXT}: "the server should send a HTTP response and then close the connection"',
    "disconnect after denial",
)
@_on_denial
def _j_deny_disconnect(_: int | None, __: list[tuple[str, str]], ___: bytes, after: Any) -> Outcome:
    if isinstance(after, dict) and after.get("type") == "websocket.disconnect":
        return Verdict.OK, [f"disconnect code {after['code']}"]
    return Verdict.FAILED, [f"after the denial response the app got {after}"]
