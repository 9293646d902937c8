"""A fan-out cell's generator runs become fan-out by group size and, apart from it, each size's join storm."""

from __future__ import annotations

from pathlib import Path

from harness.load.generator import GeneratorResult
from harness.measure.aggregation import Collector, HealthThresholds, merge_snapshots
from harness.run.cell import _merge_runs

S = 1_000_000_000


def _run(size: int, *, failed: int = 0, settled: bool = True) -> GeneratorResult:
    """What the generator returns for a room of ``size`` members of which ``failed`` could not connect."""
    collector = Collector(run_id="r", process_id="local", role="local")
    room = [f"m{i}" for i in range(size - failed)]
    for i, member in enumerate(room):
        collector.storm.connect_attempted(i * S, i * S + S // 10)
        collector.metrics.record_ns("connect", S // 10)
        collector.join(member, "chat:r0")
        # Every member present when a join is announced reads it, the joining one included.
        for _ in room[: i + 1]:
            collector.storm.presence(join=True, read_ns=i * S + S // 5)
    for _ in range(failed):
        collector.storm.connect_attempted(size * S, size * S + 10 * S)
        collector.record_connect_failure("timeout")
    collector.storm.release(size * S + 11 * S, settled=settled)
    collector.record_send(room[0], "chat:r0", 0)
    for member in room:
        collector.record_envelope(room[0], member, 0, 30 * S, 29 * S, 29 * S)
    result = merge_snapshots([collector.snapshot(final=True)], run_id="r", mode="local", thresholds=HealthThresholds())
    return GeneratorResult(result, Path("generator.json"), Path("locust"), Path("locust.log"), 0, (), 60)


def test_each_group_size_gets_its_join_storm_with_the_expected_count() -> None:
    merged = _merge_runs([(1, 1, _run(1)), (10, 10, _run(10))])
    one, ten = merged.storms
    assert (one.group_size, one.presence_received, one.presence_expected, one.all_joined) == (1, 1, (1, 1), True)
    assert (ten.presence_received, ten.presence_expected, ten.connected, ten.members) == (55, (55, 100), 10, 10)
    assert ten.settled and ten.presence_after_release == 0
    assert ten.duration_s == 9.2 and ten.connect.count == 10
    # A group of 1 has no fan-out (its one delivery is the sender's own copy); the storm is there all the same.
    assert [g.group_size for g in merged.by_size] == [10] and merged.by_size[0].recorder.count == 9


def test_a_member_that_failed_to_connect_leaves_only_the_upper_bound() -> None:
    merged = _merge_runs([(10, 10, _run(10, failed=2, settled=False))])
    (storm,) = merged.storms
    assert (storm.connected, storm.presence_received, storm.presence_expected) == (8, 36, (55, 100))
    assert not storm.all_joined and not storm.settled
    doc = storm.to_dict()
    assert doc["all_joined"] is False and doc["members"] == 10 and doc["connect"]["count"] == 8


def test_a_run_without_group_sizes_has_no_join_storm() -> None:
    merged = _merge_runs([(None, 4, _run(4))])
    assert merged.storms == [] and merged.by_size == []
