from __future__ import annotations

import asyncio

from eks_emulator.timeline import Timeline

from .conftest import UNIT


async def test_fires_in_time_order_with_one_timer() -> None:
    timeline = Timeline()
    fired: list[str] = []
    timeline.at(0.06 * UNIT, lambda: fired.append("c"))
    timeline.at(0.02 * UNIT, lambda: fired.append("a"))
    timeline.at(0.02 * UNIT, lambda: fired.append("b"))
    assert fired == [] and len(timeline) == 3
    timeline.start()
    await asyncio.sleep(0.04 * UNIT)
    assert fired == ["a", "b"]
    timeline.after(0.0, lambda: fired.append("now"))
    await asyncio.sleep(0.08 * UNIT)
    assert fired == ["a", "b", "now", "c"]
    assert timeline.fired == 4 and len(timeline) == 0


async def test_a_failing_entry_does_not_stop_the_others() -> None:
    timeline = Timeline()
    fired: list[int] = []
    timeline.at(0.0, lambda: 1 / 0)
    timeline.at(0.0, lambda: fired.append(1))
    timeline.start()
    await asyncio.sleep(0.02 * UNIT)
    assert fired == [1]


async def test_close_drops_pending_entries() -> None:
    timeline = Timeline()
    fired: list[int] = []
    timeline.start()
    timeline.after(0.02 * UNIT, lambda: fired.append(1))
    timeline.close()
    await asyncio.sleep(0.04 * UNIT)
    assert fired == [] and len(timeline) == 0
