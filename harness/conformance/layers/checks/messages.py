"""C3, messages: the types a message may hold, 1 MiB messages, oversized and non-dict messages."""

from __future__ import annotations

import json
from typing import Any

from harness.conformance.layers.checks.outcomes import failed, info, non_strict, ok
from harness.conformance.layers.checks.spec_text import (
    Q_1MB,
    Q_TOO_LARGE,
    Q_TYPES,
    S_CHANNELS,
    S_DETAILS,
    S_MESSAGES,
    S_STRINGS,
)
from harness.conformance.layers.checks.table import LayerCheckTable
from harness.conformance.layers.checks.traffic import describe, raises, same
from harness.conformance.layers.model import Outcome
from harness.conformance.layers.target import CheckContext

__all__ = ["MESSAGES"]

MESSAGES = LayerCheckTable("messages")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 300 else text[:300] + "…"


async def _types_kept(ctx: CheckContext, label: str, payload: dict[str, Any]) -> Outcome:
    layer = ctx.layer()
    channel = await layer.new_channel()
    message = {"type": "lc.types", **payload}
    await layer.send(channel, message)
    got = await ctx.recv(layer, channel, 3.0)
    if got is None:
        return failed(f"{label}: nothing arrived")
    if same(got, message):
        return ok(f"{label} round-trip with types preserved")
    return failed(f"{label}: sent {_short(message)}, received {_short(got)}")


async def _one_megabyte(ctx: CheckContext, *, via_group: bool) -> Outcome:
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


@MESSAGES.check(
    "C3.1",
    "every allowed type round-trips",
    quote="they are only allowed to contain the following types:",
    source=S_MESSAGES,
)
async def c3_types(ctx: CheckContext) -> Outcome:
    payload = {
        "b": b"\x00bin",
        "s": "text",
        "i": 42,
        "f": 1.5,
        "l": [1, "a", b"b", None, [True]],
        "d": {"k": {"n": False}},
        "t": True,
        "z": None,
        "empty": {},
    }
    return await _types_kept(ctx, "bytes, str, int, float, list, dict, bool, None", payload)


@MESSAGES.check("C3.2", "int64 boundaries", quote="Integers (within the signed 64 bit range)", source=S_MESSAGES)
async def c3_int64(ctx: CheckContext) -> Outcome:
    return await _types_kept(ctx, "int64 edges", {"max": 2**63 - 1, "min": -(2**63), "zero": 0})


@MESSAGES.check(
    "C3.3",
    "IEEE 754 double boundaries",
    quote="Floating point numbers (within the IEEE 754 double precision range)",
    source=S_MESSAGES,
)
async def c3_double(ctx: CheckContext) -> Outcome:
    return await _types_kept(ctx, "double edges", {"max": 1.7976931348623157e308, "tiny": 5e-324, "neg": -0.0})


@MESSAGES.check("C3.4", "tuples arrive as lists", quote="Lists (tuples should be encoded as lists)", source=S_MESSAGES)
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


@MESSAGES.check(
    "C3.5",
    "all 256 byte values and non-BMP text",
    quote="If this type still supports Unicode codepoints due to the underlying implementation, then any values "
    "should be kept within the 0 - 255 range.",
    source=S_STRINGS,
)
async def c3_bytes_and_astral_text(ctx: CheckContext) -> Outcome:
    payload = {"b": bytes(range(256)), "s": "\u00e9\u4e2d\U0001f600"}
    return await _types_kept(ctx, "bytes 0-255 and astral text", payload)


@MESSAGES.check("C3.6", "1 MiB message via send", quote=Q_1MB, source=S_CHANNELS)
async def c3_one_megabyte(ctx: CheckContext) -> Outcome:
    return await _one_megabyte(ctx, via_group=False)


@MESSAGES.check("C3.7", "1 MiB message via group_send", quote=Q_1MB, source=S_CHANNELS, requires=("groups",))
async def c3_one_megabyte_group(ctx: CheckContext) -> Outcome:
    return await _one_megabyte(ctx, via_group=True)


@MESSAGES.check("C3.8", "oversized message and MessageTooLarge", quote=Q_TOO_LARGE, source=S_DETAILS, timeout_s=40.0)
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


@MESSAGES.check("C3.9", "non-dict message refused", quote=Q_TYPES, source=S_MESSAGES)
async def c3_non_dict(ctx: CheckContext) -> Outcome:
    layer = ctx.layer()
    channel = await layer.new_channel()
    exc = await raises(layer.send(channel, ["not", "a", "dict"]))
    if exc is None:
        return non_strict("a list was accepted as a message")
    return ok(f"a list message raised {describe(exc)}")
