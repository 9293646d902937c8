"""The ``asgi`` conformance group: ASGI HTTP & WebSocket spec 2.5 server behaviour, seen through the probe app.

The server under test must serve ``harness.conformance.asgi_probe:app``. Every check names the spec sentence it
tests (django/asgiref ``specs/www.rst``, or ``docs/extensions.rst`` for the denial response) and returns a
``CheckResult`` with group "asgi". Verdicts use the wire group's vocabulary: FAILED for a broken "must", NON-STRICT
for a missed "should", INFORMATIONAL where the spec leaves the behaviour open, UNIMPLEMENTED for a feature of a later
spec version the server does not have, N/A when an optional feature is absent, KNOWN DEVIATION for a listed failure.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.conformance.asgi_client import Connection, Message, http_get, open_ws, read_body
from harness.conformance.asgi_probe import ACCEPT_HEADERS, DENIAL_BODY_PARTS, DENIAL_HEADERS, DENIAL_STATUS
from harness.conformance.blocking import blocking
from harness.conformance.frames import Opcode
from harness.conformance.model import CheckResult, CloseVerdict, KnownDeviation, Verdict, apply_deviations
from harness.conformance.runner import Target, parse_ws_url

__all__ = [
    "KNOWN_DEVIATIONS",
    "AsgiCheck",
    "asgi_checks",
    "run_asgi_checks",
    "run_asgi_checks_async",
]

_WWW = "ASGI www 2.5"
_EXT = "ASGI extensions"
_SCOPE = f"{_WWW} §WebSocket Connection Scope"
#: The rich scope request: percent-encoded UTF-8 in the path, a repeated query key, duplicate and mixed-case headers,
#: and two subprotocols in one comma-separated header (uvicorn#3019).
_RICH_PATH = "/scope/caf%C3%A9%20x?x=1&y=%20z&x=2"
_RICH_HEADERS = (
    ("X-Probe-Dup", "a"),
    ("X-Probe-Order", "1"),
    ("X-Probe-Dup", "b"),
    ("X-Probe-Case", "Mixed"),
    ("Sec-WebSocket-Protocol", "p1, p2"),
)
_LARGE = 512 * 1024  # under Daphne's 1 MiB default limit, so the check tests delivery and not the limit
_BURST = 200
_REASON_UNICODE = "ciao ü€"

Outcome = tuple[Verdict, list[str]]


@dataclass
class _Result:
    behaviour: Verdict
    notes: list[str] = field(default_factory=list)
    close: CloseVerdict = CloseVerdict.NOT_APPLICABLE
    close_code: int | None = None
    wire_log: list[str] = field(default_factory=list)


class _Ctx:
    """One run against one server: the target, the time unit, and probe sessions shared by several checks."""

    def __init__(self, base: Target, unit: float) -> None:
        self.base = base
        self.unit = unit
        self._memo: dict[str, asyncio.Task[Any]] = {}

    @property
    def timeout(self) -> float:
        return 5.0 * self.unit

    def shared(self, name: str, factory: Callable[[], Awaitable[Any]]) -> Awaitable[Any]:
        """Run ``factory`` once per run; a probe connection may serve several checks."""
        if name not in self._memo:
            self._memo[name] = asyncio.ensure_future(factory())
        return asyncio.shield(self._memo[name])

    async def observations(self, token: str, ready: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """Poll the probe's record for ``token`` until ``ready`` says it is complete or the wait runs out.

        The probe itself gives up waiting for a server event after 3 s, so the wait here is longer than that.
        """
        deadline = time.monotonic() + max(4.0, 2 * self.timeout)
        entries: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            status, body = await http_get(self.base, f"/observations/{token}", self.timeout)
            if status == 200:
                entries = json.loads(body)
                if ready(entries):
                    return entries
            await asyncio.sleep(0.05 * self.unit)
        return entries


@dataclass(frozen=True)
class AsgiCheck:
    id: str
    category: str
    source: str
    description: str
    run: Callable[[_Ctx], Awaitable[_Result]]


def _token() -> str:
    return uuid.uuid4().hex


# --------------------------------------------------------------------------------------------------------- sessions


async def _scope_session(ctx: _Ctx, path: str, extra: tuple[tuple[str, str], ...]) -> tuple[dict[str, Any], list[str]]:
    conn, log = await open_ws(ctx.base, path, ctx.timeout, extra)
    if conn is None or not conn.upgraded:
        return {}, [*log.lines(), "no 101 for the scope probe"]
    msg = await conn.recv(ctx.timeout)
    await conn.close_and_wait(ctx.timeout)
    conn.writer.close()
    if msg.kind != "text":
        return {}, [*log.lines(), f"expected the scope as text, got {msg.kind}"]
    return dict(json.loads(msg.payload)), log.lines()


async def _rich_scope(ctx: _Ctx) -> tuple[dict[str, Any], list[str]]:
    return await _scope_session(ctx, _RICH_PATH, _RICH_HEADERS)


async def _plain_scope(ctx: _Ctx) -> tuple[dict[str, Any], list[str]]:
    return await _scope_session(ctx, "/scope", ())


def _scope_check(
    session: str, judge: Callable[[dict[str, Any], _Ctx], Outcome]
) -> Callable[[_Ctx], Awaitable[_Result]]:
    async def run(ctx: _Ctx) -> _Result:
        factory = _rich_scope if session == "rich" else _plain_scope
        probe, log = await ctx.shared(session, lambda: factory(ctx))
        if not probe:
            return _Result(Verdict.FAILED, ["the probe could not report its scope"], wire_log=log)
        behaviour, notes = judge(probe, ctx)
        return _Result(behaviour, notes, wire_log=log if behaviour == Verdict.FAILED else [])

    return run


# ------------------------------------------------------------------------------------------------------ A1 scope


def _key(probe: dict[str, Any], name: str) -> dict[str, Any] | None:
    entry = probe["scope"].get(name)
    return entry if isinstance(entry, dict) else None


def _j_type(probe: dict[str, Any], _: _Ctx) -> Outcome:
    e = _key(probe, "type")
    if e and e["type"] == "str" and e["value"] == "websocket":
        return Verdict.OK, []
    return Verdict.FAILED, [f"scope['type'] is {e}"]


def _j_asgi_version(probe: dict[str, Any], _: _Ctx) -> Outcome:
    e = _key(probe, "asgi")
    version = e["value"].get("version") if e and isinstance(e["value"], dict) else None
    if isinstance(version, str) and version in ("2.0", "3.0"):
        return Verdict.OK, [f"asgi.version {version!r}"]
    return Verdict.FAILED, [f"scope['asgi'] is {e}"]


def _j_spec_version(probe: dict[str, Any], _: _Ctx) -> Outcome:
    e = _key(probe, "asgi")
    asgi = e["value"] if e and isinstance(e["value"], dict) else {}
    if "spec_version" not in asgi:
        return Verdict.INFORMATIONAL, ["no asgi.spec_version, so the app must assume 2.0"]
    value = asgi["spec_version"]
    if isinstance(value, str) and value in ("2.0", "2.1", "2.2", "2.3", "2.4", "2.5"):
        return Verdict.OK, [f"spec_version {value!r}"]
    return Verdict.FAILED, [f"asgi.spec_version is {value!r}"]


def _j_http_version(probe: dict[str, Any], _: _Ctx) -> Outcome:
    e = _key(probe, "http_version")
    if e is None:
        return Verdict.OK, ["missing; the default 1.1 applies"]
    if e["type"] == "str" and e["value"] == "1.1":
        return Verdict.OK, []
    return Verdict.FAILED, [f"http_version is {e['value']!r} ({e['type']}) for an HTTP/1.1 request"]


def _j_scheme(probe: dict[str, Any], _: _Ctx) -> Outcome:
    e = _key(probe, "scheme")
    if e is None:
        return Verdict.INFORMATIONAL, ["missing; the default 'ws' applies (daphne#538 asks for it)"]
    if e["type"] == "str" and e["value"] == "ws":
        return Verdict.OK, []
    return Verdict.FAILED, [f"scheme is {e['value']!r} ({e['type']}) on a plain ws:// connection"]


def _j_path(probe: dict[str, Any], _: _Ctx) -> Outcome:
    e = _key(probe, "path")
    if e and e["type"] == "str" and e["value"] == "/scope/café x":
        return Verdict.OK, []
    return Verdict.FAILED, [f"path is {e}; expected '/scope/café x'"]


def _j_raw_path(probe: dict[str, Any], _: _Ctx) -> Outcome:
    e = _key(probe, "raw_path")
    if e is None or e["value"] is None:
        return Verdict.INFORMATIONAL, ["raw_path not provided (allowed)"]
    if e["type"] == "bytes" and e["value"] == "/scope/caf%C3%A9%20x":
        return Verdict.OK, []
    return Verdict.FAILED, [f"raw_path is {e['value']!r} ({e['type']}); expected b'/scope/caf%C3%A9%20x'"]


def _j_query_string(probe: dict[str, Any], _: _Ctx) -> Outcome:
    e = _key(probe, "query_string")
    if e and e["type"] == "bytes" and e["value"] == "x=1&y=%20z&x=2":
        return Verdict.OK, []
    return Verdict.FAILED, [f"query_string is {e}; expected b'x=1&y=%20z&x=2'"]


def _j_root_path(probe: dict[str, Any], _: _Ctx) -> Outcome:
    e = _key(probe, "root_path")
    if e is None:
        return Verdict.OK, ["missing; the default '' applies"]
    if e["type"] == "str":
        return Verdict.OK, [f"root_path {e['value']!r}"]
    return Verdict.FAILED, [f"root_path is a {e['type']}"]


def _headers(probe: dict[str, Any]) -> list[tuple[str, str]]:
    e = _key(probe, "headers")
    if not e or not isinstance(e["value"], list):
        return []
    return [(str(item[0]), str(item[1])) for item in e["value"] if isinstance(item, list) and len(item) == 2]


def _j_header_types(probe: dict[str, Any], _: _Ctx) -> Outcome:
    e = _key(probe, "headers")
    if e is None:
        return Verdict.FAILED, ["no headers key"]
    bad = [t for t in e.get("item_types", []) if len(t) != 3 or t[1:] != ["bytes", "bytes"]]
    if e["type"] not in ("list", "tuple") or bad:
        return Verdict.FAILED, [f"headers {e['type']}; items that are not [bytes, bytes]: {bad[:3]}"]
    return Verdict.OK, [f"{len(e['item_types'])} header items"]


def _j_header_order(probe: dict[str, Any], _: _Ctx) -> Outcome:
    seen = [(n.lower(), v) for n, v in _headers(probe) if n.lower() in ("x-probe-dup", "x-probe-order")]
    expected = [("x-probe-dup", "a"), ("x-probe-order", "1"), ("x-probe-dup", "b")]
    if seen == expected:
        return Verdict.OK, []
    if sorted(seen) == sorted(expected):
        return Verdict.NON_STRICT, [f"duplicates kept but order changed: {seen}"]
    return Verdict.FAILED, [f"duplicate headers not preserved as received: {seen}"]


def _j_header_case(probe: dict[str, Any], _: _Ctx) -> Outcome:
    upper = [n for n, _ in _headers(probe) if n != n.lower()]
    if not _headers(probe):
        return Verdict.FAILED, ["no headers to inspect"]
    if upper:
        return Verdict.NON_STRICT, [f"header names not lower-cased: {upper[:5]}"]
    return Verdict.OK, []


def _j_client(probe: dict[str, Any], _: _Ctx) -> Outcome:
    e = _key(probe, "client")
    if e is None or e["value"] is None:
        return Verdict.INFORMATIONAL, ["client not provided (allowed)"]
    if e.get("item_types") == ["str", "int"] and e["value"][0] == "127.0.0.1":
        return Verdict.OK, [f"client {e['value']}"]
    return Verdict.FAILED, [f"client is {e['value']!r} with item types {e.get('item_types')}"]


def _j_server(probe: dict[str, Any], ctx: _Ctx) -> Outcome:
    e = _key(probe, "server")
    if e is None or e["value"] is None:
        return Verdict.INFORMATIONAL, ["server not provided (allowed)"]
    if e.get("item_types") == ["str", "int"] and e["value"][1] == ctx.base.port:
        return Verdict.OK, [f"server {e['value']}"]
    return Verdict.FAILED, [f"server is {e['value']!r} with item types {e.get('item_types')}"]


def _j_subprotocols(probe: dict[str, Any], _: _Ctx) -> Outcome:
    e = _key(probe, "subprotocols")
    value = e["value"] if e else None
    if value == ["p1", "p2"] and e and e.get("item_types") == ["str", "str"]:
        return Verdict.OK, []
    return Verdict.FAILED, [f"subprotocols is {value!r} for 'Sec-WebSocket-Protocol: p1, p2' (uvicorn#3019)"]


def _j_defaults(probe: dict[str, Any], _: _Ctx) -> Outcome:
    notes = []
    sub, qs = _key(probe, "subprotocols"), _key(probe, "query_string")
    if sub is not None and sub["value"] not in ([], None):
        notes.append(f"subprotocols {sub['value']!r} with none offered")
    if qs is not None and not (qs["type"] == "bytes" and qs["value"] == ""):
        notes.append(f"query_string {qs['value']!r} ({qs['type']}) with no query")
    return (Verdict.FAILED, notes) if notes else (Verdict.OK, [])


def _j_state(probe: dict[str, Any], _: _Ctx) -> Outcome:
    e = _key(probe, "state")
    if e is None:
        return Verdict.NOT_APPLICABLE, ["no state: the server does not support lifespan state"]
    if e["type"] == "dict" and e["value"].get("probe") == "lifespan":
        return Verdict.OK, []
    return Verdict.FAILED, [f"state is {e['value']!r} ({e['type']}), not a copy of the lifespan namespace"]


def _j_extensions(probe: dict[str, Any], _: _Ctx) -> Outcome:
    e = _key(probe, "extensions")
    if e is None:
        return Verdict.INFORMATIONAL, ["no extensions key"]
    if e["type"] == "dict" and all(t == "dict" for t in e.get("value_types", {}).values()):
        return Verdict.OK, [f"extensions {sorted(e['value'])}"]
    return Verdict.FAILED, [f"extensions is {e['value']!r} ({e['type']})"]


def _j_connect_event(probe: dict[str, Any], _: _Ctx) -> Outcome:
    first = probe.get("first", {})
    if isinstance(first, dict) and first.get("type") == "websocket.connect":
        return Verdict.OK, []
    return Verdict.FAILED, [f"first event {first!r}"]


# ---------------------------------------------------------------------------------------------------- A2 accept


async def _handshake(ctx: _Ctx, path: str, extra: tuple[tuple[str, str], ...] = ()) -> tuple[Connection | None, Any]:
    conn, log = await open_ws(ctx.base, path, ctx.timeout, extra)
    return conn, log


async def _finish(conn: Connection | None, ctx: _Ctx) -> None:
    if conn is None:
        return
    if conn.upgraded and not conn.closed:
        await conn.close_and_wait(ctx.timeout)
    conn.writer.close()


async def _accept_headers_session(ctx: _Ctx) -> tuple[list[tuple[str, str]] | None, list[str]]:
    conn, log = await _handshake(ctx, "/accept-headers")
    heads = conn.head.headers if conn is not None and conn.upgraded and conn.head else None
    await _finish(conn, ctx)
    return heads, log.lines()


async def _a2_handshake(ctx: _Ctx) -> _Result:
    conn, log = await _handshake(ctx, "/subprotocol")
    ok = conn is not None and conn.accept_ok
    status = conn.head.status if conn and conn.head else None
    await _finish(conn, ctx)
    if ok:
        return _Result(Verdict.OK)
    return _Result(Verdict.FAILED, [f"status {status}, or a wrong Sec-WebSocket-Accept"], wire_log=log.lines())


async def _a2_accept_headers(ctx: _Ctx) -> _Result:
    heads, log = await ctx.shared("accept-headers", lambda: _accept_headers_session(ctx))
    if heads is None:
        return _Result(Verdict.FAILED, ["no 101"], wire_log=log)
    wanted = [(n.decode(), v.decode()) for n, v in ACCEPT_HEADERS]
    missing = [h for h in wanted if h not in heads]
    if missing:
        return _Result(Verdict.FAILED, [f"accept headers missing from the 101: {missing}"], wire_log=log)
    return _Result(Verdict.OK)


async def _a2_accept_header_order(ctx: _Ctx) -> _Result:
    heads, log = await ctx.shared("accept-headers", lambda: _accept_headers_session(ctx))
    names = [n.decode() for n, _ in ACCEPT_HEADERS]
    seen = [n for n, _ in heads or [] if n in names]
    if sorted(seen) != sorted(names):
        return _Result(Verdict.NOT_APPLICABLE, ["the accept headers are not delivered (see A2.2)"])
    if seen == names:
        return _Result(Verdict.OK)
    return _Result(Verdict.FAILED, [f"accept headers in order {seen}"], wire_log=log)


async def _a2_subprotocol(ctx: _Ctx) -> _Result:
    conn, log = await _handshake(ctx, "/subprotocol?choose=p2", (("Sec-WebSocket-Protocol", "p1, p2"),))
    chosen = conn.head.get("sec-websocket-protocol") if conn and conn.upgraded and conn.head else None
    upgraded = conn is not None and conn.upgraded
    await _finish(conn, ctx)
    if upgraded and chosen == "p2":
        return _Result(Verdict.OK)
    return _Result(Verdict.FAILED, [f"upgraded={upgraded}, Sec-WebSocket-Protocol {chosen!r}"], wire_log=log.lines())


async def _a2_no_subprotocol(ctx: _Ctx) -> _Result:
    conn, log = await _handshake(ctx, "/subprotocol", (("Sec-WebSocket-Protocol", "p1, p2"),))
    chosen = conn.head.get("sec-websocket-protocol") if conn and conn.head else None
    upgraded = conn is not None and conn.upgraded
    await _finish(conn, ctx)
    if upgraded and chosen is None:
        return _Result(Verdict.OK)
    return _Result(Verdict.FAILED, [f"upgraded={upgraded}, Sec-WebSocket-Protocol {chosen!r}"], wire_log=log.lines())


def _refused(conn: Connection | None) -> str:
    if conn is None:
        return "no HTTP response"
    return f"HTTP {conn.head.status}" if conn.head else "an unparseable response"


async def _a2_send_before_accept(ctx: _Ctx) -> _Result:
    token = _token()
    conn, log = await _handshake(ctx, f"/send-before-accept?token={token}")
    upgraded = conn is not None and conn.upgraded
    what = _refused(conn)
    await _finish(conn, ctx)
    obs = await ctx.observations(token, lambda e: any("send" in x for x in e))
    sent = next((x["send"] for x in obs if "send" in x), None)
    if upgraded:
        return _Result(
            Verdict.FAILED, ["the handshake completed although the app never accepted"], wire_log=log.lines()
        )
    if sent and sent["raised"]:
        return _Result(Verdict.OK, [f"send raised {sent['exception']}; client saw {what}"])
    return _Result(Verdict.INFORMATIONAL, [f"send before accept did not raise; client saw {what}"])


async def _a2_double_accept(ctx: _Ctx) -> _Result:
    token = _token()
    conn, log = await _handshake(ctx, f"/double-accept?token={token}")
    msg = await conn.recv(ctx.timeout) if conn is not None and conn.upgraded else Message("eof")
    await _finish(conn, ctx)
    obs = await ctx.observations(token, lambda e: any("second_accept" in x for x in e))
    second = next((x["second_accept"] for x in obs if "second_accept" in x), None)
    raised = f"second accept raised {second['exception']}" if second and second["raised"] else "second accept ignored"
    if msg.kind == "text" and msg.payload == b"after":
        return _Result(Verdict.OK, [raised, "the connection stayed usable"])
    return _Result(Verdict.INFORMATIONAL, [raised, f"then the client saw {msg.kind}"])


async def _refusal_check(ctx: _Ctx, path: str, good: tuple[int, ...]) -> _Result:
    conn, log = await _handshake(ctx, path)
    status = conn.head.status if conn is not None and conn.head else None
    await _finish(conn, ctx)
    if status == 101:
        return _Result(Verdict.FAILED, ["the handshake completed"], wire_log=log.lines())
    if status in good:
        return _Result(Verdict.OK, [f"HTTP {status}"])
    if status is not None and 400 <= status < 600:
        return _Result(Verdict.NON_STRICT, [f"HTTP {status}"])
    return _Result(Verdict.NON_STRICT, [f"{_refused(conn)}: the client cannot tell why"], wire_log=log.lines())


async def _a2_return_without_accept(ctx: _Ctx) -> _Result:
    return await _refusal_check(ctx, "/return-without-accept", tuple(range(400, 600)))


async def _a2_raise_before(ctx: _Ctx) -> _Result:
    return await _refusal_check(ctx, "/raise-before", (500,))


async def _a2_raise_after(ctx: _Ctx) -> _Result:
    conn, log = await _handshake(ctx, "/raise-after")
    if conn is None or not conn.upgraded:
        await _finish(conn, ctx)
        return _Result(Verdict.FAILED, [f"{_refused(conn)} before the app accepted"], wire_log=log.lines())
    msg = await conn.recv(ctx.timeout)
    while msg.kind in ("text", "binary", "pong"):
        msg = await conn.recv(ctx.timeout)
    if msg.kind == "close":
        await conn.close_and_wait(ctx.timeout, msg.code)
    conn.writer.close()
    if msg.kind == "close" and msg.code == 1011:
        return _Result(Verdict.OK, close=CloseVerdict.OK, close_code=1011)
    if msg.kind == "close":
        return _Result(Verdict.NON_STRICT, [f"closed with {msg.code}, not 1011"], CloseVerdict.WRONG_CODE, msg.code)
    if msg.kind == "eof":
        return _Result(Verdict.NON_STRICT, ["TCP closed without a close frame"], CloseVerdict.UNCLEAN)
    return _Result(
        Verdict.FAILED, ["the socket stayed open after the app died"], CloseVerdict.FAILED, None, log.lines()
    )


# ------------------------------------------------------------------------------------------------------ A3 data


async def _send_empty_session(ctx: _Ctx) -> tuple[list[Message], list[str]]:
    conn, log = await _handshake(ctx, "/send-empty")
    got: list[Message] = []
    if conn is not None and conn.upgraded:
        while True:
            msg = await conn.recv(ctx.timeout)
            if msg.kind not in ("text", "binary"):
                break
            got.append(msg)
            if msg.kind == "text" and msg.payload == b"end":
                break
    await _finish(conn, ctx)
    return got, log.lines()


def _empty_send_check(kind: str) -> Callable[[_Ctx], Awaitable[_Result]]:
    async def run(ctx: _Ctx) -> _Result:
        got, log = await ctx.shared("send-empty", lambda: _send_empty_session(ctx))
        seen = [m.kind for m in got]
        if any(m.kind == kind and m.payload == b"" for m in got):
            return _Result(Verdict.OK)
        return _Result(Verdict.FAILED, [f"no empty {kind} message arrived; got {seen}"], wire_log=log)

    return run


async def _record_session(ctx: _Ctx) -> tuple[list[dict[str, Any]], list[Message], list[str]]:
    """Client-to-app traffic on ``/record``: each data message is acknowledged by the app with "ack"."""
    token = _token()
    conn, log = await _handshake(ctx, f"/record?token={token}")
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
    await _finish(conn, ctx)
    obs = await ctx.observations(token, lambda e: any(x.get("type") == "websocket.disconnect" for x in e))
    return obs, got, log.lines()


def _received(obs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [x for x in obs if x.get("type") == "websocket.receive"]


def _record_check(
    judge: Callable[[list[dict[str, Any]], list[Message]], Outcome],
) -> Callable[[_Ctx], Awaitable[_Result]]:
    async def run(ctx: _Ctx) -> _Result:
        obs, got, log = await ctx.shared("record", lambda: _record_session(ctx))
        behaviour, notes = judge(obs, got)
        return _Result(behaviour, notes, wire_log=log if behaviour == Verdict.FAILED else [])

    return run


def _j_recv_empty_text(obs: list[dict[str, Any]], _: list[Message]) -> Outcome:
    if any(x["text"] == "" and x["bytes_type"] == "NoneType" for x in _received(obs)):
        return Verdict.OK, []
    return Verdict.FAILED, [f"no receive event with text '' among {len(_received(obs))} events"]


def _j_recv_empty_bytes(obs: list[dict[str, Any]], _: list[Message]) -> Outcome:
    if any(x["bytes_hex"] == "" and x["text_type"] == "NoneType" for x in _received(obs)):
        return Verdict.OK, []
    return Verdict.FAILED, [f"no receive event with bytes b'' among {len(_received(obs))} events"]


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


def _j_fragments(obs: list[dict[str, Any]], _: list[Message]) -> Outcome:
    texts = [x["text"] for x in _received(obs)]
    if "frag-ment-ed" in texts:
        return Verdict.OK, []
    return Verdict.FAILED, [f"the three-fragment message was not delivered whole; texts {texts}"]


def _j_ping(obs: list[dict[str, Any]], got: list[Message]) -> Outcome:
    pongs = [m.payload for m in got if m.kind == "pong"]
    leaked = [x for x in obs if x.get("type") not in ("websocket.receive", "websocket.disconnect")]
    if b"probe-ping" not in pongs:
        return Verdict.NON_STRICT, [f"no pong with the ping's payload (pongs {pongs})"]
    if leaked or len(_received(obs)) != 5:
        return Verdict.FAILED, [f"the app saw {len(_received(obs))} receive events (5 sent) and {leaked}"]
    return Verdict.OK, []


def _large_check(opcode: Opcode) -> Callable[[_Ctx], Awaitable[_Result]]:
    async def run(ctx: _Ctx) -> _Result:
        payload = (b"0123456789abcdef" * (_LARGE // 16))[:_LARGE]
        conn, log = await _handshake(ctx, "/echo")
        if conn is None or not conn.upgraded:
            await _finish(conn, ctx)
            return _Result(Verdict.FAILED, [_refused(conn)], wire_log=log.lines())
        conn.send(opcode, payload)
        await conn.drain()
        msg = await conn.recv(ctx.timeout)
        await _finish(conn, ctx)
        kind = "text" if opcode == Opcode.TEXT else "binary"
        if msg.kind == kind and msg.payload == payload:
            return _Result(Verdict.OK, [f"{_LARGE} bytes echoed"])
        return _Result(Verdict.FAILED, [f"got {msg.kind} of {len(msg.payload)} bytes"], wire_log=log.lines())

    return run


async def _a3_order_in(ctx: _Ctx) -> _Result:
    conn, log = await _handshake(ctx, "/echo")
    if conn is None or not conn.upgraded:
        await _finish(conn, ctx)
        return _Result(Verdict.FAILED, [_refused(conn)], wire_log=log.lines())
    for i in range(_BURST):
        conn.send(Opcode.TEXT, str(i).encode())
    await conn.drain()
    got: list[str] = []
    while len(got) < _BURST:
        msg = await conn.recv(ctx.timeout)
        if msg.kind != "text":
            break
        got.append(msg.payload.decode())
    await _finish(conn, ctx)
    if got == [str(i) for i in range(_BURST)]:
        return _Result(Verdict.OK)
    return _Result(
        Verdict.FAILED, [f"{len(got)} echoes, first out of order at {_first_diff(got)}"], wire_log=log.lines()
    )


def _first_diff(got: list[str]) -> int:
    return next((i for i, v in enumerate(got) if v != str(i)), len(got))


async def _a3_order_out(ctx: _Ctx) -> _Result:
    conn, log = await _handshake(ctx, f"/burst?n={_BURST}")
    got: list[str] = []
    if conn is not None and conn.upgraded:
        while len(got) < _BURST:
            msg = await conn.recv(ctx.timeout)
            if msg.kind != "text":
                break
            got.append(msg.payload.decode())
    await _finish(conn, ctx)
    if got == [str(i) for i in range(_BURST)]:
        return _Result(Verdict.OK)
    return _Result(
        Verdict.FAILED, [f"{len(got)} messages, first out of order at {_first_diff(got)}"], wire_log=log.lines()
    )


# ----------------------------------------------------------------------------------------------------- A4 close


async def _app_close_session(ctx: _Ctx, query: str) -> tuple[Message, list[dict[str, Any]], list[str]]:
    token = _token()
    conn, log = await _handshake(ctx, f"/close?token={token}{query}")
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
    await _finish(conn, ctx)
    obs = await ctx.observations(token, lambda e: any(x.get("type") == "websocket.disconnect" for x in e))
    return msg, obs, log.lines()


def _app_close_check(
    session: str, query: str, judge: Callable[[Message, list[dict[str, Any]]], Outcome]
) -> Callable[[_Ctx], Awaitable[_Result]]:
    async def run(ctx: _Ctx) -> _Result:
        msg, obs, log = await ctx.shared(session, lambda: _app_close_session(ctx, query))
        behaviour, notes = judge(msg, obs)
        close = CloseVerdict.OK if msg.kind == "close" else CloseVerdict.UNCLEAN
        return _Result(behaviour, notes, close, msg.code, log if behaviour == Verdict.FAILED else [])

    return run


def _j_default_code(msg: Message, _: list[dict[str, Any]]) -> Outcome:
    if msg.kind == "close" and msg.code == 1000:
        return Verdict.OK, []
    return Verdict.FAILED, [f"got {msg.kind} code {msg.code}; expected 1000"]


def _j_custom_code(msg: Message, _: list[dict[str, Any]]) -> Outcome:
    if msg.kind == "close" and msg.code == 4001:
        return Verdict.OK, []
    return Verdict.FAILED, [f"got {msg.kind} code {msg.code}; expected 4001"]


def _j_reason(expected: str) -> Callable[[Message, list[dict[str, Any]]], Outcome]:
    def judge(msg: Message, _: list[dict[str, Any]]) -> Outcome:
        if msg.kind == "close" and msg.reason == expected.encode():
            return Verdict.OK, []
        return Verdict.FAILED, [f"close reason {msg.reason!r}; expected {expected!r}"]

    return judge


def _j_disconnect_after_app_close(_: Message, obs: list[dict[str, Any]]) -> Outcome:
    event = next((x for x in obs if x.get("type") == "websocket.disconnect"), None)
    if event and event["code_type"] == "int":
        return Verdict.OK, [f"disconnect code {event['code']}"]
    return Verdict.FAILED, [f"no websocket.disconnect with an int code after the app closed: {event}"]


async def _client_close_session(ctx: _Ctx, how: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The app waits for the client to leave; ``how`` is "reason" (4002 + reason), "empty" (no payload) or "drop"."""
    token = _token()
    conn, log = await _handshake(ctx, f"/disconnect-record?token={token}")
    if conn is not None and conn.upgraded:
        await conn.recv(ctx.timeout)  # the app's "ready": it is now waiting in receive()
        if how == "drop":
            await conn.abort()
        else:
            await conn.close_and_wait(ctx.timeout, 4002 if how == "reason" else None, b"client-bye")
    await _finish(conn, ctx)
    obs = await ctx.observations(token, lambda e: any(x.get("type") == "websocket.disconnect" for x in e))
    return next((x for x in obs if x.get("type") == "websocket.disconnect"), None), log.lines()


def _client_close_check(
    how: str, judge: Callable[[dict[str, Any] | None], Outcome]
) -> Callable[[_Ctx], Awaitable[_Result]]:
    async def run(ctx: _Ctx) -> _Result:
        event, log = await ctx.shared(f"client-close-{how}", lambda: _client_close_session(ctx, how))
        behaviour, notes = judge(event)
        return _Result(behaviour, notes, wire_log=log if behaviour == Verdict.FAILED else [])

    return run


def _j_client_code(event: dict[str, Any] | None) -> Outcome:
    if event and event["code"] == 4002 and event["code_type"] == "int":
        return Verdict.OK, []
    return Verdict.FAILED, [f"disconnect event {event}; expected code 4002"]


def _j_client_reason(event: dict[str, Any] | None) -> Outcome:
    if event is None:
        return Verdict.FAILED, ["no websocket.disconnect"]
    if event["reason"] == "client-bye":
        return Verdict.OK, []
    if not event["reason"]:
        return Verdict.UNIMPLEMENTED, [f"disconnect has no reason (has_reason={event['has_reason']}); added in 2.5"]
    return Verdict.FAILED, [f"disconnect reason {event['reason']!r}; expected 'client-bye'"]


def _j_no_code(event: dict[str, Any] | None) -> Outcome:
    if event is None:
        return Verdict.FAILED, ["no websocket.disconnect"]
    if event["code"] == 1005:
        return Verdict.OK, []
    return Verdict.NON_STRICT, [f"disconnect code {event['code']!r} for a close frame without a code"]


def _j_drop(event: dict[str, Any] | None) -> Outcome:
    if event is None:
        return Verdict.FAILED, ["no websocket.disconnect after the TCP connection was lost"]
    if event["code_type"] == "int":
        return Verdict.OK, [f"disconnect code {event['code']}"]
    return Verdict.FAILED, [f"disconnect code {event['code']!r} is not an int"]


async def _reject_session(ctx: _Ctx) -> tuple[int | None, dict[str, Any] | None, list[str]]:
    token = _token()
    conn, log = await _handshake(ctx, f"/reject?token={token}")
    status = conn.head.status if conn is not None and conn.head else None
    await _finish(conn, ctx)
    obs = await ctx.observations(token, lambda e: any("after_close" in x for x in e))
    after = next((x["after_close"] for x in obs if "after_close" in x), None)
    return status, after, log.lines()


async def _a4_reject_status(ctx: _Ctx) -> _Result:
    status, _, log = await ctx.shared("reject", lambda: _reject_session(ctx))
    if status == 403:
        return _Result(Verdict.OK)
    return _Result(Verdict.FAILED, [f"HTTP {status}; expected 403"], wire_log=log)


async def _a4_reject_disconnect(ctx: _Ctx) -> _Result:
    _, after, log = await ctx.shared("reject", lambda: _reject_session(ctx))
    if after and after.get("type") == "websocket.disconnect":
        return _Result(Verdict.OK, [f"disconnect code {after['code']}"])
    return _Result(Verdict.FAILED, [f"after the pre-accept close the app got {after}"], wire_log=log)


def _send_raised_check(path: str, close_first: bool) -> Callable[[_Ctx], Awaitable[_Result]]:
    async def run(ctx: _Ctx) -> _Result:
        token = _token()
        conn, log = await _handshake(ctx, f"{path}?token={token}")
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
        await _finish(conn, ctx)
        obs = await ctx.observations(token, lambda e: any("send" in x for x in e))
        sent = next((x["send"] for x in obs if "send" in x), None)
        if late:
            return _Result(Verdict.FAILED, late, wire_log=log.lines())
        if sent is None:
            return _Result(Verdict.FAILED, ["the probe did not report the send"], wire_log=log.lines())
        if sent["is_oserror"]:
            return _Result(Verdict.OK, [f"raised {sent['exception']} (an OSError)"])
        if sent["raised"]:
            return _Result(Verdict.NON_STRICT, [f"raised {sent['exception']}, not an OSError subclass"])
        return _Result(Verdict.NON_STRICT, ["send() returned without raising"])

    return run


# ---------------------------------------------------------------------------------------------------- A5 denial


async def _deny_session(ctx: _Ctx) -> tuple[bool | None, int | None, list[tuple[str, str]], bytes, Any, list[str]]:
    token = _token()
    conn, log = await _handshake(ctx, f"/deny?token={token}")
    status = conn.head.status if conn is not None and conn.head else None
    headers = conn.head.headers if conn is not None and conn.head else []
    body = await read_body(conn, ctx.timeout) if conn is not None and status != 101 else b""
    await _finish(conn, ctx)
    obs = await ctx.observations(token, lambda e: any("after_denial" in x for x in e))
    advertised = next((x["advertised"] for x in obs if "advertised" in x), None)
    after = next((x["after_denial"] for x in obs if "after_denial" in x), None)
    return advertised, status, headers, body, after, log.lines()


def _deny_check(
    judge: Callable[[int | None, list[tuple[str, str]], bytes, Any], Outcome],
) -> Callable[[_Ctx], Awaitable[_Result]]:
    async def run(ctx: _Ctx) -> _Result:
        advertised, status, headers, body, after, log = await ctx.shared("deny", lambda: _deny_session(ctx))
        if not advertised:
            return _Result(Verdict.NOT_APPLICABLE, ["websocket.http.response is not advertised"])
        behaviour, notes = judge(status, headers, body, after)
        return _Result(behaviour, notes, wire_log=log if behaviour == Verdict.FAILED else [])

    return run


async def _a5_advertised(ctx: _Ctx) -> _Result:
    advertised, status, *_ = await ctx.shared("deny", lambda: _deny_session(ctx))
    if advertised:
        return _Result(Verdict.OK, ["extensions['websocket.http.response'] present"])
    note = f"not advertised; the app's plain close gave HTTP {status}"
    return _Result(Verdict.NOT_APPLICABLE, [note])


def _j_deny_status(status: int | None, *_: Any) -> Outcome:
    if status == DENIAL_STATUS:
        return Verdict.OK, []
    return Verdict.FAILED, [f"HTTP {status}; the app sent {DENIAL_STATUS}"]


def _j_deny_headers(_: int | None, headers: list[tuple[str, str]], *__: Any) -> Outcome:
    wanted = [(n.decode(), v.decode()) for n, v in DENIAL_HEADERS]
    missing = [h for h in wanted if h not in headers]
    return (Verdict.FAILED, [f"missing {missing}"]) if missing else (Verdict.OK, [])


def _j_deny_body(_: int | None, __: list[tuple[str, str]], body: bytes, *___: Any) -> Outcome:
    expected = b"".join(DENIAL_BODY_PARTS)
    if body == expected:
        return Verdict.OK, []
    return Verdict.FAILED, [f"body {body[:60]!r}; expected {expected!r} from two body messages"]


def _j_deny_disconnect(_: int | None, __: list[tuple[str, str]], ___: bytes, after: Any) -> Outcome:
    if isinstance(after, dict) and after.get("type") == "websocket.disconnect":
        return Verdict.OK, [f"disconnect code {after['code']}"]
    return Verdict.FAILED, [f"after the denial response the app got {after}"]


# ------------------------------------------------------------------------------------------------------- catalogue


def _c(id: str, category: str, source: str, description: str, run: Callable[[_Ctx], Awaitable[_Result]]) -> AsgiCheck:
    return AsgiCheck(id, category, source, description, run)


_CLOSE_SRC = f'{_WWW} §Close: "the server must close the socket with the close code passed in the message"'
_DISC_SRC = f"{_WWW} §Disconnect"


def asgi_checks() -> list[AsgiCheck]:
    """The whole group, in run order."""
    s = _SCOPE
    return [
        _c(
            "A1.1", "scope", f'{s}: "type (Unicode string) -- "websocket""', "scope type", _scope_check("rich", _j_type)
        ),
        _c(
            "A1.2",
            "scope",
            f'{s}: "asgi["version"] (Unicode string)"',
            "asgi.version",
            _scope_check("rich", _j_asgi_version),
        ),
        _c(
            "A1.3",
            "scope",
            f'{s}: "spec_version ... Optional; if missing assume "2.0""',
            "asgi.spec_version",
            _scope_check("rich", _j_spec_version),
        ),
        _c(
            "A1.4",
            "scope",
            f'{s}: "http_version ... One of "1.1" or "2""',
            "http_version",
            _scope_check("rich", _j_http_version),
        ),
        _c(
            "A1.5",
            "scope",
            f'{s}: "scheme ... Optional (but must not be empty); default is "ws""',
            "scheme",
            _scope_check("rich", _j_scheme),
        ),
        _c(
            "A1.6",
            "scope",
            f'{s}: "path ... with percent-encoded sequences and UTF-8 byte sequences decoded"',
            "path decoded",
            _scope_check("rich", _j_path),
        ),
        _c(
            "A1.7",
            "scope",
            f'{s}: "raw_path (byte string) ... unmodified from the bytes that were received"',
            "raw_path",
            _scope_check("rich", _j_raw_path),
        ),
        _c(
            "A1.8",
            "scope",
            f'{s}: "query_string (byte string) -- URL portion after the ?"; §WSGI encoding: "percent-encoded"',
            "query_string raw bytes",
            _scope_check("rich", _j_query_string),
        ),
        _c("A1.9", "scope", f'{s}: "root_path (Unicode string)"', "root_path", _scope_check("rich", _j_root_path)),
        _c(
            "A1.10",
            "scope",
            f'{s}: "headers (Iterable[[byte string, byte string]])"',
            "header item types",
            _scope_check("rich", _j_header_types),
        ),
        _c(
            "A1.11",
            "scope",
            f'{s}: "Order should be preserved ...; duplicates are possible and must be preserved"',
            "header order and duplicates",
            _scope_check("rich", _j_header_order),
        ),
        _c(
            "A1.12",
            "scope",
            f'{s}: "Header names should be lowercased, but it is not required"',
            "header names lower-case",
            _scope_check("rich", _j_header_case),
        ),
        _c(
            "A1.13",
            "scope",
            f'{s}: "client (Iterable[Unicode string, int])"',
            "client",
            _scope_check("rich", _j_client),
        ),
        _c(
            "A1.14",
            "scope",
            f'{s}: "server (Iterable[Unicode string, Optional[int]])"',
            "server",
            _scope_check("rich", _j_server),
        ),
        _c(
            "A1.15",
            "scope",
            f'{s}: "subprotocols (Iterable[Unicode string]) -- Subprotocols the client advertised"',
            "subprotocols comma-split",
            _scope_check("rich", _j_subprotocols),
        ),
        _c(
            "A1.16",
            "scope",
            f'{s}: "subprotocols ... if missing defaults to empty list"; "query_string ... default is empty string"',
            "defaults without query or subprotocols",
            _scope_check("plain", _j_defaults),
        ),
        _c(
            "A1.17",
            "scope",
            f'{s}: "state ... A copy of the namespace passed into the lifespan"',
            "lifespan state",
            _scope_check("rich", _j_state),
        ),
        _c(
            "A1.18",
            "scope",
            f'{_EXT}: "will provide websocket.http.response in the extensions part of the scope"',
            "extensions",
            _scope_check("rich", _j_extensions),
        ),
        _c(
            "A1.19",
            "scope",
            f'{_WWW} §Connect: "Sent to the application when the client initially opens a connection"',
            "first event websocket.connect",
            _scope_check("rich", _j_connect_event),
        ),
        _c(
            "A2.1",
            "accept",
            f'{_WWW} §Accept: "Sent by the application when it wishes to accept an incoming connection"',
            "101 with a valid Sec-WebSocket-Accept",
            _a2_handshake,
        ),
        _c(
            "A2.2",
            "accept",
            f'{_WWW} §Accept: "headers ... Added in spec version 2.1"',
            "accept headers delivered",
            _a2_accept_headers,
        ),
        _c(
            "A2.3",
            "accept",
            f'{_WWW} §Accept: "Order must be preserved in the HTTP response"',
            "accept header order",
            _a2_accept_header_order,
        ),
        _c(
            "A2.4",
            "accept",
            f'{_WWW} §Accept: "subprotocol ... The subprotocol the server wishes to accept"',
            "chosen subprotocol echoed",
            _a2_subprotocol,
        ),
        _c(
            "A2.5",
            "accept",
            f'{_WWW} §Accept: "subprotocol ... Optional; if missing defaults to None"',
            "no subprotocol header when none chosen",
            _a2_no_subprotocol,
        ),
        _c(
            "A2.6",
            "accept",
            f'{_WWW} §Connect: "not complete the handshake until it gets a reply"',
            "send before accept",
            _a2_send_before_accept,
        ),
        _c("A2.7", "accept", f"{_WWW} §Accept (a second accept is not specified)", "double accept", _a2_double_accept),
        _c(
            "A2.8",
            "accept",
            f'{_WWW} §Connect: "must be responded to with either an Accept message or a Close message"',
            "app returns without accept",
            _a2_return_without_accept,
        ),
        _c(
            "A2.9",
            "accept",
            f'{_WWW} §Connection Scope: "if the application dies the socket should be closed"',
            "exception before accept",
            _a2_raise_before,
        ),
        _c(
            "A2.10",
            "accept",
            f'{_WWW} §Connection Scope: "if the application dies the socket should be closed"; RFC 6455 §7.4.1 1011',
            "exception after accept",
            _a2_raise_after,
        ),
        _c(
            "A3.1",
            "data",
            f'{_WWW} §Send: "Exactly one of bytes or text must be non-None"',
            "empty text app to client",
            _empty_send_check("text"),
        ),
        _c(
            "A3.2",
            "data",
            f'{_WWW} §Send: "Exactly one of bytes or text must be non-None"',
            "empty bytes app to client",
            _empty_send_check("binary"),
        ),
        _c(
            "A3.3",
            "data",
            f'{_WWW} §Receive: "text ... The message content, if it was text mode"',
            "empty text client to app",
            _record_check(_j_recv_empty_text),
        ),
        _c(
            "A3.4",
            "data",
            f'{_WWW} §Receive: "bytes ... The message content, if it was binary mode"',
            "empty bytes client to app",
            _record_check(_j_recv_empty_bytes),
        ),
        _c(
            "A3.5",
            "data",
            f'{_WWW} §Receive: "Exactly one of bytes or text must be non-None"',
            "receive event shape",
            _record_check(_j_exactly_one),
        ),
        _c(
            "A3.6",
            "data",
            f'{_WWW} §WebSocket: "should handle message fragmentation themselves, and deliver complete messages"',
            "fragmented message delivered whole",
            _record_check(_j_fragments),
        ),
        _c(
            "A3.7",
            "data",
            f'{_WWW} §WebSocket: "should handle PING/PONG messages themselves"',
            "ping answered, not delivered",
            _record_check(_j_ping),
        ),
        _c(
            "A3.8",
            "data",
            f"{_WWW} §Receive/§Send (no size limit in the spec)",
            f"{_LARGE // 1024} KiB text round trip",
            _large_check(Opcode.TEXT),
        ),
        _c(
            "A3.9",
            "data",
            f"{_WWW} §Receive/§Send (no size limit in the spec)",
            f"{_LARGE // 1024} KiB binary round trip",
            _large_check(Opcode.BINARY),
        ),
        _c(
            "A3.10",
            "data",
            f"{_WWW} §Receive; RFC 6455 §6.2 messages in order",
            f"{_BURST} client messages echoed in order",
            _a3_order_in,
        ),
        _c(
            "A3.11",
            "data",
            f"{_WWW} §Send; RFC 6455 §6.1 messages in order",
            f"{_BURST} app messages in order",
            _a3_order_out,
        ),
        _c(
            "A4.1",
            "close",
            f'{_CLOSE_SRC} "(or 1000 if none is specified)"',
            "app close, default code",
            _app_close_check("close-default", "", _j_default_code),
        ),
        _c(
            "A4.2",
            "close",
            _CLOSE_SRC,
            "app close 4001",
            _app_close_check("close-4001", "&code=4001&reason=bye", _j_custom_code),
        ),
        _c(
            "A4.3",
            "close",
            f'{_WWW} §Close: "reason -- A reason given for the closure, can be any string"',
            "app close reason",
            _app_close_check("close-4001", "&code=4001&reason=bye", _j_reason("bye")),
        ),
        _c(
            "A4.4",
            "close",
            f'{_WWW} §Close: "reason ... can be any string"',
            "non-ASCII close reason",
            _app_close_check("close-unicode", "&code=4003&reason=ciao%20%C3%BC%E2%82%AC", _j_reason(_REASON_UNICODE)),
        ),
        _c(
            "A4.5",
            "close",
            f'{_DISC_SRC}: "Sent to the application when ... the server closing the connection"',
            "disconnect after app close",
            _app_close_check("close-4001", "&code=4001&reason=bye", _j_disconnect_after_app_close),
        ),
        _c(
            "A4.6",
            "close",
            f'{_DISC_SRC}: "code (int) -- The WebSocket close code"',
            "client close code to app",
            _client_close_check("reason", _j_client_code),
        ),
        _c(
            "A4.7",
            "close",
            f'{_DISC_SRC}: "reason (Unicode string) -- A reason given for the disconnect" (2.5)',
            "client close reason to app",
            _client_close_check("reason", _j_client_reason),
        ),
        _c(
            "A4.8",
            "close",
            f'{_DISC_SRC}: "If no code was received ... the server should set this to 1005"',
            "disconnect 1005 without a code",
            _client_close_check("empty", _j_no_code),
        ),
        _c(
            "A4.9",
            "close",
            f'{_DISC_SRC}: "Sent to the application when ... loss of the socket"',
            "disconnect after TCP loss",
            _client_close_check("drop", _j_drop),
        ),
        _c(
            "A4.10",
            "close",
            f'{_WWW} §Close: "before the socket is accepted, the server must close the connection with a HTTP 403"',
            "pre-accept close is 403",
            _a4_reject_status,
        ),
        _c(
            "A4.11",
            "close",
            f"{_DISC_SRC}: sent when the server closes the connection (asgiref#381)",
            "pre-accept close then disconnect",
            _a4_reject_disconnect,
        ),
        _c(
            "A4.12",
            "close",
            f'{_WWW} §Disconnected Client: "send() ... on a closed connection the server should raise" an OSError',
            "send after app close",
            _send_raised_check("/send-after-close", True),
        ),
        _c(
            "A4.13",
            "close",
            f'{_WWW} §Disconnect: "you should expect future calls to send() to raise an exception"',
            "send after disconnect",
            _send_raised_check("/send-after-disconnect", False),
        ),
        _c(
            "A5.1",
            "denial",
            f'{_EXT} §Websocket Denial Response: "will provide websocket.http.response in the extensions"',
            "extension advertised",
            _a5_advertised,
        ),
        _c(
            "A5.2",
            "denial",
            f'{_EXT}: "send HTTP response messages after the websocket.connect message"',
            "denial status",
            _deny_check(_j_deny_status),
        ),
        _c(
            "A5.3",
            "denial",
            f'{_EXT}: "a structure that matches the http.response.start"',
            "denial headers",
            _deny_check(_j_deny_headers),
        ),
        _c(
            "A5.4",
            "denial",
            f'{_EXT}: "and http.response.body messages"',
            "denial body in two parts",
            _deny_check(_j_deny_body),
        ),
        _c(
            "A5.5",
            "denial",
            f'{_EXT}: "the server should send a HTTP response and then close the connection"',
            "disconnect after denial",
            _deny_check(_j_deny_disconnect),
        ),
    ]


# ----------------------------------------------------------------------------------------------- known deviations

_DAPHNE_SRC = "https://github.com/django/daphne/blob/main/daphne/ws_protocol.py"

#: Per server name (as the tests and docs call them): failures that are known upstream, reported as KNOWN DEVIATION.
KNOWN_DEVIATIONS: dict[str, tuple[KnownDeviation, ...]] = {
    "daphne": (
        KnownDeviation(
            frozenset({"A2.2"}), "https://github.com/django/daphne/issues/326", "accept headers are ignored"
        ),
        KnownDeviation(
            frozenset({"A4.3", "A4.4"}),
            "https://github.com/django/daphne/issues/374",
            "the close reason is dropped: serverClose gets the code only",
        ),
        KnownDeviation(
            frozenset({"A1.11"}),
            _DAPHNE_SRC,
            "duplicate request headers arrive joined with ',' because autobahn keeps handshake headers in a dict"
            " (no upstream issue found)",
        ),
        KnownDeviation(
            frozenset({"A3.1", "A3.2"}),
            _DAPHNE_SRC,
            "handle_reply tests text/bytes for truthiness, so empty messages are never sent (no upstream issue found)",
        ),
    ),
    "uvicorn-sansio": (),
    "uvicorn-wsproto": (),
}


# ---------------------------------------------------------------------------------------------------------- runner


async def _run_one(check: AsgiCheck, ctx: _Ctx) -> CheckResult:
    start = time.perf_counter()
    try:
        res = await asyncio.wait_for(check.run(ctx), 6 * ctx.timeout)
    except (OSError, TimeoutError, ValueError, KeyError, IndexError, TypeError) as exc:
        # A server that breaks the probe's conversation breaks the check, not the run.
        res = _Result(Verdict.FAILED, [f"the check could not run: {exc!r}"])
    return CheckResult(
        id=check.id,
        group="asgi",
        category=check.category,
        source=check.source,
        behaviour=res.behaviour,
        behaviour_close=res.close,
        remote_close_code=res.close_code,
        duration_s=time.perf_counter() - start,
        wire_log=res.wire_log if res.behaviour == Verdict.FAILED else [],
        notes=[check.description, *res.notes],
    )


async def run_asgi_checks_async(
    url_base: str,
    *,
    unit: float = 1.0,
    ids: Sequence[str] | None = None,
    server: str | None = None,
    known_deviations: Sequence[KnownDeviation] | None = None,
    concurrency: int = 4,
) -> list[CheckResult]:
    """Run the ASGI group against ``url_base`` (``ws://host:port``), a server serving ``asgi_probe:app``.

    ``run_asgi_checks`` takes the same arguments and runs this in an event loop of its own.

    Args:
        unit: seconds per time unit; every wait is a multiple of it.
        ids: run only these check ids.
        server: a key of ``KNOWN_DEVIATIONS`` ("daphne", "uvicorn-sansio", ...) whose deviations apply.
        known_deviations: explicit deviations instead of the ``server`` entry.
        concurrency: checks in flight at once; shared probe sessions still run once.
    """
    base = parse_ws_url(url_base)
    ctx = _Ctx(base, unit)
    checks = [c for c in asgi_checks() if ids is None or c.id in ids]
    deviations = known_deviations if known_deviations is not None else KNOWN_DEVIATIONS.get(server or "", ())
    gate = asyncio.Semaphore(concurrency)

    async def one(check: AsgiCheck) -> CheckResult:
        async with gate:
            return await _run_one(check, ctx)

    results = list(await asyncio.gather(*(one(c) for c in checks)))
    apply_deviations(results, deviations)
    return results


run_asgi_checks = blocking(run_asgi_checks_async)
