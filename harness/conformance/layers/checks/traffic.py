"""What the checks send and how they look at what comes back: messages, exceptions, round trips, a layer's
declared settings, a one-member group and a peer process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from harness.conformance.layers.checks.outcomes import failed
from harness.conformance.layers.model import Outcome
from harness.conformance.layers.target import CheckContext

__all__ = [
    "capacity_bound",
    "declared",
    "describe",
    "is_channel_full",
    "msg",
    "one_member_group",
    "peer_failure",
    "raises",
    "roundtrip",
    "same",
]


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


def capacity_bound(layer: Any, wanted: int) -> int:
    """``wanted`` messages, or fewer if the layer's capacity would refuse some of them."""
    capacity = getattr(layer, "capacity", None)
    return min(wanted, capacity) if isinstance(capacity, int) and capacity > 0 else wanted


async def one_member_group(ctx: CheckContext, layer: Any) -> tuple[str, str]:
    """A new group holding one new process-specific channel: (group, member)."""
    member = await layer.new_channel()
    group = ctx.name("g")
    await layer.group_add(group, member)
    return group, member


async def peer_failure(ctx: CheckContext, ops: list[dict[str, Any]]) -> Outcome | None:
    """Run ``ops`` in a peer process; the FAILED outcome when the peer did not exit 0, else None."""
    code, out = await ctx.run_peer(ops)
    if code != 0:
        return failed(f"peer process exited {code}: {out[-500:]}")
    return None
