"""C6, expiry and flush: unread messages expire, group membership expires and is refreshed, flush() empties the
layer for every client."""

from __future__ import annotations

import asyncio
from typing import Any

from harness.conformance.layers.checks.outcomes import failed, info, not_applicable, ok, unimplemented
from harness.conformance.layers.checks.spec_text import (
    Q_EXPIRY,
    Q_FLUSH,
    Q_FLUSH_DISTRIBUTED,
    Q_GROUP_EXPIRY,
    S_CHANNELS,
    S_DETAILS,
    S_PERSISTENCE,
)
from harness.conformance.layers.checks.table import LayerCheckTable
from harness.conformance.layers.checks.traffic import declared, msg, one_member_group
from harness.conformance.layers.model import Outcome
from harness.conformance.layers.target import SETTLE_S, CheckContext

__all__ = ["EXPIRY", "FLUSH"]

EXPIRY = LayerCheckTable("expiry")
FLUSH = LayerCheckTable("flush")

NO_EXPIRY = "the layer exposes no expiry attribute equal to the configured value: message expiry is not configurable"


def _expiring_layer(ctx: CheckContext) -> Any:
    """A layer built with ``expiry=1``, or the UNIMPLEMENTED outcome when expiry is not configurable."""
    layer = ctx.layer(expiry=1)
    return layer if declared(layer, "expiry", 1) else unimplemented(NO_EXPIRY)


async def _after_expiry(ctx: CheckContext) -> tuple[Any, str] | Outcome:
    """A layer with ``expiry=1`` and a normal channel whose one message has sat unread for 2.2 s."""
    layer = _expiring_layer(ctx)
    if isinstance(layer, Outcome):
        return layer
    channel = ctx.name()
    await layer.send(channel, msg(1))
    await asyncio.sleep(2.2)
    return layer, channel


@EXPIRY.check("C6.1", "unread message expires", quote=Q_EXPIRY, source=S_CHANNELS)
async def c6_expiry(ctx: CheckContext) -> Outcome:
    setup = await _after_expiry(ctx)
    if isinstance(setup, Outcome):
        return setup
    layer, channel = setup
    got = await ctx.recv(layer, channel, 1.0)
    if got is not None:
        return failed("with expiry=1 a message unread for 2.2 s was still delivered")
    return ok("with expiry=1 a message unread for 2.2 s was gone")


@EXPIRY.check("C6.2", "expiry skips to the fresh message", quote=Q_EXPIRY, source=S_CHANNELS)
async def c6_expiry_keeps_newer(ctx: CheckContext) -> Outcome:
    setup = await _after_expiry(ctx)
    if isinstance(setup, Outcome):
        return setup
    layer, channel = setup
    await layer.send(channel, msg(2))
    got = await ctx.recv(layer, channel, 2.0)
    if got is None:
        return failed("the fresh message sent after an older one expired never arrived")
    if got["n"] != 2:
        return failed(f"received the expired message {got} before the fresh one")
    return ok("the expired message was skipped, the fresh one delivered")


@EXPIRY.check(
    "C6.3",
    "expired message and group membership",
    quote="If a channel layer implements the ``groups`` extension, it must persist group membership until at least "
    "the time when the member channel has a message expire due to non-consumption, after which it may drop "
    "membership at any time.",
    source=S_PERSISTENCE,
    requires=("groups",),
)
async def c6_expiry_membership(ctx: CheckContext) -> Outcome:
    layer = _expiring_layer(ctx)
    if isinstance(layer, Outcome):
        return layer
    member = ctx.name("m")
    group = ctx.name("g")
    await layer.group_add(group, member)
    await layer.send(member, msg(1))
    await asyncio.sleep(2.2)
    await layer.group_send(group, msg(2))
    got = await ctx.recv(layer, member, 1.0)
    if got is None:
        return info("after a message expired unread, the channel was dropped from its group (allowed)")
    return info("after a message expired unread, the channel stayed in its group (allowed)")


@EXPIRY.check("C6.4", "group_expiry drops membership", quote=Q_GROUP_EXPIRY, source=S_PERSISTENCE, requires=("groups",))
async def c6_group_expiry(ctx: CheckContext) -> Outcome:
    layer = ctx.layer(group_expiry=2)
    value = getattr(layer, "group_expiry", None)
    if value is None:
        return failed("the layer has no group_expiry: group membership never times out")
    if value != 2:
        return failed(f"group_expiry=2 was configured but the layer reports {value!r}")
    group, member = await one_member_group(ctx, layer)
    await asyncio.sleep(1.2)
    await layer.group_send(group, msg(1))
    if await ctx.recv(layer, member, 1.0) is None:
        return failed("membership was gone 1.2 s after group_add with group_expiry=2")
    await asyncio.sleep(3.2 - 1.2)
    await layer.group_send(group, msg(2))
    if await ctx.recv(layer, member, 1.0) is not None:
        return failed("membership still delivered 3.2 s after group_add with group_expiry=2")
    return ok("with group_expiry=2: member at 1.2 s, gone at 3.2 s")


@EXPIRY.check(
    "C6.5",
    "group_add restarts group_expiry",
    quote="``group_expiry``, an integer number of seconds that specifies how long group membership is valid for "
    "after the most recent ``group_add`` call",
    source=S_DETAILS,
    requires=("groups",),
)
async def c6_group_expiry_refresh(ctx: CheckContext) -> Outcome:
    layer = ctx.layer(group_expiry=2)
    if not declared(layer, "group_expiry", 2):
        return failed("the layer has no configurable group_expiry")
    group, member = await one_member_group(ctx, layer)
    await asyncio.sleep(1.5)
    await layer.group_add(group, member)
    await asyncio.sleep(1.7)
    await layer.group_send(group, msg(1))
    if await ctx.recv(layer, member, 1.0) is None:
        return failed("a second group_add at 1.5 s did not extend membership to 3.2 s (group_expiry=2)")
    return ok("a repeated group_add restarted the group_expiry clock")


@FLUSH.check("C6.6", "flush() drops messages", quote=Q_FLUSH, source=S_DETAILS, requires=("flush",))
async def c6_flush_messages(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = await layer.new_channel()
    await layer.send(channel, msg(1))
    await asyncio.sleep(SETTLE_S)
    await layer.flush()
    if await ctx.recv(layer, channel, 0.5) is not None:
        return failed("a message sent before flush() was delivered after it")
    channel = await layer.new_channel()
    await layer.send(channel, msg(2))
    if await ctx.recv(layer, channel, 2.0) is None:
        return failed("after flush() the layer no longer delivers")
    return ok("flush() dropped the queued message; the layer works afterwards")


@FLUSH.check("C6.7", "flush() drops groups", quote=Q_FLUSH, source=S_DETAILS, requires=("flush", "groups"))
async def c6_flush_groups(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    group, member = await one_member_group(ctx, layer)
    await layer.flush()
    await layer.group_send(group, msg(1))
    if await ctx.recv(layer, member, 0.5) is not None:
        return failed("group membership survived flush()")
    return ok("flush() removed group membership")


@FLUSH.check(
    "C6.8", "flush() is seen by another client", quote=Q_FLUSH_DISTRIBUTED, source=S_DETAILS, requires=("flush",)
)
async def c6_flush_other_client(ctx: CheckContext) -> Outcome:
    if ctx.process_local:
        return not_applicable("process-local layer: not distributed, so no other client can observe it")
    reader, flusher = ctx.layer(), ctx.layer()
    channel = await reader.new_channel()
    await reader.send(channel, msg(1))
    await asyncio.sleep(SETTLE_S)
    # The flusher is first used inside its own loop: Redis clients bind their connections to the loop that opened them.
    await ctx.in_other_loop(flusher.flush)
    if await ctx.recv(reader, channel, 0.5) is not None:
        return failed("after another client's flush() (own thread and event loop) this client still received")
    return ok("another client's flush() emptied the channel for this one too")
