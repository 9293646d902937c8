"""The checks: each tests one sentence of the Channel Layer Specification (django/channels docs/channel_layer_spec.rst).

Every check builds its own layer instances through the context, uses names no other check uses, and returns an
Outcome. Verdict rules are documented in docs/conformance-layers.md; known upstream deviations live in
deviations.py as data, never as branches here.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from harness.conformance.layers.model import LayerCheck, Outcome
from harness.conformance.layers.target import SETTLE_S, CheckContext
from harness.conformance.model import Verdict

__all__ = ["CHECKS", "check_by_id"]

CheckFn = Callable[[CheckContext], Awaitable[Outcome]]

S_MESSAGES = "Channel Layer Specification §Overview/Messages"
S_CHANNELS = "Channel Layer Specification §Overview/Channels"
S_CAPACITY = "Channel Layer Specification §Overview/Capacity"
S_ASYNC = "Channel Layer Specification §Overview/Asynchronous Support"
S_ABSTRACT = "Channel Layer Specification §Abstract"
S_DETAILS = "Channel Layer Specification §Specification Details"
S_SEMANTICS = "Channel Layer Specification §Channel Semantics"
S_PERSISTENCE = "Channel Layer Specification §Persistence"
S_ORDERING = "Channel Layer Specification §Approximate Global Ordering"
S_STRINGS = "Channel Layer Specification §Strings and Unicode"

Q_SEND = (
    "``coroutine send(channel, message)``, that takes two arguments: the channel to send on, as a unicode string, "
    "and the message to send, as a serializable ``dict``."
)
Q_RECEIVE = (
    "``coroutine receive(channel)``, that takes a single channel name and returns the next received message on "
    "that channel."
)
Q_NEW_CHANNEL = (
    "``coroutine new_channel()``, which returns a new process-specific channel that can be used to give to a local "
    "coroutine or receiver."
)
Q_NAME_LENGTH = "Have a maximum name length of at least 100 bytes."
Q_CHARS = (
    "Channels are identified by a unicode string name consisting only of ASCII letters, ASCII numerical digits, "
    "periods (``.``), dashes (``-``) and underscores (``_``), plus an optional type character (see below)."
)
Q_TYPES = "Messages must be a ``dict``."
Q_1MB = (
    "All channel layers must support messages up to this size, but channel layer users are encouraged to keep well "
    "below it."
)
Q_FIFO = (
    "Preserve ordering of messages perfectly with only a single reader and writer if the channel is a "
    "*single-reader* or *process-specific* channel."
)
Q_ONCE = (
    "Implementations must never deliver a message more than once or to more than one reader, and must drop messages "
    "if this is necessary to achieve this restriction."
)
Q_NO_BLOCK = "Never block on message send (though they may raise ChannelFull or MessageTooLarge)"
Q_RATIO = (
    "They are not expected to deliver all messages, but a success rate of at least 99.99% is expected under normal "
    "circumstances."
)
Q_IPC = (
    "They allow inter-process communication between different processes to help build applications that have "
    "messaging and events between different clients."
)
Q_FULL = (
    "When a channel is at or over capacity, trying to send() to that channel may raise ChannelFull, which indicates "
    "to the sender the channel is over capacity."
)
Q_GROUP_FULL = (
    "Sending to a group never raises ChannelFull; instead, it must silently drop the message if it is over capacity, "
    "as per ASGI's at-most-once delivery policy."
)
Q_GROUP_ADD = (
    "``coroutine group_add(group, channel)``, that takes a ``channel`` and adds it to the group given by ``group``. "
    "Both are unicode strings. If the channel is already in the group, the function should return normally."
)
Q_GROUP_DISCARD = (
    "``coroutine group_discard(group, channel)``, that removes the ``channel`` from the ``group`` if it is in it, "
    "and does nothing otherwise."
)
Q_GROUP_SEND = (
    "``coroutine group_send(group, message)``, that takes two positional arguments; the group to send to, as a "
    "unicode string, and the message to send, as a serializable ``dict``."
)
Q_GROUP_EXPIRY = (
    "Channel layers must also drop group membership after a configurable long timeout after the most recent "
    "``group_add`` call for that membership, the default being 86,400 seconds (one day)."
)
Q_EXPIRY = "Messages should expire after a set time sitting unread in a channel;"
Q_FLUSH = (
    "``coroutine flush()``, that resets the channel layer to a blank state, containing no messages and no groups "
    "(if the groups extension is implemented)."
)
Q_FLUSH_DISTRIBUTED = (
    "This call must block until the system is cleared and will consistently look empty to any client, if the "
    "channel layer is distributed."
)
Q_FAIR = "they should strive to prevent busy channels from overpowering quiet channels."


def ok(detail: str = "") -> Outcome:
    return Outcome(Verdict.OK, detail)


def failed(detail: str) -> Outcome:
    return Outcome(Verdict.FAILED, detail)


def non_strict(detail: str) -> Outcome:
    return Outcome(Verdict.NON_STRICT, detail)


def info(detail: str) -> Outcome:
    return Outcome(Verdict.INFORMATIONAL, detail)


def not_applicable(detail: str) -> Outcome:
    return Outcome(Verdict.NOT_APPLICABLE, detail)


def unimplemented(detail: str) -> Outcome:
    return Outcome(Verdict.UNIMPLEMENTED, detail)


def msg(n: int = 0, **extra: Any) -> dict[str, Any]:
    return {"type": "lc.test", "n": n, **extra}


async def raises(awaitable: Awaitable[Any], timeout: float = 5.0) -> BaseException | None:
    try:
        await asyncio.wait_for(awaitable, timeout)
    except Exception as exc:
        return exc
    return None


def describe(exc: BaseException | None) -> str:
    return "nothing" if exc is None else f"{type(exc).__name__}({exc})"


def is_channel_full(exc: BaseException | None, layer: Any) -> bool:
    if exc is None:
        return False
    declared = getattr(layer, "ChannelFull", None)
    if isinstance(declared, type) and isinstance(exc, declared):
        return True
    # Layers raise channels.exceptions.ChannelFull without exposing it as an attribute; the name is what users catch.
    return any(cls.__name__ == "ChannelFull" for cls in type(exc).__mro__)


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (True == 1 and b"a" != "a" matter here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


async def roundtrip(ctx: CheckContext, layer: Any, channel: str, message: dict[str, Any]) -> dict[str, Any] | None:
    task = await ctx.listen(layer, channel, 5.0)
    try:
        await layer.send(channel, message)
    except BaseException:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise
    return await task


def declared(layer: Any, attribute: str, expected: Any) -> bool:
    return bool(getattr(layer, attribute, None) == expected)


# -- C1 API surface -------------------------------------------------------------------------------------------------


def _coroutine_method(name: str) -> CheckFn:
    async def check(ctx: CheckContext) -> Outcome:
        layer = ctx.layer()
        method = getattr(layer, name, None)
        if method is None:
            return failed(f"the layer has no {name}()")
        if inspect.iscoroutinefunction(method):
            return ok(f"{name} is a coroutine function")
        # Proxies (e.g. the pub/sub layer's functools.partial) are still fine if calling them gives an awaitable.
        target = getattr(method, "func", None)
        if target is not None and inspect.iscoroutinefunction(target):
            return ok(f"{name} is a partial of a coroutine function")
        return failed(f"{name} is {type(method).__name__}, not a coroutine function")

    return check


async def c1_new_channel(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    names = [await layer.new_channel() for _ in range(20)]
    if not all(isinstance(n, str) for n in names):
        return failed(f"new_channel() returned {sorted({type(n).__name__ for n in names})}")
    if len(set(names)) != len(names):
        return failed(f"new_channel() repeated a name in 20 calls: {names}")
    return ok(f"20 distinct names, e.g. {names[0]!r}")


async def c1_extensions(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    extensions = getattr(layer, "extensions", None)
    if extensions is None:
        return failed("no extensions attribute")
    if not all(isinstance(e, str) for e in extensions):
        return failed(f"extensions holds non-strings: {extensions!r}")
    unknown = sorted(set(extensions) - {"groups", "flush"})
    if not isinstance(extensions, list):
        return non_strict(f"extensions is a {type(extensions).__name__}, not a list: {extensions!r}")
    return ok(f"extensions={extensions!r}" + (f"; beyond the spec: {unknown}" if unknown else ""))


def _exception_attribute(name: str) -> CheckFn:
    async def check(ctx: CheckContext) -> Outcome:
        layer = ctx.layer()
        value = getattr(layer, name, None)
        if isinstance(value, type) and issubclass(value, Exception):
            return ok(f"layer.{name} is {value.__module__}.{value.__qualname__}")
        return failed(f"layer.{name} is {value!r}; the spec lists it among the attributes a layer must provide")

    return check


async def c1_group_methods(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    missing = [n for n in ("group_add", "group_discard", "group_send") if getattr(layer, n, None) is None]
    if missing:
        return failed(f"'groups' is advertised but {missing} are missing")
    return ok("group_add, group_discard and group_send present")


async def c1_group_expiry_int(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    value = getattr(layer, "group_expiry", None)
    if value is None:
        return failed("'groups' is advertised but the layer has no group_expiry attribute")
    if isinstance(value, bool) or not isinstance(value, int):
        return non_strict(f"group_expiry is {value!r} ({type(value).__name__}), not an int")
    return ok(f"group_expiry={value}")


async def c1_group_expiry_default(ctx: CheckContext) -> Outcome:
    layer = ctx.layer(without=("group_expiry",))
    value = getattr(layer, "group_expiry", None)
    if value is None:
        return failed("no group_expiry attribute")
    if value != 86400:
        return failed(f"default group_expiry is {value!r}, not 86400")
    return ok("default group_expiry=86400")


async def c1_async_to_sync(ctx: CheckContext) -> Outcome:
    from asgiref.sync import async_to_sync

    layer = ctx.layer()
    channel = await layer.new_channel()

    def sync_send() -> None:
        async_to_sync(layer.send)(channel, msg(7))

    await asyncio.to_thread(sync_send)
    got = await ctx.recv(layer, channel, 3.0)
    if got is None:
        return failed("a message sent with async_to_sync(layer.send) from a thread never arrived")
    return ok("async_to_sync(send) from a worker thread delivered to an async receiver")


# -- C2 names -------------------------------------------------------------------------------------------------------


def _padded(ctx: CheckContext, length: int) -> str:
    base = ctx.name("n")
    return base + "x" * (length - len(base))


def _name_roundtrip(length: int) -> CheckFn:
    async def check(ctx: CheckContext) -> Outcome:
        layer = ctx.layer()
        name = _padded(ctx, length)
        try:
            got = await roundtrip(ctx, layer, name, msg(length))
        except Exception as exc:
            return failed(f"a {len(name)}-character channel name was refused: {describe(exc)}")
        if got is None or got.get("n") != length:
            return failed(f"nothing arrived on a {len(name)}-character channel")
        return ok(f"{len(name)}-character name sent and received")

    return check


async def c2_group_name_100(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    group = _padded(ctx, 100)
    member = await layer.new_channel()
    exc = await raises(layer.group_add(group, member))
    if exc is not None:
        return failed(f"group_add with a 100-character group name raised {describe(exc)}")
    await layer.group_send(group, msg(1))
    if await ctx.recv(layer, member, 2.0) is None:
        return failed("the 100-character group was accepted but group_send delivered nothing")
    return ok("100-character group name works")


async def c2_allowed_chars(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    name = f"lc{ctx.token}.AZaz09-_."
    try:
        got = await roundtrip(ctx, layer, name, msg(1))
    except Exception as exc:
        return failed(f"{name!r} was refused: {describe(exc)}")
    return ok(f"{name!r} round-trips") if got else failed(f"nothing arrived on {name!r}")


async def c2_question_mark(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    name = ctx.name("reply") + "?abc123"
    try:
        got = await roundtrip(ctx, layer, name, msg(1))
    except Exception as exc:
        return failed(f"the single-reader name {name!r} was refused: {describe(exc)}")
    return ok(f"{name!r} round-trips") if got else failed(f"nothing arrived on {name!r}")


async def c2_new_channel_bang(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    name = await layer.new_channel()
    count = name.count("!")
    got = await roundtrip(ctx, layer, name, msg(1))
    if got is None:
        return failed(f"nothing arrived on the new_channel() name {name!r}")
    if count == 1:
        return ok(f"{name!r}: one '!', full name receives")
    return non_strict(f"{name!r} has {count} '!' characters; it works, but is not marked process-specific")


async def c2_receive_prefix(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    name = await layer.new_channel()
    if "!" not in name:
        return not_applicable(f"new_channel() returned {name!r}, which has no '!' prefix to receive on")
    prefix = name[: name.index("!") + 1]
    task = await ctx.listen(layer, prefix, 1.5)
    await layer.send(name, msg(1))
    got = await task
    if got is not None:
        return ok(f"receive({prefix!r}) got the message sent to {name!r}")
    return info(
        f"receive({prefix!r}) got nothing for {name!r}: the layer expects the full name in receive(), as Channels "
        "2+ consumers call it"
    )


def _rejects(kind: str, names: list[Any]) -> CheckFn:
    async def check(ctx: CheckContext) -> Outcome:
        layer = ctx.layer()
        accepted = []
        for name in names:
            if kind == "group":
                member = await layer.new_channel()
                exc = await raises(layer.group_add(name, member), 2.0)
            else:
                exc = await raises(layer.send(name, msg(1)), 2.0)
            if exc is None:
                accepted.append(name)
        if accepted:
            return non_strict(
                f"accepted invalid {kind} names {accepted!r} (the spec restricts names; it does not "
                "require layers to refuse others)"
            )
        return ok(f"refused all of {names!r}")

    return check


# -- C3 messages ----------------------------------------------------------------------------------------------------


def _message_roundtrip(label: str, payload: dict[str, Any], expect: dict[str, Any] | None = None) -> CheckFn:
    async def check(ctx: CheckContext) -> Outcome:
        layer = ctx.layer()
        channel = await layer.new_channel()
        message = {"type": "lc.types", **payload}
        await layer.send(channel, message)
        got = await ctx.recv(layer, channel, 3.0)
        if got is None:
            return failed(f"{label}: nothing arrived")
        wanted = {"type": "lc.types", **(expect if expect is not None else payload)}
        if same(got, wanted):
            return ok(f"{label} round-trip with types preserved")
        return failed(f"{label}: sent {_short(wanted)}, received {_short(got)}")

    return check


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 300 else text[:300] + "…"


async def c3_tuple(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "lc.tuple", "t": (1, "a", (2, 3))})
    got = await ctx.recv(layer, channel, 3.0)
    if got is None:
        return failed("a message holding a tuple never arrived")
    if same(got["t"], [1, "a", [2, 3]]):
        return ok("tuples arrive as lists")
    return non_strict(f"tuples arrive as {got['t']!r}: the layer does not encode tuples as lists")


def _one_megabyte(via_group: bool) -> CheckFn:
    async def check(ctx: CheckContext) -> Outcome:
        layer = ctx.layer()
        channel = await layer.new_channel()
        skeleton = {"type": "lc.big", "data": ""}
        size = 1024 * 1024
        message = {"type": "lc.big", "data": "x" * (size - len(json.dumps(skeleton)))}
        assert len(json.dumps(message)) == size
        if via_group:
            group = ctx.name("g")
            await layer.group_add(group, channel)
            await layer.group_send(group, message)
        else:
            await layer.send(channel, message)
        got = await ctx.recv(layer, channel, 10.0)
        if got is None:
            return failed("a message of 1 MiB encoded as JSON never arrived")
        if got != message:
            return failed("the 1 MiB message arrived altered")
        return ok("1,048,576 bytes as JSON delivered intact")

    return check


async def c3_too_large(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = await layer.new_channel()
    size = 8 * 1024 * 1024
    exc = await raises(layer.send(channel, {"type": "lc.huge", "data": b"x" * size}), 15.0)
    if exc is None:
        got = await ctx.recv(layer, channel, 10.0)
        return info(
            f"an 8 MiB message was accepted{' and delivered' if got else ''}: no size limit, so "
            "MessageTooLarge never applies"
        )
    if type(exc).__name__ == "MessageTooLarge":
        return ok("an 8 MiB message raised MessageTooLarge")
    return non_strict(f"an 8 MiB message raised {describe(exc)} rather than MessageTooLarge")


async def c3_non_dict(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = await layer.new_channel()
    exc = await raises(layer.send(channel, ["not", "a", "dict"]))
    if exc is None:
        return non_strict("a list was accepted as a message")
    return ok(f"a list message raised {describe(exc)}")


# -- C4 delivery ----------------------------------------------------------------------------------------------------


async def c4_queued(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = ctx.name()
    await layer.send(channel, msg(1))
    got = await ctx.recv(layer, channel, 2.0)
    if got is None:
        return failed("a message sent before anyone called receive() was not kept for the reader")
    return ok("a message sent before receive() waited in the channel")


def _capacity_bound(layer: Any, wanted: int) -> int:
    capacity = getattr(layer, "capacity", None)
    return min(wanted, capacity) if isinstance(capacity, int) and capacity > 0 else wanted


async def c4_fifo(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = await layer.new_channel()
    n = _capacity_bound(layer, 40)
    for i in range(n):
        await layer.send(channel, msg(i))
    got = [m["n"] for m in await ctx.drain(layer, channel, limit=n)]
    if got != list(range(n)):
        return failed(f"sent 0..{n - 1}, received {got}")
    return ok(f"{n} messages in order")


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


async def c4_fifo_normal(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = ctx.name()
    n = _capacity_bound(layer, 40)
    reader = asyncio.create_task(ctx.drain(layer, channel, idle=1.0, limit=n))
    await asyncio.sleep(SETTLE_S)
    for i in range(n):
        await layer.send(channel, msg(i))
    got = [m["n"] for m in await reader]
    if got == list(range(n)):
        return ok(f"{n} messages in order on a normal channel")
    return non_strict(f"normal channel: sent 0..{n - 1}, received {got}")


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


async def c4_once_same_instance(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    return await _race(ctx, [layer, layer], layer, ctx.name(), _capacity_bound(layer, 30))


async def c4_once_two_instances(ctx: CheckContext) -> Outcome:
    if ctx.process_local:
        return not_applicable("process-local layer: two instances share nothing, so they cannot race")
    a, b, sender = ctx.layer(), ctx.layer(), ctx.layer()
    return await _race(ctx, [a, b], sender, ctx.name(), _capacity_bound(a, 30))


async def c4_receive_waits(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = await layer.new_channel()
    got = await ctx.recv(layer, channel, 0.5)
    if got is not None:
        return failed(f"receive() on an empty channel returned {got!r}")
    return ok("receive() on an empty channel waits")


async def c4_send_no_block(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = ctx.name()
    n = _capacity_bound(layer, 20)
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


async def c4_cross_process(ctx: CheckContext) -> Outcome:
    if ctx.process_local:
        return not_applicable("process-local layer: a second process has its own, separate layer")
    layer = ctx.layer()
    channel = await layer.new_channel()
    await asyncio.sleep(SETTLE_S)
    code, out = await ctx.run_peer([{"op": "send", "to": channel, "message": msg(i)} for i in range(5)])
    if code != 0:
        return failed(f"peer process exited {code}: {out[-500:]}")
    got = [m["n"] for m in await ctx.drain(layer, channel, idle=1.5, limit=5)]
    if got != list(range(5)):
        return failed(f"another process sent 0..4 to {channel!r}; received {got}")
    return ok("5 messages from another process, in order, on a process-specific channel")


async def c4_cross_process_normal(ctx: CheckContext) -> Outcome:
    if ctx.process_local:
        return not_applicable("process-local layer: a second process has its own, separate layer")
    layer = ctx.layer()
    channel = ctx.name()
    first = await ctx.listen(layer, channel, 20.0)
    code, out = await ctx.run_peer([{"op": "send", "to": channel, "message": msg(i)} for i in range(5)])
    if code != 0:
        first.cancel()
        return failed(f"peer process exited {code}: {out[-500:]}")
    head = await first
    rest = await ctx.drain(layer, channel, idle=1.0, limit=4)
    got = [m["n"] for m in ([head] if head else []) + rest]
    if sorted(got) != list(range(5)):
        return failed(f"another process sent 0..4 to {channel!r}; received {got}")
    return ok(f"5 messages from another process on a normal channel, received as {got}")


async def c4_many_writers(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = await layer.new_channel()
    per_writer = _capacity_bound(layer, 40) // 2

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


# -- C5 capacity ----------------------------------------------------------------------------------------------------

NO_CAPACITY = (
    "the layer exposes no capacity attribute equal to the configured value (the spec: a channel *may* have one)"
)


async def c5_channel_full(ctx: CheckContext) -> Outcome:
    layer = ctx.layer(capacity=3)
    if not declared(layer, "capacity", 3):
        return not_applicable(NO_CAPACITY)
    channel = ctx.name()
    for i in range(3):
        await layer.send(channel, msg(i))
    start = time.monotonic()
    exc = await raises(layer.send(channel, msg(3)), 3.0)
    took = time.monotonic() - start
    if is_channel_full(exc, layer):
        if took > 1.0:
            return failed(f"ChannelFull came after {took:.2f}s: the full send blocked")
        return ok(f"4th send at capacity 3 raised {type(exc).__name__} in {took * 1000:.1f} ms")
    return failed(f"the 4th send at capacity 3 raised {describe(exc)}")


async def c5_frees(ctx: CheckContext) -> Outcome:
    layer = ctx.layer(capacity=2)
    if not declared(layer, "capacity", 2):
        return not_applicable(NO_CAPACITY)
    channel = ctx.name()
    for i in range(2):
        await layer.send(channel, msg(i))
    if not is_channel_full(await raises(layer.send(channel, msg(2))), layer):
        return failed("the channel never reported full at capacity 2")
    if await ctx.recv(layer, channel) is None:
        return failed("could not read from the full channel")
    exc = await raises(layer.send(channel, msg(3)))
    if exc is not None:
        return failed(f"after one receive the channel still refused a send: {describe(exc)}")
    return ok("one receive makes room for one send")


async def c5_per_channel(ctx: CheckContext) -> Outcome:
    pattern = ctx.name("glob") + "*"
    layer = ctx.layer(capacity=5, channel_capacity={pattern: 1})
    if not declared(layer, "capacity", 5):
        return not_applicable(NO_CAPACITY)
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


async def c5_shared_local(ctx: CheckContext) -> Outcome:
    layer = ctx.layer(capacity=3)
    if not declared(layer, "capacity", 3):
        return not_applicable(NO_CAPACITY)
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
    layer = ctx.layer(capacity=capacity)
    if not declared(layer, "capacity", capacity):
        return not_applicable(NO_CAPACITY)
    member = await layer.new_channel()
    group = ctx.name("g")
    await layer.group_add(group, member)
    return layer, member, group


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


async def c5_group_mixed(ctx: CheckContext) -> Outcome:
    layer = ctx.layer(capacity=2)
    if not declared(layer, "capacity", 2):
        return not_applicable(NO_CAPACITY)
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


# -- C6 expiry and flush --------------------------------------------------------------------------------------------

NO_EXPIRY = "the layer exposes no expiry attribute equal to the configured value: message expiry is not configurable"


async def c6_expiry(ctx: CheckContext) -> Outcome:
    layer = ctx.layer(expiry=1)
    if not declared(layer, "expiry", 1):
        return unimplemented(NO_EXPIRY)
    channel = ctx.name()
    await layer.send(channel, msg(1))
    await asyncio.sleep(2.2)
    got = await ctx.recv(layer, channel, 1.0)
    if got is not None:
        return failed("with expiry=1 a message unread for 2.2 s was still delivered")
    return ok("with expiry=1 a message unread for 2.2 s was gone")


async def c6_expiry_keeps_newer(ctx: CheckContext) -> Outcome:
    layer = ctx.layer(expiry=1)
    if not declared(layer, "expiry", 1):
        return unimplemented(NO_EXPIRY)
    channel = ctx.name()
    await layer.send(channel, msg(1))
    await asyncio.sleep(2.2)
    await layer.send(channel, msg(2))
    got = await ctx.recv(layer, channel, 2.0)
    if got is None:
        return failed("the fresh message sent after an older one expired never arrived")
    if got["n"] != 2:
        return failed(f"received the expired message {got} before the fresh one")
    return ok("the expired message was skipped, the fresh one delivered")


async def c6_expiry_membership(ctx: CheckContext) -> Outcome:
    layer = ctx.layer(expiry=1)
    if not declared(layer, "expiry", 1):
        return unimplemented(NO_EXPIRY)
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


async def c6_group_expiry(ctx: CheckContext) -> Outcome:
    layer = ctx.layer(group_expiry=2)
    value = getattr(layer, "group_expiry", None)
    if value is None:
        return failed("the layer has no group_expiry: group membership never times out")
    if value != 2:
        return failed(f"group_expiry=2 was configured but the layer reports {value!r}")
    member = await layer.new_channel()
    group = ctx.name("g")
    await layer.group_add(group, member)
    await asyncio.sleep(1.2)
    await layer.group_send(group, msg(1))
    if await ctx.recv(layer, member, 1.0) is None:
        return failed("membership was gone 1.2 s after group_add with group_expiry=2")
    await asyncio.sleep(3.2 - 1.2)
    await layer.group_send(group, msg(2))
    if await ctx.recv(layer, member, 1.0) is not None:
        return failed("membership still delivered 3.2 s after group_add with group_expiry=2")
    return ok("with group_expiry=2: member at 1.2 s, gone at 3.2 s")


async def c6_group_expiry_refresh(ctx: CheckContext) -> Outcome:
    layer = ctx.layer(group_expiry=2)
    if not declared(layer, "group_expiry", 2):
        return failed("the layer has no configurable group_expiry")
    member = await layer.new_channel()
    group = ctx.name("g")
    await layer.group_add(group, member)
    await asyncio.sleep(1.5)
    await layer.group_add(group, member)
    await asyncio.sleep(1.7)
    await layer.group_send(group, msg(1))
    if await ctx.recv(layer, member, 1.0) is None:
        return failed("a second group_add at 1.5 s did not extend membership to 3.2 s (group_expiry=2)")
    return ok("a repeated group_add restarted the group_expiry clock")


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


async def c6_flush_groups(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    member = await layer.new_channel()
    group = ctx.name("g")
    await layer.group_add(group, member)
    await layer.flush()
    await layer.group_send(group, msg(1))
    if await ctx.recv(layer, member, 0.5) is not None:
        return failed("group membership survived flush()")
    return ok("flush() removed group membership")


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


# -- C7 groups ------------------------------------------------------------------------------------------------------


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


async def c7_idempotent_add(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    member = await layer.new_channel()
    group = ctx.name("g")
    await layer.group_add(group, member)
    exc = await raises(layer.group_add(group, member))
    if exc is not None:
        return failed(f"adding a member twice raised {describe(exc)}")
    await layer.group_send(group, msg(1))
    count = len(await ctx.drain(layer, member, idle=0.4))
    if count != 1:
        return failed(f"after a double group_add one group_send delivered {count} messages")
    return ok("a second group_add returned normally; the member still gets one copy")


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


async def c7_empty_group(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    exc = await raises(layer.group_send(ctx.name("empty"), msg(1)), 2.0)
    if exc is not None:
        return failed(f"group_send to a group with no members raised {describe(exc)}")
    return ok("group_send to an empty group returned normally")


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


async def c7_shared_groups(ctx: CheckContext) -> Outcome:
    if ctx.process_local:
        return not_applicable("process-local layer: instances keep separate groups")
    owner, sender = ctx.layer(), ctx.layer()
    member = await owner.new_channel()
    group = ctx.name("g")
    await owner.group_add(group, member)
    await asyncio.sleep(SETTLE_S)
    await sender.group_send(group, msg(1))
    if await ctx.recv(owner, member, 2.0) is None:
        return failed("group_send from a second instance did not reach a member added through the first")
    return ok("membership added through one instance is used by another")


async def c7_cross_process_group(ctx: CheckContext) -> Outcome:
    if ctx.process_local:
        return not_applicable("process-local layer: a second process has its own groups")
    layer = ctx.layer()
    member = await layer.new_channel()
    group = ctx.name("g")
    await layer.group_add(group, member)
    await asyncio.sleep(SETTLE_S)
    code, out = await ctx.run_peer([{"op": "group_send", "to": group, "message": msg(i)} for i in range(3)])
    if code != 0:
        return failed(f"peer process exited {code}: {out[-500:]}")
    got = [m["n"] for m in await ctx.drain(layer, member, idle=1.5, limit=3)]
    if got != [0, 1, 2]:
        return failed(f"another process group_sent 0..2; the member received {got}")
    return ok("group_send from another process reached the member, in order")


# -- C8 fairness and resilience -------------------------------------------------------------------------------------


async def _busy_quiet(ctx: CheckContext, layer: Any, busy: str, quiet: str) -> Outcome:
    backlog = _capacity_bound(layer, 80)
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


async def c8_fair_local(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    busy, quiet = await layer.new_channel(), await layer.new_channel()
    return await _busy_quiet(ctx, layer, busy, quiet)


async def c8_fair_normal(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    return await _busy_quiet(ctx, layer, ctx.name("busy"), ctx.name("quiet"))


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


def _c(
    id: str,
    category: str,
    title: str,
    quote: str,
    source: str,
    run: CheckFn,
    *,
    requires: tuple[str, ...] = (),
    slow: bool = False,
    timeout_s: float = 20.0,
) -> LayerCheck:
    return LayerCheck(
        id=id,
        category=category,
        title=title,
        spec_quote=quote,
        source=source,
        run=run,
        requires=requires,
        slow=slow,
        timeout_s=timeout_s,
    )


G = ("groups",)
F = ("flush",)

CHECKS: tuple[LayerCheck, ...] = (
    _c("C1.1", "api", "send() is a coroutine", Q_SEND, S_DETAILS, _coroutine_method("send")),
    _c("C1.2", "api", "receive() is a coroutine", Q_RECEIVE, S_DETAILS, _coroutine_method("receive")),
    _c("C1.3", "api", "new_channel() returns distinct str names", Q_NEW_CHANNEL, S_DETAILS, c1_new_channel),
    _c(
        "C1.4",
        "api",
        "extensions is a list of str",
        "``extensions``, a list of unicode string names indicating which extensions this layer provides, or an empty "
        "list if it supports none.",
        S_DETAILS,
        c1_extensions,
    ),
    _c(
        "C1.5",
        "api",
        "MessageTooLarge is a layer attribute",
        "``MessageTooLarge``, the exception raised when a send operation fails because the encoded message is over "
        "the layer's size limit.",
        S_DETAILS,
        _exception_attribute("MessageTooLarge"),
    ),
    _c(
        "C1.6",
        "api",
        "ChannelFull is a layer attribute",
        "``ChannelFull``, the exception raised when a send operation fails because the destination channel is over "
        "capacity.",
        S_DETAILS,
        _exception_attribute("ChannelFull"),
    ),
    _c(
        "C1.7",
        "api",
        "groups extension methods exist",
        "A channel layer implementing the ``groups`` extension must also provide:",
        S_DETAILS,
        c1_group_methods,
        requires=G,
    ),
    _c("C1.8", "api", "group_expiry is an int", Q_GROUP_EXPIRY, S_DETAILS, c1_group_expiry_int, requires=G),
    _c(
        "C1.9",
        "api",
        "group_expiry defaults to 86400",
        "The value of this timeout is exposed as the ``group_expiry`` property on the channel layer.",
        S_PERSISTENCE,
        c1_group_expiry_default,
        requires=G,
    ),
    _c("C1.10", "api", "flush() is a coroutine", Q_FLUSH, S_DETAILS, _coroutine_method("flush"), requires=F),
    _c(
        "C1.11",
        "api",
        "async_to_sync(send) works from a thread",
        "End-users will be able to achieve synchronous versions using the ``asgiref.sync.async_to_sync`` wrapper.",
        S_ASYNC,
        c1_async_to_sync,
    ),
    _c("C2.1", "names", "99-character channel name", Q_NAME_LENGTH, S_SEMANTICS, _name_roundtrip(99)),
    _c("C2.2", "names", "100-character channel name", Q_NAME_LENGTH, S_SEMANTICS, _name_roundtrip(100)),
    _c("C2.3", "names", "100-character group name", Q_NAME_LENGTH, S_SEMANTICS, c2_group_name_100, requires=G),
    _c("C2.4", "names", "every allowed character", Q_CHARS, S_CHANNELS, c2_allowed_chars),
    _c(
        "C2.5",
        "names",
        "single-reader name with '?'",
        "Question mark ``?`` (only to delineate single-reader channel names, and only one per name)",
        S_STRINGS,
        c2_question_mark,
    ),
    _c(
        "C2.6",
        "names",
        "new_channel() names are process-specific ('!')",
        "*Process-specific channel* names contain an exclamation mark (``!``) that separates a remote and local part.",
        S_CHANNELS,
        c2_new_channel_bang,
    ),
    _c(
        "C2.7",
        "names",
        "receive() on the '!' prefix",
        "only the name up to and including the ``!`` character is passed to the ``receive()`` call, and it will "
        "receive any message on any channel with that prefix.",
        S_CHANNELS,
        c2_receive_prefix,
    ),
    _c(
        "C2.8",
        "names",
        "invalid channel names refused",
        "Channel and group names are always unicode strings, with the additional limitation that they only use the "
        "following characters:",
        S_STRINGS,
        _rejects("channel", ["bad name", "caf\u00e9", "a/b", "", b"bytes"]),
    ),
    _c(
        "C2.9",
        "names",
        "two '!' or two '?' refused",
        "Exclamation mark ``!`` (only to delineate process-specific channel names, and only one per name)",
        S_STRINGS,
        _rejects("channel", ["lc.a!b!c", "lc.a?b?c"]),
    ),
    _c(
        "C2.10",
        "names",
        "invalid group names refused",
        "Channel and group names are always unicode strings, with the additional limitation that they only use the "
        "following characters:",
        S_STRINGS,
        _rejects("group", ["bad group", "gr\u00fcppe", "g!x"]),
        requires=G,
    ),
    _c(
        "C3.1",
        "messages",
        "every allowed type round-trips",
        "they are only allowed to contain the following types:",
        S_MESSAGES,
        _message_roundtrip(
            "bytes, str, int, float, list, dict, bool, None",
            {
                "b": b"\x00bin",
                "s": "text",
                "i": 42,
                "f": 1.5,
                "l": [1, "a", b"b", None, [True]],
                "d": {"k": {"n": False}},
                "t": True,
                "z": None,
                "empty": {},
            },
        ),
    ),
    _c(
        "C3.2",
        "messages",
        "int64 boundaries",
        "Integers (within the signed 64 bit range)",
        S_MESSAGES,
        _message_roundtrip("int64 edges", {"max": 2**63 - 1, "min": -(2**63), "zero": 0}),
    ),
    _c(
        "C3.3",
        "messages",
        "IEEE 754 double boundaries",
        "Floating point numbers (within the IEEE 754 double precision range)",
        S_MESSAGES,
        _message_roundtrip("double edges", {"max": 1.7976931348623157e308, "tiny": 5e-324, "neg": -0.0}),
    ),
    _c(
        "C3.4",
        "messages",
        "tuples arrive as lists",
        "Lists (tuples should be encoded as lists)",
        S_MESSAGES,
        c3_tuple,
    ),
    _c(
        "C3.5",
        "messages",
        "all 256 byte values and non-BMP text",
        "If this type still supports Unicode codepoints due to the underlying implementation, then any values should "
        "be kept within the 0 - 255 range.",
        S_STRINGS,
        _message_roundtrip("bytes 0-255 and astral text", {"b": bytes(range(256)), "s": "\u00e9\u4e2d\U0001f600"}),
    ),
    _c("C3.6", "messages", "1 MiB message via send", Q_1MB, S_CHANNELS, _one_megabyte(False)),
    _c("C3.7", "messages", "1 MiB message via group_send", Q_1MB, S_CHANNELS, _one_megabyte(True), requires=G),
    _c(
        "C3.8",
        "messages",
        "oversized message and MessageTooLarge",
        "``MessageTooLarge``, the exception raised when a send operation fails because the encoded message is over "
        "the layer's size limit.",
        S_DETAILS,
        c3_too_large,
        timeout_s=40.0,
    ),
    _c("C3.9", "messages", "non-dict message refused", Q_TYPES, S_MESSAGES, c3_non_dict),
    _c(
        "C4.1",
        "delivery",
        "a message waits for its reader",
        "Channels are a first-in, first out queue with at-most-once delivery semantics.",
        S_CHANNELS,
        c4_queued,
    ),
    _c("C4.2", "delivery", "FIFO on a process-specific channel", Q_FIFO, S_SEMANTICS, c4_fifo),
    _c("C4.3", "delivery", "FIFO to a waiting reader", Q_FIFO, S_SEMANTICS, c4_fifo_live),
    _c(
        "C4.4",
        "delivery",
        "ordering on a normal channel",
        "They should attempt to preserve ordering in all cases as much as possible, but perfect global ordering is "
        "obviously not possible in the distributed case.",
        S_SEMANTICS,
        c4_fifo_normal,
    ),
    _c("C4.5", "delivery", "at-most-once, two readers, one instance", Q_ONCE, S_CHANNELS, c4_once_same_instance),
    _c("C4.6", "delivery", "at-most-once, two readers, two instances", Q_ONCE, S_CHANNELS, c4_once_two_instances),
    _c("C4.7", "delivery", "receive() waits on an empty channel", Q_RECEIVE, S_DETAILS, c4_receive_waits),
    _c("C4.8", "delivery", "send() does not block without a reader", Q_NO_BLOCK, S_SEMANTICS, c4_send_no_block),
    _c("C4.9", "delivery", "cancelled receive() loses nothing", Q_RATIO, S_SEMANTICS, c4_cancel_safety),
    _c("C4.10", "delivery", "cross-process, process-specific channel", Q_IPC, S_ABSTRACT, c4_cross_process),
    _c("C4.11", "delivery", "cross-process, normal channel", Q_IPC, S_ABSTRACT, c4_cross_process_normal),
    _c(
        "C4.12",
        "delivery",
        "two writers, one reader",
        "They can have multiple writers and multiple readers; only a single reader should get each written message.",
        S_CHANNELS,
        c4_many_writers,
    ),
    _c("C5.1", "capacity", "ChannelFull at capacity, promptly", Q_FULL, S_CAPACITY, c5_channel_full),
    _c("C5.2", "capacity", "a receive makes room", Q_FULL, S_CAPACITY, c5_frees),
    _c(
        "C5.3",
        "capacity",
        "per-channel capacity by glob",
        "it is recommended that it is configurable by the user using keyword arguments to the channel layer "
        "constructor, and furthermore configurable per channel name or name prefix",
        S_CAPACITY,
        c5_per_channel,
    ),
    _c(
        "C5.4",
        "capacity",
        "process-local channels share capacity",
        "Process-local channels must apply their capacity on the non-local part (that is, up to and including the "
        '``!`` character), and so capacity is shared among all of the "virtual" channels inside it.',
        S_CAPACITY,
        c5_shared_local,
    ),
    _c(
        "C5.5",
        "capacity",
        "group_send at capacity never raises",
        Q_GROUP_FULL,
        S_CAPACITY,
        c5_group_no_raise,
        requires=G,
    ),
    _c("C5.6", "capacity", "group_send drops the excess", Q_GROUP_FULL, S_CAPACITY, c5_group_drops, requires=G),
    _c(
        "C5.7",
        "capacity",
        "a full member does not block the others",
        Q_GROUP_FULL,
        S_CAPACITY,
        c5_group_mixed,
        requires=G,
    ),
    _c("C6.1", "expiry", "unread message expires", Q_EXPIRY, S_CHANNELS, c6_expiry),
    _c("C6.2", "expiry", "expiry skips to the fresh message", Q_EXPIRY, S_CHANNELS, c6_expiry_keeps_newer),
    _c(
        "C6.3",
        "expiry",
        "expired message and group membership",
        "If a channel layer implements the ``groups`` extension, it must persist group membership until at least the "
        "time when the member channel has a message expire due to non-consumption, after which it may drop membership "
        "at any time.",
        S_PERSISTENCE,
        c6_expiry_membership,
        requires=G,
    ),
    _c("C6.4", "expiry", "group_expiry drops membership", Q_GROUP_EXPIRY, S_PERSISTENCE, c6_group_expiry, requires=G),
    _c(
        "C6.5",
        "expiry",
        "group_add restarts group_expiry",
        "``group_expiry``, an integer number of seconds that specifies how long group membership is valid for after "
        "the most recent ``group_add`` call",
        S_DETAILS,
        c6_group_expiry_refresh,
        requires=G,
    ),
    _c("C6.6", "flush", "flush() drops messages", Q_FLUSH, S_DETAILS, c6_flush_messages, requires=F),
    _c("C6.7", "flush", "flush() drops groups", Q_FLUSH, S_DETAILS, c6_flush_groups, requires=("flush", "groups")),
    _c(
        "C6.8",
        "flush",
        "flush() is seen by another client",
        Q_FLUSH_DISTRIBUTED,
        S_DETAILS,
        c6_flush_other_client,
        requires=F,
    ),
    _c("C7.1", "groups", "group_send reaches each member once", Q_GROUP_SEND, S_DETAILS, c7_fanout, requires=G),
    _c("C7.2", "groups", "group_add is idempotent", Q_GROUP_ADD, S_DETAILS, c7_idempotent_add, requires=G),
    _c(
        "C7.3",
        "groups",
        "discarding a non-member is a no-op",
        Q_GROUP_DISCARD,
        S_DETAILS,
        c7_discard_non_member,
        requires=G,
    ),
    _c("C7.4", "groups", "a discarded member gets nothing", Q_GROUP_DISCARD, S_DETAILS, c7_discard, requires=G),
    _c("C7.5", "groups", "group_send to an empty group", Q_GROUP_SEND, S_DETAILS, c7_empty_group, requires=G),
    _c("C7.6", "groups", "member of two groups", Q_GROUP_SEND, S_DETAILS, c7_two_groups, requires=G),
    _c("C7.7", "groups", "a normal channel as a member", Q_GROUP_ADD, S_DETAILS, c7_normal_member, requires=G),
    _c("C7.8", "groups", "groups shared between instances", Q_IPC, S_ABSTRACT, c7_shared_groups, requires=G),
    _c("C7.9", "groups", "group_send from another process", Q_IPC, S_ABSTRACT, c7_cross_process_group, requires=G),
    _c("C8.1", "fairness", "busy vs quiet process-specific channels", Q_FAIR, S_ORDERING, c8_fair_local),
    _c("C8.2", "fairness", "busy vs quiet normal channels", Q_FAIR, S_ORDERING, c8_fair_normal),
    _c(
        "C8.3",
        "fairness",
        "delivery ratio ≥ 99.99 % over 10,000 messages",
        Q_RATIO,
        S_SEMANTICS,
        c8_ratio,
        slow=True,
        timeout_s=120.0,
    ),
)


def check_by_id(check_id: str) -> LayerCheck:
    for check in CHECKS:
        if check.id == check_id:
            return check
    raise KeyError(f"no layer check {check_id!r}")
