"""C7, groups: fan-out, idempotent add, discard, empty groups, several groups, normal channels as members, groups
shared between instances and processes."""

from __future__ import annotations

import asyncio

from harness.conformance.layers.checks.outcomes import failed, not_applicable, ok
from harness.conformance.layers.checks.spec_text import (
    Q_GROUP_ADD,
    Q_GROUP_DISCARD,
    Q_GROUP_SEND,
    Q_IPC,
    S_ABSTRACT,
    S_DETAILS,
)
from harness.conformance.layers.checks.table import LayerCheckTable
from harness.conformance.layers.checks.traffic import describe, msg, one_member_group, peer_failure, raises
from harness.conformance.layers.model import Outcome
from harness.conformance.layers.target import SETTLE_S, CheckContext

__all__ = ["GROUPS"]

GROUPS = LayerCheckTable("groups")


@GROUPS.check("C7.1", "group_send reaches each member once", quote=Q_GROUP_SEND, source=S_DETAILS, requires=("groups",))
async def c7_fanout(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    members = [await layer.new_channel() for _ in range(3)]
    group = ctx.name("g")
    for member in members:
        await layer.group_add(group, member)
    await layer.group_send(group, msg(1))
    counts = [len(await ctx.drain(layer, m, idle=0.4)) for m in members]
    if counts != [1, 1, 1]:
        return failed(f"one group_send to 3 members delivered {counts}")
    return ok("one group_send reached each of 3 members once")


@GROUPS.check("C7.2", "group_add is idempotent", quote=Q_GROUP_ADD, source=S_DETAILS, requires=("groups",))
async def c7_idempotent_add(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    group, member = await one_member_group(ctx, layer)
    exc = await raises(layer.group_add(group, member))
    if exc is not None:
        return failed(f"adding a member twice raised {describe(exc)}")
    await layer.group_send(group, msg(1))
    count = len(await ctx.drain(layer, member, idle=0.4))
    if count != 1:
        return failed(f"after a double group_add one group_send delivered {count} messages")
    return ok("a second group_add returned normally; the member still gets one copy")


@GROUPS.check(
    "C7.3", "discarding a non-member is a no-op", quote=Q_GROUP_DISCARD, source=S_DETAILS, requires=("groups",)
)
async def c7_discard_non_member(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    member, stranger = await layer.new_channel(), await layer.new_channel()
    group = ctx.name("g")
    await layer.group_add(group, member)
    for g, ch, what in ((group, stranger, "a non-member"), (ctx.name("nogroup"), member, "an unknown group")):
        exc = await raises(layer.group_discard(g, ch))
        if exc is not None:
            return failed(f"group_discard of {what} raised {describe(exc)}")
    await layer.group_send(group, msg(1))
    if await ctx.recv(layer, member, 2.0) is None:
        return failed("discarding a non-member disturbed the real member")
    return ok("discarding a non-member and from an unknown group did nothing")


@GROUPS.check("C7.4", "a discarded member gets nothing", quote=Q_GROUP_DISCARD, source=S_DETAILS, requires=("groups",))
async def c7_discard(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    stays, leaves = await layer.new_channel(), await layer.new_channel()
    group = ctx.name("g")
    for member in (stays, leaves):
        await layer.group_add(group, member)
    await layer.group_discard(group, leaves)
    await layer.group_send(group, msg(1))
    if await ctx.recv(layer, stays, 2.0) is None:
        return failed("the remaining member got nothing")
    if await ctx.recv(layer, leaves, 0.5) is not None:
        return failed("a discarded member still received the group message")
    return ok("discarded member excluded, the other still served")


@GROUPS.check("C7.5", "group_send to an empty group", quote=Q_GROUP_SEND, source=S_DETAILS, requires=("groups",))
async def c7_empty_group(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    exc = await raises(layer.group_send(ctx.name("empty"), msg(1)), 2.0)
    if exc is not None:
        return failed(f"group_send to a group with no members raised {describe(exc)}")
    return ok("group_send to an empty group returned normally")


@GROUPS.check("C7.6", "member of two groups", quote=Q_GROUP_SEND, source=S_DETAILS, requires=("groups",))
async def c7_two_groups(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    member = await layer.new_channel()
    groups = [ctx.name("g1"), ctx.name("g2")]
    for group in groups:
        await layer.group_add(group, member)
    for i, group in enumerate(groups):
        await layer.group_send(group, msg(i))
    got = sorted(m["n"] for m in await ctx.drain(layer, member, idle=0.5))
    if got != [0, 1]:
        return failed(f"a member of two groups got {got} from one send to each")
    return ok("a member of two groups got one message from each")


@GROUPS.check("C7.7", "a normal channel as a member", quote=Q_GROUP_ADD, source=S_DETAILS, requires=("groups",))
async def c7_normal_member(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    member = ctx.name("worker")
    group = ctx.name("g")
    exc = await raises(layer.group_add(group, member))
    if exc is not None:
        return failed(f"group_add of a normal channel name (not from new_channel()) raised {describe(exc)}")
    task = await ctx.listen(layer, member)
    await layer.group_send(group, msg(1))
    if await task is None:
        return failed("a normal channel in a group received nothing")
    return ok("a normal channel name works as a group member")


@GROUPS.check("C7.8", "groups shared between instances", quote=Q_IPC, source=S_ABSTRACT, requires=("groups",))
async def c7_shared_groups(ctx: CheckContext) -> Outcome:
    if ctx.process_local:
        return not_applicable("process-local layer: instances keep separate groups")
    owner, sender = ctx.layer(), ctx.layer()
    group, member = await one_member_group(ctx, owner)
    await asyncio.sleep(SETTLE_S)
    await sender.group_send(group, msg(1))
    if await ctx.recv(owner, member, 2.0) is None:
        return failed("group_send from a second instance did not reach a member added through the first")
    return ok("membership added through one instance is used by another")


@GROUPS.check("C7.9", "group_send from another process", quote=Q_IPC, source=S_ABSTRACT, requires=("groups",))
async def c7_cross_process_group(ctx: CheckContext) -> Outcome:
    if ctx.process_local:
        return not_applicable("process-local layer: a second process has its own groups")
    layer = ctx.layer()
    group, member = await one_member_group(ctx, layer)
    await asyncio.sleep(SETTLE_S)
    failure = await peer_failure(ctx, [{"op": "group_send", "to": group, "message": msg(i)} for i in range(3)])
    if failure is not None:
        return failure
    got = [m["n"] for m in await ctx.drain(layer, member, idle=1.5, limit=3)]
    if got != [0, 1, 2]:
        return failed(f"another process group_sent 0..2; the member received {got}")
    return ok("group_send from another process reached the member, in order")
