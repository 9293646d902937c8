"""A1, the connection scope and the first event, seen by the probe on ``/scope`` (ASGI www 2.5 §WebSocket
Connection Scope)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from harness.conformance.asgi_checks.context import (
    EXT,
    WWW,
    AsgiCheckTable,
    AsgiContext,
    AsgiResult,
    Outcome,
    RunFn,
    judged,
)
from harness.conformance.asgi_client import open_ws
from harness.conformance.model import Verdict

__all__ = ["SCOPE"]

SCOPE = AsgiCheckTable("scope")

_SCOPE = f"{WWW} §WebSocket Connection Scope"
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

ScopeJudge = Callable[[dict[str, Any], AsgiContext], Outcome]


async def _scope_session(
    ctx: AsgiContext, path: str, extra: tuple[tuple[str, str], ...]
) -> tuple[dict[str, Any], list[str]]:
    conn, log = await open_ws(ctx.base, path, ctx.timeout, extra)
    if conn is None or not conn.upgraded:
        return {}, [*log.lines(), "no 101 for the scope probe"]
    msg = await conn.recv(ctx.timeout)
    await conn.close_and_wait(ctx.timeout)
    conn.writer.close()
    if msg.kind != "text":
        return {}, [*log.lines(), f"expected the scope as text, got {msg.kind}"]
    return dict(json.loads(msg.payload)), log.lines()


async def _rich_scope(ctx: AsgiContext) -> tuple[dict[str, Any], list[str]]:
    return await _scope_session(ctx, _RICH_PATH, _RICH_HEADERS)


async def _plain_scope(ctx: AsgiContext) -> tuple[dict[str, Any], list[str]]:
    return await _scope_session(ctx, "/scope", ())


def _on_scope(session: str) -> Callable[[ScopeJudge], RunFn]:
    """Judge the scope the probe reported on the ``session`` ("rich" or "plain") connection, opened once a run."""

    def wrap(judge: ScopeJudge) -> RunFn:
        async def run(ctx: AsgiContext) -> AsgiResult:
            factory = _rich_scope if session == "rich" else _plain_scope
            probe, log = await ctx.shared(session, lambda: factory(ctx))
            if not probe:
                return AsgiResult(Verdict.FAILED, ["the probe could not report its scope"], wire_log=log)
            return judged(judge(probe, ctx), log)

        return run

    return wrap


def _key(probe: dict[str, Any], name: str) -> dict[str, Any] | None:
    entry = probe["scope"].get(name)
    return entry if isinstance(entry, dict) else None


def _headers(probe: dict[str, Any]) -> list[tuple[str, str]]:
    e = _key(probe, "headers")
    if not e or not isinstance(e["value"], list):
        return []
    return [(str(item[0]), str(item[1])) for item in e["value"] if isinstance(item, list) and len(item) == 2]


@SCOPE.check(
    "A1.1",
    f'{_SCOPE}: "type (Unicode string) -- "websocket""',
    "scope type",
)
@_on_scope("rich")
def _j_type(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    e = _key(probe, "type")
    if e and e["type"] == "str" and e["value"] == "websocket":
        return Verdict.OK, []
    return Verdict.FAILED, [f"scope['type'] is {e}"]


@SCOPE.check(
    "A1.2",
    f'{_SCOPE}: "asgi["version"] (Unicode string)"',
    "asgi.version",
)
@_on_scope("rich")
def _j_asgi_version(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    e = _key(probe, "asgi")
    version = e["value"].get("version") if e and isinstance(e["value"], dict) else None
    if isinstance(version, str) and version in ("2.0", "3.0"):
        return Verdict.OK, [f"asgi.version {version!r}"]
    return Verdict.FAILED, [f"scope['asgi'] is {e}"]


@SCOPE.check(
    "A1.3",
    f'{_SCOPE}: "spec_version ... Optional; if missing assume "2.0""',
    "asgi.spec_version",
)
@_on_scope("rich")
def _j_spec_version(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    e = _key(probe, "asgi")
    asgi = e["value"] if e and isinstance(e["value"], dict) else {}
    if "spec_version" not in asgi:
        return Verdict.INFORMATIONAL, ["no asgi.spec_version, so the app must assume 2.0"]
    value = asgi["spec_version"]
    if isinstance(value, str) and value in ("2.0", "2.1", "2.2", "2.3", "2.4", "2.5"):
        return Verdict.OK, [f"spec_version {value!r}"]
    return Verdict.FAILED, [f"asgi.spec_version is {value!r}"]


@SCOPE.check(
    "A1.4",
    f'{_SCOPE}: "http_version ... One of "1.1" or "2""',
    "http_version",
)
@_on_scope("rich")
def _j_http_version(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    e = _key(probe, "http_version")
    if e is None:
        return Verdict.OK, ["missing; the default 1.1 applies"]
    if e["type"] == "str" and e["value"] == "1.1":
        return Verdict.OK, []
    return Verdict.FAILED, [f"http_version is {e['value']!r} ({e['type']}) for an HTTP/1.1 request"]


@SCOPE.check(
    "A1.5",
    f'{_SCOPE}: "scheme ... Optional (but must not be empty); default is "ws""',
    "scheme",
)
@_on_scope("rich")
def _j_scheme(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    e = _key(probe, "scheme")
    if e is None:
        return Verdict.INFORMATIONAL, ["missing; the default 'ws' applies (daphne#538 asks for it)"]
    if e["type"] == "str" and e["value"] == "ws":
        return Verdict.OK, []
    return Verdict.FAILED, [f"scheme is {e['value']!r} ({e['type']}) on a plain ws:// connection"]


@SCOPE.check(
    "A1.6",
    f'{_SCOPE}: "path ... with percent-encoded sequences and UTF-8 byte sequences decoded"',
    "path decoded",
)
@_on_scope("rich")
def _j_path(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    e = _key(probe, "path")
    if e and e["type"] == "str" and e["value"] == "/scope/café x":
        return Verdict.OK, []
    return Verdict.FAILED, [f"path is {e}; expected '/scope/café x'"]


@SCOPE.check(
    "A1.7",
    f'{_SCOPE}: "raw_path (byte string) ... unmodified from the bytes that were received"',
    "raw_path",
)
@_on_scope("rich")
def _j_raw_path(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    e = _key(probe, "raw_path")
    if e is None or e["value"] is None:
        return Verdict.INFORMATIONAL, ["raw_path not provided (allowed)"]
    if e["type"] == "bytes" and e["value"] == "/scope/caf%C3%A9%20x":
        return Verdict.OK, []
    return Verdict.FAILED, [f"raw_path is {e['value']!r} ({e['type']}); expected b'/scope/caf%C3%A9%20x'"]


@SCOPE.check(
    "A1.8",
    f'{_SCOPE}: "query_string (byte string) -- URL portion after the ?"; §WSGI encoding: "percent-encoded"',
    "query_string raw bytes",
)
@_on_scope("rich")
def _j_query_string(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    e = _key(probe, "query_string")
    if e and e["type"] == "bytes" and e["value"] == "x=1&y=%20z&x=2":
        return Verdict.OK, []
    return Verdict.FAILED, [f"query_string is {e}; expected b'x=1&y=%20z&x=2'"]


@SCOPE.check(
    "A1.9",
    f'{_SCOPE}: "root_path (Unicode string)"',
    "root_path",
)
@_on_scope("rich")
def _j_root_path(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    e = _key(probe, "root_path")
    if e is None:
        return Verdict.OK, ["missing; the default '' applies"]
    if e["type"] == "str":
        return Verdict.OK, [f"root_path {e['value']!r}"]
    return Verdict.FAILED, [f"root_path is a {e['type']}"]


@SCOPE.check(
    "A1.10",
    f'{_SCOPE}: "headers (Iterable[[byte string, byte string]])"',
    "header item types",
)
@_on_scope("rich")
def _j_header_types(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    e = _key(probe, "headers")
    if e is None:
        return Verdict.FAILED, ["no headers key"]
    bad = [t for t in e.get("item_types", []) if len(t) != 3 or t[1:] != ["bytes", "bytes"]]
    if e["type"] not in ("list", "tuple") or bad:
        return Verdict.FAILED, [f"headers {e['type']}; items that are not [bytes, bytes]: {bad[:3]}"]
    return Verdict.OK, [f"{len(e['item_types'])} header items"]


@SCOPE.check(
    "A1.11",
    f'{_SCOPE}: "Order should be preserved ...; duplicates are possible and must be preserved"',
    "header order and duplicates",
)
@_on_scope("rich")
def _j_header_order(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    seen = [(n.lower(), v) for n, v in _headers(probe) if n.lower() in ("x-probe-dup", "x-probe-order")]
    expected = [("x-probe-dup", "a"), ("x-probe-order", "1"), ("x-probe-dup", "b")]
    if seen == expected:
        return Verdict.OK, []
    if sorted(seen) == sorted(expected):
        return Verdict.NON_STRICT, [f"duplicates kept but order changed: {seen}"]
    return Verdict.FAILED, [f"duplicate headers not preserved as received: {seen}"]


@SCOPE.check(
    "A1.12",
    f'{_SCOPE}: "Header names should be lowercased, but it is not required"',
    "header names lower-case",
)
@_on_scope("rich")
def _j_header_case(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    upper = [n for n, _ in _headers(probe) if n != n.lower()]
    if not _headers(probe):
        return Verdict.FAILED, ["no headers to inspect"]
    if upper:
        return Verdict.NON_STRICT, [f"header names not lower-cased: {upper[:5]}"]
    return Verdict.OK, []


@SCOPE.check(
    "A1.13",
    f'{_SCOPE}: "client (Iterable[Unicode string, int])"',
    "client",
)
@_on_scope("rich")
def _j_client(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    e = _key(probe, "client")
    if e is None or e["value"] is None:
        return Verdict.INFORMATIONAL, ["client not provided (allowed)"]
    if e.get("item_types") == ["str", "int"] and e["value"][0] == "127.0.0.1":
        return Verdict.OK, [f"client {e['value']}"]
    return Verdict.FAILED, [f"client is {e['value']!r} with item types {e.get('item_types')}"]


@SCOPE.check(
    "A1.14",
    f'{_SCOPE}: "server (Iterable[Unicode string, Optional[int]])"',
    "server",
)
@_on_scope("rich")
def _j_server(probe: dict[str, Any], ctx: AsgiContext) -> Outcome:
    e = _key(probe, "server")
    if e is None or e["value"] is None:
        return Verdict.INFORMATIONAL, ["server not provided (allowed)"]
    if e.get("item_types") == ["str", "int"] and e["value"][1] == ctx.base.port:
        return Verdict.OK, [f"server {e['value']}"]
    return Verdict.FAILED, [f"server is {e['value']!r} with item types {e.get('item_types')}"]


@SCOPE.check(
    "A1.15",
    f'{_SCOPE}: "subprotocols (Iterable[Unicode string]) -- Subprotocols the client advertised"',
    "subprotocols comma-split",
)
@_on_scope("rich")
def _j_subprotocols(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    e = _key(probe, "subprotocols")
    value = e["value"] if e else None
    if value == ["p1", "p2"] and e and e.get("item_types") == ["str", "str"]:
        return Verdict.OK, []
    return Verdict.FAILED, [f"subprotocols is {value!r} for 'Sec-WebSocket-Protocol: p1, p2' (uvicorn#3019)"]


@SCOPE.check(
    "A1.16",
    f'{_SCOPE}: "subprotocols ... if missing defaults to empty list"; "query_string ... default is empty string"',
    "defaults without query or subprotocols",
)
@_on_scope("plain")
def _j_defaults(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    notes = []
    sub, qs = _key(probe, "subprotocols"), _key(probe, "query_string")
    if sub is not None and sub["value"] not in ([], None):
        notes.append(f"subprotocols {sub['value']!r} with none offered")
    if qs is not None and not (qs["type"] == "bytes" and qs["value"] == ""):
        notes.append(f"query_string {qs['value']!r} ({qs['type']}) with no query")
    return (Verdict.FAILED, notes) if notes else (Verdict.OK, [])


@SCOPE.check(
    "A1.17",
    f'{_SCOPE}: "state ... A copy of the namespace passed into the lifespan"',
    "lifespan state",
)
@_on_scope("rich")
def _j_state(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    e = _key(probe, "state")
    if e is None:
        return Verdict.NOT_APPLICABLE, ["no state: the server does not support lifespan state"]
    if e["type"] == "dict" and e["value"].get("probe") == "lifespan":
        return Verdict.OK, []
    return Verdict.FAILED, [f"state is {e['value']!r} ({e['type']}), not a copy of the lifespan namespace"]


@SCOPE.check(
    "A1.18",
    f'{EXT}: "will provide websocket.http.response in the extensions part of the scope"',
    "extensions",
)
@_on_scope("rich")
def _j_extensions(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    e = _key(probe, "extensions")
    if e is None:
        return Verdict.INFORMATIONAL, ["no extensions key"]
    if e["type"] == "dict" and all(t == "dict" for t in e.get("value_types", {}).values()):
        return Verdict.OK, [f"extensions {sorted(e['value'])}"]
    return Verdict.FAILED, [f"extensions is {e['value']!r} ({e['type']})"]


@SCOPE.check(
    "A1.19",
    f'{WWW} §Connect: "Sent to the application when the client initially opens a connection"',
    "first event websocket.connect",
)
@_on_scope("rich")
def _j_connect_event(probe: dict[str, Any], _: AsgiContext) -> Outcome:
    first = probe.get("first", {})
    if isinstance(first, dict) and first.get("type") == "websocket.connect":
        return Verdict.OK, []
    return Verdict.FAILED, [f"first event {first!r}"]
