"""C5, capacity: ChannelFull at capacity, per-channel capacity, shared process-local capacity, and group_send,
which drops rather than raises."""

from __future__ import annotations

import time
from typing import Any

from harness.conformance.layers.checks.outcomes import failed, not_applicable, ok
from harness.conformance.layers.checks.spec_text import Q_FULL, Q_GROUP_FULL, S_CAPACITY
from harness.conformance.layers.checks.table import LayerCheckTable
from harness.conformance.layers.checks.traffic import declared, describe, is_channel_full, msg, one_member_group, raises
from harness.conformance.layers.model import Outcome
from harness.conformance.layers.target import CheckContext

__all__ = ["CAPACITY"]

CAPACITY = LayerCheckTable("capacity")

NO_CAPACITY = (
    "the layer exposes no capacity attribute equal to the configured value (the spec: a channel *may* have one)"
)


def _capacity_layer(ctx: CheckContext, capacity: int, **config: Any) -> Any:
    """A layer built with ``capacity``, or the N/A outcome when it does not expose it (a capacity is optional)."""
    layer = ctx.layer(capacity=capacity, **config)
    return layer if declared(layer, "capacity", capacity) else not_applicable(NO_CAPACITY)


async def _full_channel(ctx: CheckContext, capacity: int) -> tuple[Any, str] | Outcome:
    """A layer with ``capacity`` and a normal channel holding that many messages, or the N/A outcome."""
    layer = _capacity_layer(ctx, capacity)
    if isinstance(layer, Outcome):
        return layer
    channel = ctx.name()
    for i in range(capacity):
        await layer.send(channel, msg(i))
    return layer, channel


@CAPACITY.check("C5.1", "ChannelFull at capacity, promptly", quote=Q_FULL, source=S_CAPACITY)
async def c5_channel_full(ctx: CheckContext) -> Outcome:
    setup = await _full_channel(ctx, 3)
    if isinstance(setup, Outcome):
        return setup
    layer, channel = setup
    start = time.monotonic()
    exc = await raises(layer.send(channel, msg(3)), 3.0)
    took = time.monotonic() - start
    if is_channel_full(exc, layer):
        if took > 1.0:
            return failed(f"ChannelFull came after {took:.2f}s: the full send blocked")
        return ok(f"4th send at capacity 3 raised {type(exc).__name__} in {took * 1000:.1f} ms")
    return failed(f"the 4th send at capacity 3 raised {describe(exc)}")


@CAPACITY.check("C5.2", "a receive makes room", quote=Q_FULL, source=S_CAPACITY)
async def c5_frees(ctx: CheckContext) -> Outcome:
    setup = await _full_channel(ctx, 2)
    if isinstance(setup, Outcome):
        return setup
    layer, channel = setup
    if not is_channel_full(await raises(layer.send(channel, msg(2))), layer):
        return failed("the channel never reported full at capacity 2")
    if await ctx.recv(layer, channel) is None:
        return failed("could not read from the full channel")
    exc = await raises(layer.send(channel, msg(3)))
    if exc is not None:
        return failed(f"after one receive the channel still refused a send: {describe(exc)}")
    return ok("one receive makes room for one send")


@CAPACITY.check(
    "C5.3",
    "per-channel capacity by glob",
    quote="it is recommended that it is configurable by the user using keyword arguments to the channel layer "
    "constructor, and furthermore configurable per channel name or name prefix",
    source=S_CAPACITY,
)
async def c5_per_channel(ctx: CheckContext) -> Outcome:
    pattern = ctx.name("glob") + "*"
    layer = _capacity_layer(ctx, 5, channel_capacity={pattern: 1})
    if isinstance(layer, Outcome):
        return layer
    limited, other = ctx.name("globA"), ctx.name("other")
    first = await raises(layer.send(limited, msg(0)))
    if first is not None:
        return failed(
            f"the first send to a channel matching channel_capacity={{{pattern!r}: 1}} raised {describe(first)}"
        )
    second = await raises(layer.send(limited, msg(1)))
    if not is_channel_full(second, layer):
        return failed(f"2nd send to a channel with capacity 1 (by glob) raised {describe(second)}")
    for i in range(2):
        exc = await raises(layer.send(other, msg(i)))
        if exc is not None:
            return failed(f"a channel outside the glob got {describe(exc)} at message {i + 1} of capacity 5")
    return ok("channel_capacity glob applied to its channels only")


@CAPACITY.check(
    "C5.4",
    "process-local channels share capacity",
    quote="Process-local channels must apply their capacity on the non-local part (that is, up to and including the "
    '``!`` character), and so capacity is shared among all of the "virtual" channels inside it.',
    source=S_CAPACITY,
)
async def c5_shared_local(ctx: CheckContext) -> Outcome:
    layer = _capacity_layer(ctx, 3)
    if isinstance(layer, Outcome):
        return layer
    name = await layer.new_channel()
    if "!" not in name:
        return not_applicable(f"new_channel() returned {name!r}: no process-local channels")
    prefix = name[: name.index("!") + 1]
    for local in ("a", "b", "c"):
        exc = await raises(layer.send(prefix + local, msg(0)))
        if exc is not None:
            return failed(f"send to {prefix + local!r} raised {describe(exc)} before the shared capacity was reached")
    exc = await raises(layer.send(prefix + "d", msg(0)))
    if is_channel_full(exc, layer):
        return ok(f"3 sends to 3 local channels under {prefix!r} filled capacity 3; the 4th raised ChannelFull")
    return failed(f"4th send under {prefix!r} (capacity 3, shared) raised {describe(exc)}: capacity is per full name")


async def _full_group(ctx: CheckContext, capacity: int) -> tuple[Any, str, str] | Outcome:
    layer = _capacity_layer(ctx, capacity)
    if isinstance(layer, Outcome):
        return layer
    group, member = await one_member_group(ctx, layer)
    return layer, member, group


@CAPACITY.check(
    "C5.5", "group_send at capacity never raises", quote=Q_GROUP_FULL, source=S_CAPACITY, requires=("groups",)
)
async def c5_group_no_raise(ctx: CheckContext) -> Outcome:
    setup = await _full_group(ctx, 3)
    if isinstance(setup, Outcome):
        return setup
    layer, _member, group = setup
    for i in range(6):
        exc = await raises(layer.group_send(group, msg(i)))
        if exc is not None:
            return failed(f"group_send #{i + 1} to a member at capacity 3 raised {describe(exc)}")
    return ok("6 group_sends to a member with capacity 3 raised nothing")


@CAPACITY.check("C5.6", "group_send drops the excess", quote=Q_GROUP_FULL, source=S_CAPACITY, requires=("groups",))
async def c5_group_drops(ctx: CheckContext) -> Outcome:
    setup = await _full_group(ctx, 3)
    if isinstance(setup, Outcome):
        return setup
    layer, member, group = setup
    for i in range(6):
        await raises(layer.group_send(group, msg(i)))
    got = [m["n"] for m in await ctx.drain(layer, member)]
    if len(got) == 3:
        return ok(f"6 group_sends at capacity 3: delivered {got}, the rest dropped")
    return failed(f"6 group_sends at capacity 3 delivered {len(got)}: {got}")


@CAPACITY.check(
    "C5.7", "a full member does not block the others", quote=Q_GROUP_FULL, source=S_CAPACITY, requires=("groups",)
)
async def c5_group_mixed(ctx: CheckContext) -> Outcome:
    layer = _capacity_layer(ctx, 2)
    if isinstance(layer, Outcome):
        return layer
    # Normal channels: process-specific ones of one instance may share a single capacity (see C5.4).
    full, free = ctx.name("full"), ctx.name("free")
    group = ctx.name("g")
    for member in (full, free):
        await layer.group_add(group, member)
    for i in range(2):
        await layer.send(full, msg(i))
    exc = await raises(layer.group_send(group, msg(99)))
    if exc is not None:
        return failed(f"group_send with one full member raised {describe(exc)}")
    got_free = await ctx.recv(layer, free, 2.0)
    if got_free is None or got_free["n"] != 99:
        return failed("the member with room got nothing because another member was full")
    got_full = [m["n"] for m in await ctx.drain(layer, full, idle=0.5)]
    if 99 in got_full:
        return failed(f"the full member (capacity 2) received a third message: {got_full}")
    return ok("the member with room got the message; the full one did not")
