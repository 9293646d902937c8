"""The join storm's accounting: the expected presence count, one process's record, and the master's merge."""

from __future__ import annotations

import pytest

from harness.measure.aggregation import Collector, HealthThresholds, merge_snapshots
from harness.measure.join_storm import JoinStorm, presence_expected

S = 1_000_000_000


def _simulated_presence(size: int) -> int:
    # The app announces each join to the members in the room at that moment, the joining one included.
    room: list[int] = []
    delivered = 0
    for member in range(size):
        room.append(member)
        delivered += len(room)
    return delivered


@pytest.mark.parametrize("size", [1, 2, 10, 1000])
def test_expected_presence_is_what_one_join_after_another_delivers(size: int) -> None:
    assert presence_expected(1, size) == _simulated_presence(size)
    assert presence_expected(3, size) == 3 * _simulated_presence(size)


def test_expected_presence_refuses_what_is_not_a_room() -> None:
    with pytest.raises(ValueError, match="need groups >= 0 and size >= 1, got groups=1, size=0"):
        presence_expected(1, 0)


def test_a_process_record_keeps_the_first_start_and_the_last_ends() -> None:
    storm = JoinStorm()
    assert storm.duration_ns is None
    storm.connect_attempted(5 * S, 6 * S)
    storm.connect_attempted(2 * S, 9 * S)
    storm.presence(join=True, read_ns=7 * S)
    storm.presence(join=False, read_ns=12 * S)
    storm.presence(join=True, read_ns=8 * S)
    assert (storm.connects, storm.first_connect_ns, storm.last_connect_ns) == (2, 2 * S, 9 * S)
    assert (storm.joins, storm.last_presence_ns, storm.duration_ns) == (2, 12 * S, 10 * S)
    assert JoinStorm.from_dict(storm.to_dict()) == storm


def test_the_merge_adds_counts_spans_processes_and_settles_only_if_all_did() -> None:
    a, b, master = JoinStorm(), JoinStorm(), JoinStorm()
    a.connect_attempted(1 * S, 2 * S)
    a.presence(join=True, read_ns=3 * S)
    a.release(4 * S, settled=True)
    b.connect_attempted(2 * S, 5 * S)
    b.presence(join=True, read_ns=6 * S)
    b.release(7 * S, settled=False)
    b.presence(join=True, read_ns=8 * S)
    merged = JoinStorm.merged([a, b, master])
    assert (merged.connects, merged.joins, merged.joins_after_release) == (2, 3, 1)
    assert (merged.first_connect_ns, merged.last_presence_ns, merged.released_ns) == (1 * S, 8 * S, 7 * S)
    assert merged.settled is False
    assert JoinStorm.merged([a, master]).settled is True
    assert JoinStorm.merged([master]).settled is None, "no barrier anywhere: nothing to say"
    assert merged.result_dict()["duration_s"] == 7.0 and merged.result_dict()["released_after_s"] == 6.0


def test_the_storm_travels_in_snapshots_and_lands_in_the_generator_result() -> None:
    workers = [Collector(run_id="r", process_id=f"w{i}", role="worker") for i in range(2)]
    for i, collector in enumerate(workers):
        collector.storm.connect_attempted(i * S, i * S + 1)
        for _ in range(3 + i):
            collector.storm.presence(join=True, read_ns=(5 + i) * S)
        collector.storm.release((7 + i) * S, settled=True)
    result = merge_snapshots(
        [c.snapshot(final=True) for c in workers], run_id="r", mode="distributed", thresholds=HealthThresholds()
    )
    storm = result["join_storm"]
    assert (storm["connects"], storm["joins"], storm["settled"]) == (2, 7, True)
    assert storm["duration_s"] == 6.0 and storm["released_after_s"] == 8.0
