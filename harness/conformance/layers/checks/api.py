"""C1, the API surface: the coroutines, attributes and extensions a layer must provide (§Specification Details)."""

from __future__ import annotations

import asyncio
import inspect

from harness.conformance.layers.checks.outcomes import failed, non_strict, ok
from harness.conformance.layers.checks.spec_text import (
    Q_FLUSH,
    Q_GROUP_EXPIRY,
    Q_NEW_CHANNEL,
    Q_RECEIVE,
    Q_SEND,
    Q_TOO_LARGE,
    S_ASYNC,
    S_DETAILS,
    S_PERSISTENCE,
)
from harness.conformance.layers.checks.table import LayerCheckTable
from harness.conformance.layers.checks.traffic import msg
from harness.conformance.layers.model import Outcome
from harness.conformance.layers.target import CheckContext

__all__ = ["API"]

API = LayerCheckTable("api")


async def _is_coroutine_method(ctx: CheckContext, name: str) -> Outcome:
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


async def _is_exception_attribute(ctx: CheckContext, name: str) -> Outcome:
    layer = ctx.layer()
    value = getattr(layer, name, None)
    if isinstance(value, type) and issubclass(value, Exception):
        return ok(f"layer.{name} is {value.__module__}.{value.__qualname__}")
    return failed(f"layer.{name} is {value!r}; the spec lists it among the attributes a layer must provide")


@API.check("C1.1", "send() is a coroutine", quote=Q_SEND, source=S_DETAILS)
async def c1_send(ctx: CheckContext) -> Outcome:
    return await _is_coroutine_method(ctx, "send")


@API.check("C1.2", "receive() is a coroutine", quote=Q_RECEIVE, source=S_DETAILS)
async def c1_receive(ctx: CheckContext) -> Outcome:
    return await _is_coroutine_method(ctx, "receive")


@API.check("C1.3", "new_channel() returns distinct str names", quote=Q_NEW_CHANNEL, source=S_DETAILS)
async def c1_new_channel(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    names = [await layer.new_channel() for _ in range(20)]
    if not all(isinstance(n, str) for n in names):
        return failed(f"new_channel() returned {sorted({type(n).__name__ for n in names})}")
    if len(set(names)) != len(names):
        return failed(f"new_channel() repeated a name in 20 calls: {names}")
    return ok(f"20 distinct names, e.g. {names[0]!r}")


@API.check(
    "C1.4",
    "extensions is a list of str",
    quote="``extensions``, a list of unicode string names indicating which extensions this layer provides, or an "
    "empty list if it supports none.",
    source=S_DETAILS,
)
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


@API.check("C1.5", "MessageTooLarge is a layer attribute", quote=Q_TOO_LARGE, source=S_DETAILS)
async def c1_message_too_large(ctx: CheckContext) -> Outcome:
    return await _is_exception_attribute(ctx, "MessageTooLarge")


@API.check(
    "C1.6",
    "ChannelFull is a layer attribute",
    quote="``ChannelFull``, the exception raised when a send operation fails because the destination channel is "
    "over capacity.",
    source=S_DETAILS,
)
async def c1_channel_full(ctx: CheckContext) -> Outcome:
    return await _is_exception_attribute(ctx, "ChannelFull")


@API.check(
    "C1.7",
    "groups extension methods exist",
    quote="A channel layer implementing the ``groups`` extension must also provide:",
    source=S_DETAILS,
    requires=("groups",),
)
async def c1_group_methods(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    missing = [n for n in ("group_add", "group_discard", "group_send") if getattr(layer, n, None) is None]
    if missing:
        return failed(f"'groups' is advertised but {missing} are missing")
    return ok("group_add, group_discard and group_send present")


@API.check("C1.8", "group_expiry is an int", quote=Q_GROUP_EXPIRY, source=S_DETAILS, requires=("groups",))
async def c1_group_expiry_int(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    value = getattr(layer, "group_expiry", None)
    if value is None:
        return failed("'groups' is advertised but the layer has no group_expiry attribute")
    if isinstance(value, bool) or not isinstance(value, int):
        return non_strict(f"group_expiry is {value!r} ({type(value).__name__}), not an int")
    return ok(f"group_expiry={value}")


@API.check(
    "C1.9",
    "group_expiry defaults to 86400",
    quote="The value of this timeout is exposed as the ``group_expiry`` property on the channel layer.",
    source=S_PERSISTENCE,
    requires=("groups",),
)
async def c1_group_expiry_default(ctx: CheckContext) -> Outcome:
    layer = ctx.layer(without=("group_expiry",))
    value = getattr(layer, "group_expiry", None)
    if value is None:
        return failed("no group_expiry attribute")
    if value != 86400:
        return failed(f"default group_expiry is {value!r}, not 86400")
    return ok("default group_expiry=86400")


@API.check("C1.10", "flush() is a coroutine", quote=Q_FLUSH, source=S_DETAILS, requires=("flush",))
async def c1_flush(ctx: CheckContext) -> Outcome:
    return await _is_coroutine_method(ctx, "flush")


@API.check(
    "C1.11",
    "async_to_sync(send) works from a thread",
    quote="End-users will be able to achieve synchronous versions using the ``asgiref.sync.async_to_sync`` wrapper.",
    source=S_ASYNC,
)
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
