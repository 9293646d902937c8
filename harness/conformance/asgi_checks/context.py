"""One run of the ``asgi`` group: the context shared by its checks, what a check returns, the table checks register
on, and the connection helpers every section uses."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from harness.conformance.asgi_client import Connection, http_get, open_ws
from harness.conformance.handshake import Target
from harness.conformance.model import CloseVerdict, Verdict
from harness.conformance.wire_log import WireLog

__all__ = [
    "EXT",
    "WWW",
    "AsgiCheck",
    "AsgiCheckTable",
    "AsgiContext",
    "AsgiResult",
    "Outcome",
    "RunFn",
    "finish",
    "handshake",
    "judged",
    "new_token",
    "refused",
]

WWW = "ASGI www 2.5"
EXT = "ASGI extensions"

#: What a judge says: the behaviour verdict and the notes that explain it.
Outcome = tuple[Verdict, list[str]]


@dataclass
class AsgiResult:
    behaviour: Verdict
    notes: list[str] = field(default_factory=list)
    close: CloseVerdict = CloseVerdict.NOT_APPLICABLE
    close_code: int | None = None
    wire_log: list[str] = field(default_factory=list)


def judged(outcome: Outcome, wire_log: list[str]) -> AsgiResult:
    """A judge's outcome as a result; the runner keeps the wire log of failures only."""
    behaviour, notes = outcome
    return AsgiResult(behaviour, notes, wire_log=wire_log)


class AsgiContext:
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


RunFn = Callable[[AsgiContext], Awaitable[AsgiResult]]


@dataclass(frozen=True)
class AsgiCheck:
    id: str
    category: str
    source: str
    description: str
    run: RunFn


class AsgiCheckTable:
    """The checks of one category, in the order they are registered (which is their run order)."""

    def __init__(self, category: str) -> None:
        self.category = category
        self.checks: list[AsgiCheck] = []

    def check(self, id: str, source: str, description: str) -> Callable[[RunFn], RunFn]:
        """Register the decorated run function as check ``id``; ``source`` names the spec sentence it tests."""

        def register(run: RunFn) -> RunFn:
            self.checks.append(AsgiCheck(id, self.category, source, description, run))
            return run

        return register


def new_token() -> str:
    """A fresh name under which the probe records what one connection saw."""
    return uuid.uuid4().hex


async def handshake(
    ctx: AsgiContext, path: str, extra: tuple[tuple[str, str], ...] = ()
) -> tuple[Connection | None, WireLog]:
    return await open_ws(ctx.base, path, ctx.timeout, extra)


async def finish(conn: Connection | None, ctx: AsgiContext) -> None:
    if conn is None:
        return
    if conn.upgraded and not conn.closed:
        await conn.close_and_wait(ctx.timeout)
    conn.writer.close()


def refused(conn: Connection | None) -> str:
    if conn is None:
        return "no HTTP response"
    return f"HTTP {conn.head.status}" if conn.head else "an unparseable response"
