"""C2, names: lengths, allowed characters, process-specific and single-reader names, invalid names refused."""

from __future__ import annotations

from typing import Any

from harness.conformance.layers.checks.outcomes import failed, info, non_strict, not_applicable, ok
from harness.conformance.layers.checks.spec_text import (
    Q_CHARS,
    Q_NAME_LENGTH,
    Q_NAMES_RESTRICTED,
    S_CHANNELS,
    S_SEMANTICS,
    S_STRINGS,
)
from harness.conformance.layers.checks.table import LayerCheckTable
from harness.conformance.layers.checks.traffic import describe, msg, raises, roundtrip
from harness.conformance.layers.model import Outcome
from harness.conformance.layers.target import CheckContext

__all__ = ["NAMES"]

NAMES = LayerCheckTable("names")


def _padded(ctx: CheckContext, length: int) -> str:
    base = ctx.name("n")
    return base + "x" * (length - len(base))


async def _length_works(ctx: CheckContext, length: int) -> Outcome:
    layer = ctx.layer()
    name = _padded(ctx, length)
    try:
        got = await roundtrip(ctx, layer, name, msg(length))
    except Exception as exc:
        return failed(f"a {len(name)}-character channel name was refused: {describe(exc)}")
    if got is None or got.get("n") != length:
        return failed(f"nothing arrived on a {len(name)}-character channel")
    return ok(f"{len(name)}-character name sent and received")


async def _name_works(ctx: CheckContext, name: str, what: str = "") -> Outcome:
    """One message round-trips on ``name``; ``what`` says what kind of name it is in the failure."""
    layer = ctx.layer()
    try:
        got = await roundtrip(ctx, layer, name, msg(1))
    except Exception as exc:
        return failed(f"{what}{name!r} was refused: {describe(exc)}")
    return ok(f"{name!r} round-trips") if got else failed(f"nothing arrived on {name!r}")


async def _refuses(ctx: CheckContext, kind: str, names: list[Any]) -> Outcome:
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


@NAMES.check("C2.1", "99-character channel name", quote=Q_NAME_LENGTH, source=S_SEMANTICS)
async def c2_name_99(ctx: CheckContext) -> Outcome:
    return await _length_works(ctx, 99)


@NAMES.check("C2.2", "100-character channel name", quote=Q_NAME_LENGTH, source=S_SEMANTICS)
async def c2_name_100(ctx: CheckContext) -> Outcome:
    return await _length_works(ctx, 100)


@NAMES.check("C2.3", "100-character group name", quote=Q_NAME_LENGTH, source=S_SEMANTICS, requires=("groups",))
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


@NAMES.check("C2.4", "every allowed character", quote=Q_CHARS, source=S_CHANNELS)
async def c2_allowed_chars(ctx: CheckContext) -> Outcome:
    return await _name_works(ctx, f"lc{ctx.token}.AZaz09-_.")


@NAMES.check(
    "C2.5",
    "single-reader name with '?'",
    quote="Question mark ``?`` (only to delineate single-reader channel names, and only one per name)",
    source=S_STRINGS,
)
async def c2_question_mark(ctx: CheckContext) -> Outcome:
    return await _name_works(ctx, ctx.name("reply") + "?abc123", "the single-reader name ")


@NAMES.check(
    "C2.6",
    "new_channel() names are process-specific ('!')",
    quote="*Process-specific channel* names contain an exclamation mark (``!``) that separates a remote and local "
    "part.",
    source=S_CHANNELS,
)
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


@NAMES.check(
    "C2.7",
    "receive() on the '!' prefix",
    quote="only the name up to and including the ``!`` character is passed to the ``receive()`` call, and it will "
    "receive any message on any channel with that prefix.",
    source=S_CHANNELS,
)
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


@NAMES.check("C2.8", "invalid channel names refused", quote=Q_NAMES_RESTRICTED, source=S_STRINGS)
async def c2_invalid_channel_names(ctx: CheckContext) -> Outcome:
    return await _refuses(ctx, "channel", ["bad name", "caf\u00e9", "a/b", "", b"bytes"])


@NAMES.check(
    "C2.9",
    "two '!' or two '?' refused",
    quote="Exclamation mark ``!`` (only to delineate process-specific channel names, and only one per name)",
    source=S_STRINGS,
)
async def c2_two_type_characters(ctx: CheckContext) -> Outcome:
    return await _refuses(ctx, "channel", ["lc.a!b!c", "lc.a?b?c"])


@NAMES.check("C2.10", "invalid group names refused", quote=Q_NAMES_RESTRICTED, source=S_STRINGS, requires=("groups",))
async def c2_invalid_group_names(ctx: CheckContext) -> Outcome:
    return await _refuses(ctx, "group", ["bad group", "gr\u00fcppe", "g!x"])
