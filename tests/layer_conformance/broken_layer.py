"""Deliberately non-conforming variants of the in-memory layer: each breaks one rule the checks must catch."""

from __future__ import annotations

from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

__all__ = [
    "DoubleDeliveryLayer",
    "GroupSendRaisesLayer",
    "IgnoresCapacityLayer",
    "StrictDiscardLayer",
    "SwappedOrderLayer",
]


class DoubleDeliveryLayer(InMemoryChannelLayer):  # type: ignore[misc]
    """Puts every message on the queue twice."""

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await super().send(channel, message)
        await super().send(channel, message)


class SwappedOrderLayer(InMemoryChannelLayer):  # type: ignore[misc]
    """Holds back every other message so pairs arrive swapped (1, 0, 3, 2, …)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._held: dict[str, dict[str, Any]] = {}

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        held = self._held.pop(channel, None)
        if held is None:
            self._held[channel] = message
            return
        await super().send(channel, message)
        await super().send(channel, held)


class StrictDiscardLayer(InMemoryChannelLayer):  # type: ignore[misc]
    """group_discard raises for a channel that is not in the group."""

    async def group_discard(self, group: str, channel: str) -> None:
        if channel not in self.groups.get(group, {}):
            raise KeyError(f"{channel} is not in {group}")
        await super().group_discard(group, channel)


class GroupSendRaisesLayer(InMemoryChannelLayer):  # type: ignore[misc]
    """group_send lets ChannelFull escape instead of dropping silently."""

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        for channel in list(self.groups.get(group, {})):
            queue = self.channels.get(channel)
            if queue is not None and queue.qsize() >= self.get_capacity(channel):
                raise ChannelFull(channel)
        await super().group_send(group, message)


class IgnoresCapacityLayer(InMemoryChannelLayer):  # type: ignore[misc]
    """Claims a capacity but never enforces it."""

    def get_capacity(self, channel: str) -> int:
        return 0  # asyncio.Queue(maxsize=0) is unbounded
