"""The gateways' reader connections per fault window, from polls of their status (harness/measure/gateway_timeline)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.measure.gateway_timeline import GatewayTimeline

S = 1_000_000_000


def _status(connected: int, reconnects: int, uptime_s: float) -> dict[str, Any]:
    return {"connected": connected, "reconnects": reconnects, "uptime_s": uptime_s, "errors": {}}


def test_reconnects_are_counted_per_span_and_across_a_gateway_restart() -> None:
    timeline = GatewayTimeline(shards=2, interval_s=0.25)
    timeline.add(0 * S, [_status(2, 0, 10.0), _status(2, 5, 10.0)])
    # Window from 1 s: shard 0 reconnects twice, then is restarted (its uptime and counter start again).
    timeline.add(1 * S, [_status(1, 2, 11.0), _status(2, 5, 11.0)])
    timeline.add(2 * S, [None, _status(2, 6, 12.0)])
    timeline.add(3 * S, [_status(2, 1, 0.5), _status(2, 6, 13.0)])
    # The next window's span.
    timeline.add(5 * S, [_status(2, 1, 2.5), _status(2, 9, 15.0)])
    first = timeline.window(1 * S, 2 * S, 5 * S, readers=4)
    # 2 by shard 0 before its restart, 1 after it, and 1 by shard 1; the 5 from before the window are not its own.
    assert first["gateway_reconnects"] == 4
    # The poll at 2 s found shard 0 down: its two readers were not held.
    assert first["gateway_readers_dropped"] == 2
    assert first["gateway_first_drop_after_s"] == 0.0
    assert first["gateway_readers_back_after_s"] == 1.0
    assert first["gateway_polls"] == 3 and first["gateway_poll_s"] == 0.25
    second = timeline.window(5 * S, 6 * S, None, readers=4)
    assert second["gateway_reconnects"] == 3 and second["gateway_readers_dropped"] == 0
    assert second["gateway_first_drop_after_s"] is None and second["gateway_readers_back_after_s"] is None


def test_readers_back_before_the_fault_ended_or_not_back_before_the_next_window() -> None:
    timeline = GatewayTimeline(shards=1, interval_s=0.25)
    polls = [(0.0, 4), (1.25, 3), (1.5, 4), (1.75, 3), (2.5, 4), (3.0, 4), (4.0, 0), (4.5, 2), (5.5, 3), (7.0, 4)]
    for at, connected in polls:
        timeline.add(round(at * S), [_status(connected, 0, 100.0 + at)])
    # A reader dropped 0.25 s into a fault of 1 s (from 1 s), was back, dropped again and was back for good 0.5 s
    # after the end.
    early = timeline.window(1 * S, 2 * S, 4 * S, readers=4)
    assert early["gateway_readers_dropped"] == 1 and early["gateway_first_drop_after_s"] == 0.25
    assert early["gateway_readers_back_after_s"] == 0.5
    # One dropped and was back before the fault ended.
    assert timeline.window(1 * S, 3 * S, round(1.75 * S), readers=4)["gateway_readers_back_after_s"] == 0.0
    # Every reader dropped at 4 s and not all were back by the last poll.
    late = timeline.window(4 * S, 5 * S, 7 * S, readers=4)
    assert late["gateway_readers_dropped"] == 4 and late["gateway_readers_back_after_s"] is None


def test_a_span_without_a_poll_gives_no_figures() -> None:
    timeline = GatewayTimeline(shards=1, interval_s=0.25)
    timeline.add(0, [_status(1, 0, 1.0)])
    assert timeline.window(1 * S, 2 * S, 3 * S, readers=1) == {}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: GatewayTimeline(shards=0, interval_s=0.25), "at least one shard, got 0"),
        (lambda: GatewayTimeline(shards=2, interval_s=0.25).add(0, [None]), "one status per shard (2), got 1"),
    ],
)
def test_bad_input_is_named(make: Any, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        make()
    assert message in str(raised.value)
