"""C8, fairness and resilience: busy channels do not starve quiet ones; 99.99 % of 10,000 messages delivered."""

from __future__ import annotations

import asyncio
from typing import Any

from harness.conformance.layers.checks.outcomes import failed, non_strict, ok
from harness.conformance.layers.checks.spec_text import Q_FAIR, Q_RATIO, S_ORDERING, S_SEMANTICS
from harness.conformance.layers.checks.table import LayerCheckTable
from harness.conformance.layers.checks.traffic import capacity_bound, is_channel_full, msg, raises
from harness.conformance.layers.model import Outcome
from harness.conformance.layers.target import SETTLE_S, CheckContext

__all__ = ["FAIRNESS"]

FAIRNESS = LayerCheckTable("fairness")


async def _busy_quiet(ctx: CheckContext, layer: Any, busy: str, quiet: str) -> Outcome:
    backlog = capacity_bound(layer, 80)
    consumed = 0
    quiet_at: int | None = None

    async def busy_reader() -> None:
        nonlocal consumed
        while consumed < backlog:
            if await ctx.recv(layer, busy, 3.0) is None:
                return
            consumed += 1
            # A consumer with real work to do: about 200 messages a second, as in the spec's example.
            await asyncio.sleep(0.005)

    async def quiet_reader() -> None:
        nonlocal quiet_at
        if await ctx.recv(layer, quiet, 5.0) is not None:
            quiet_at = consumed

    tasks = [asyncio.create_task(busy_reader()), asyncio.create_task(quiet_reader())]
    await asyncio.sleep(SETTLE_S)
    for i in range(backlog):
        await layer.send(busy, msg(i))
    await layer.send(quiet, msg(-1))
    await asyncio.gather(*tasks)
    if quiet_at is None:
        return failed(f"the quiet channel's message never arrived (busy backlog {backlog}, {consumed} consumed)")
    if quiet_at <= backlog // 2:
        return ok(f"quiet message arrived after {quiet_at} of {backlog} busy messages were consumed")
    return non_strict(f"quiet message waited until {quiet_at} of {backlog} busy messages were consumed")


@FAIRNESS.check("C8.1", "busy vs quiet process-specific channels", quote=Q_FAIR, source=S_ORDERING)
async def c8_fair_local(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    busy, quiet = await layer.new_channel(), await layer.new_channel()
    return await _busy_quiet(ctx, layer, busy, quiet)


@FAIRNESS.check("C8.2", "busy vs quiet normal channels", quote=Q_FAIR, source=S_ORDERING)
async def c8_fair_normal(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    return await _busy_quiet(ctx, layer, ctx.name("busy"), ctx.name("quiet"))


@FAIRNESS.check(
    "C8.3",
    "delivery ratio ≥ 99.99 % over 10,000 messages",
    quote=Q_RATIO,
    source=S_SEMANTICS,
    slow=True,
    timeout_s=120.0,
)
async def c8_ratio(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = await layer.new_channel()
    n = 10_000
    reader = asyncio.create_task(ctx.drain(layer, channel, idle=2.0, limit=n))
    refused = 0
    for i in range(n):
        while is_channel_full(await raises(layer.send(channel, msg(i))), layer):
            # Back-pressure, as the spec intends: wait for the reader rather than drop.
            refused += 1
            await asyncio.sleep(0.01)
    got = [m["n"] for m in await reader]
    distinct = len(set(got))
    ratio = distinct / n
    if len(got) != distinct:
        return failed(f"{len(got) - distinct} duplicate deliveries among {n}")
    if ratio < 0.9999:
        return failed(f"delivered {distinct} of {n} ({ratio:.4%})")
    return ok(f"delivered {distinct} of {n} ({ratio:.4%}); ChannelFull back-pressure {refused} times")
