"""The join storm's accounting: the expected presence count, one process's record, and the master's merge."""

from __future__ import annotations

import random

import pytest

from harness.measure.aggregation import Collector, HealthThresholds, merge_snapshots
from harness.measure.join_storm import JoinStorm, presence_bounds

S = 1_000_000_000


def _simulated_presence(adds: list[int], announces: list[int]) -> int:
    """Frames a room delivers when member i is added to the group at adds[i] and announces itself at announces[i]:
    each announcement reaches every member added before it (the app does group_add, accept, group_send)."""
    return sum(sum(1 for added in adds if added <= at) for at in announces)


@pytest.mark.parametrize("size", [1, 2, 10, 1000])
def test_presence_bounds_are_joins_one_after_another_and_all_overlapping(size: int) -> None:
    one_after_another = _simulated_presence([2 * i for i in range(size)], [2 * i + 1 for i in range(size)])
    all_overlapping = _simulated_presence([0] * size, [1] * size)
    assert presence_bounds(1, size) == (one_after_another, all_overlapping)
    assert presence_bounds(3, size) == (3 * one_after_another, 3 * all_overlapping)


def test_any_interleaving_of_joins_lies_within_the_bounds() -> None:
    rng = random.Random(4)
    least, most = presence_bounds(1, 30)
    for _ in range(200):
        adds = [rng.random() for _ in range(30)]
        # Each member announces after its own group_add, any time later.
        announces = [added + rng.random() * rng.choice([0.001, 0.1, 1.0]) for added in adds]
        assert least <= _simulated_presence(adds, announces) <= most


def test_presence_bounds_refuse_what_is_not_a_room() -> None:
    with pytest.raises(ValueError, match="need groups >= 0 and size >= 1, got groups=1, size=0"):
        presence_bounds(1, 0)


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
