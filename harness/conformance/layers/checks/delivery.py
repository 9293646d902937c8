"""C4, delivery: queueing, FIFO order, at-most-once, no blocking, cancellation, other processes, many writers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from harness.conformance.layers.checks.outcomes import failed, non_strict, not_applicable, ok
from harness.conformance.layers.checks.spec_text import (
    Q_FIFO,
    Q_IPC,
    Q_NO_BLOCK,
    Q_ONCE,
    Q_RATIO,
    Q_RECEIVE,
    S_ABSTRACT,
    S_CHANNELS,
    S_DETAILS,
    S_SEMANTICS,
)
from harness.conformance.layers.checks.table import LayerCheckTable
from harness.conformance.layers.checks.traffic import capacity_bound, describe, msg, peer_failure, raises
from harness.conformance.layers.model import Outcome
from harness.conformance.layers.target import SETTLE_S, CheckContext

__all__ = ["DELIVERY"]

DELIVERY = LayerCheckTable("delivery")


async def _race(ctx: CheckContext, readers: list[Any], sender: Any, channel: str, n: int) -> Outcome:
    results: list[list[dict[str, Any]]] = [[] for _ in readers]

    async def read(layer: Any, into: list[dict[str, Any]]) -> None:
        # Blocking receives, cancelled once at the end: a storm of short timeouts would test cancellation instead.
        while True:
            into.append(await layer.receive(channel))

    tasks = [asyncio.create_task(read(r, into)) for r, into in zip(readers, results, strict=True)]
    await asyncio.sleep(SETTLE_S)
    for i in range(n):
        await sender.send(channel, msg(i))
    deadline = time.monotonic() + 3.0
    while sum(map(len, results)) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    # Time for a second copy to show up, if the layer makes one.
    await asyncio.sleep(0.3)
    for task in tasks:
        task.cancel()
    try:
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5.0)
    except TimeoutError:
        return failed("receive() did not return within 5 s of being cancelled")
    ids = [m["n"] for got in results for m in got]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    counts = [len(got) for got in results]
    if duplicates:
        return failed(f"{len(ids)} deliveries of {n} messages; delivered more than once: {duplicates[:20]}")
    if not ids:
        return failed(f"none of {n} messages reached either reader")
    lost = n - len(set(ids))
    return ok(f"{n} messages, readers got {counts}, none twice" + (f", {lost} lost" if lost else ""))


@DELIVERY.check(
    "C4.1",
    "a message waits for its reader",
    quote="Channels are a first-in, first out queue with at-most-once delivery semantics.",
    source=S_CHANNELS,
)
async def c4_queued(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = ctx.name()
    await layer.send(channel, msg(1))
    got = await ctx.recv(layer, channel, 2.0)
    if got is None:
        return failed("a message sent before anyone called receive() was not kept for the reader")
    return ok("a message sent before receive() waited in the channel")


@DELIVERY.check("C4.2", "FIFO on a process-specific channel", quote=Q_FIFO, source=S_SEMANTICS)
async def c4_fifo(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = await layer.new_channel()
    n = capacity_bound(layer, 40)
    for i in range(n):
        await layer.send(channel, msg(i))
    got = [m["n"] for m in await ctx.drain(layer, channel, limit=n)]
    if got != list(range(n)):
        return failed(f"sent 0..{n - 1}, received {got}")
    return ok(f"{n} messages in order")


@DELIVERY.check("C4.3", "FIFO to a waiting reader", quote=Q_FIFO, source=S_SEMANTICS)
async def c4_fifo_live(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = await layer.new_channel()
    n = 60
    reader = asyncio.create_task(ctx.drain(layer, channel, idle=1.0, limit=n))
    for i in range(n):
        await layer.send(channel, msg(i))
        if i % 7 == 0:
            await asyncio.sleep(0.005)
    got = [m["n"] for m in await reader]
    if got != list(range(n)):
        return failed(f"with a reader waiting: sent 0..{n - 1}, received {got}")
    return ok(f"{n} messages in order to a waiting reader")


@DELIVERY.check(
    "C4.4",
    "ordering on a normal channel",
    quote="They should attempt to preserve ordering in all cases as much as possible, but perfect global ordering "
    "is obviously not possible in the distributed case.",
    source=S_SEMANTICS,
)
async def c4_fifo_normal(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = ctx.name()
    n = capacity_bound(layer, 40)
    reader = asyncio.create_task(ctx.drain(layer, channel, idle=1.0, limit=n))
    await asyncio.sleep(SETTLE_S)
    for i in range(n):
        await layer.send(channel, msg(i))
    got = [m["n"] for m in await reader]
    if got == list(range(n)):
        return ok(f"{n} messages in order on a normal channel")
    return non_strict(f"normal channel: sent 0..{n - 1}, received {got}")


@DELIVERY.check("C4.5", "at-most-once, two readers, one instance", quote=Q_ONCE, source=S_CHANNELS)
async def c4_once_same_instance(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    return await _race(ctx, [layer, layer], layer, ctx.name(), capacity_bound(layer, 30))


@DELIVERY.check("C4.6", "at-most-once, two readers, two instances", quote=Q_ONCE, source=S_CHANNELS)
async def c4_once_two_instances(ctx: CheckContext) -> Outcome:
    if ctx.process_local:
        return not_applicable("process-local layer: two instances share nothing, so they cannot race")
    a, b, sender = ctx.layer(), ctx.layer(), ctx.layer()
    return await _race(ctx, [a, b], sender, ctx.name(), capacity_bound(a, 30))


@DELIVERY.check("C4.7", "receive() waits on an empty channel", quote=Q_RECEIVE, source=S_DETAILS)
async def c4_receive_waits(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = await layer.new_channel()
    got = await ctx.recv(layer, channel, 0.5)
    if got is not None:
        return failed(f"receive() on an empty channel returned {got!r}")
    return ok("receive() on an empty channel waits")


@DELIVERY.check("C4.8", "send() does not block without a reader", quote=Q_NO_BLOCK, source=S_SEMANTICS)
async def c4_send_no_block(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = ctx.name()
    n = capacity_bound(layer, 20)
    slowest = 0.0
    for i in range(n):
        start = time.monotonic()
        exc = await raises(layer.send(channel, msg(i)), 3.0)
        slowest = max(slowest, time.monotonic() - start)
        if isinstance(exc, TimeoutError):
            return failed(f"send #{i} to a channel nobody reads blocked for 3 s")
        if exc is not None:
            return failed(f"send #{i} raised {describe(exc)}")
    if slowest > 1.0:
        return failed(f"the slowest of {n} sends with no reader took {slowest:.2f}s")
    return ok(f"{n} sends with no reader, slowest {slowest * 1000:.1f} ms")


@DELIVERY.check("C4.9", "cancelled receive() loses nothing", quote=Q_RATIO, source=S_SEMANTICS)
async def c4_cancel_safety(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = await layer.new_channel()
    # First, deterministically: a receive() that timed out, then a send, then a new receive().
    if await ctx.recv(layer, channel, 0.1) is not None:
        return failed("receive() on a new channel returned a message")
    await layer.send(channel, msg(-1))
    if await ctx.recv(layer, channel, 2.0) is None:
        return failed("a message sent after a cancelled receive() and before the next one was lost")
    n = 30
    got: list[int] = []
    done = asyncio.Event()

    async def reader() -> None:
        # Short receive timeouts mimic consumers that cancel receive() (asyncio.wait_for, task cancellation).
        while not (done.is_set() and len(got) >= n):
            message = await ctx.recv(layer, channel, 0.03)
            if message is not None:
                got.append(message["n"])
            elif done.is_set():
                idle = await ctx.recv(layer, channel, 1.0)
                if idle is None:
                    return
                got.append(idle["n"])

    task = asyncio.create_task(reader())
    for i in range(n):
        await layer.send(channel, msg(i))
        await asyncio.sleep(0.02)
    done.set()
    await task
    duplicates = sorted({i for i in got if got.count(i) > 1})
    missing = sorted(set(range(n)) - set(got))
    if duplicates or missing:
        return failed(f"with receive() cancelled every 30 ms: missing {missing}, duplicated {duplicates}")
    return ok(f"{n} messages, each once, while receive() was cancelled every 30 ms")


@DELIVERY.check("C4.10", "cross-process, process-specific channel", quote=Q_IPC, source=S_ABSTRACT)
async def c4_cross_process(ctx: CheckContext) -> Outcome:
    if ctx.process_local:
        return not_applicable("process-local layer: a second process has its own, separate layer")
    layer = ctx.layer()
    channel = await layer.new_channel()
    await asyncio.sleep(SETTLE_S)
    failure = await peer_failure(ctx, [{"op": "send", "to": channel, "message": msg(i)} for i in range(5)])
    if failure is not None:
        return failure
    got = [m["n"] for m in await ctx.drain(layer, channel, idle=1.5, limit=5)]
    if got != list(range(5)):
        return failed(f"another process sent 0..4 to {channel!r}; received {got}")
    return ok("5 messages from another process, in order, on a process-specific channel")


@DELIVERY.check("C4.11", "cross-process, normal channel", quote=Q_IPC, source=S_ABSTRACT)
async def c4_cross_process_normal(ctx: CheckContext) -> Outcome:
    if ctx.process_local:
        return not_applicable("process-local layer: a second process has its own, separate layer")
    layer = ctx.layer()
    channel = ctx.name()
    first = await ctx.listen(layer, channel, 20.0)
    failure = await peer_failure(ctx, [{"op": "send", "to": channel, "message": msg(i)} for i in range(5)])
    if failure is not None:
        first.cancel()
        return failure
    head = await first
    rest = await ctx.drain(layer, channel, idle=1.0, limit=4)
    got = [m["n"] for m in ([head] if head else []) + rest]
    if sorted(got) != list(range(5)):
        return failed(f"another process sent 0..4 to {channel!r}; received {got}")
    return ok(f"5 messages from another process on a normal channel, received as {got}")


@DELIVERY.check(
    "C4.12",
    "two writers, one reader",
    quote="They can have multiple writers and multiple readers; only a single reader should get each written message.",
    source=S_CHANNELS,
)
async def c4_many_writers(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = await layer.new_channel()
    per_writer = capacity_bound(layer, 40) // 2

    async def writer(w: int) -> None:
        for i in range(per_writer):
            await layer.send(channel, msg(i, w=w))
            await asyncio.sleep(0)

    await asyncio.gather(writer(0), writer(1))
    got = await ctx.drain(layer, channel, limit=2 * per_writer)
    by_writer = {w: [m["n"] for m in got if m.get("w") == w] for w in (0, 1)}
    if len(got) != 2 * per_writer:
        return failed(f"two writers sent {2 * per_writer}, the reader got {len(got)}")
    if any(seq != list(range(per_writer)) for seq in by_writer.values()):
        return non_strict(f"per-writer order not kept: {by_writer}")
    return ok(f"two writers × {per_writer}: all delivered, each writer's order kept")
