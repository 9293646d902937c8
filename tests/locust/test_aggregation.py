"""The master-side merge of worker snapshots is exact, however often workers report."""

from __future__ import annotations

import random

from harness.aggregation import Aggregator, Collector, HealthThresholds, build_result, health_of
from harness.latency import MetricSet


def _record(collector: Collector, union: MetricSet, rng: random.Random, n: int) -> None:
    for _ in range(n):
        value = rng.randrange(1, 5_000_000)
        name = rng.choice(["round_trip", "fanout", "service_time"])
        collector.metrics.record_ns(name, value * 1000)
        union.record_ns(name, value * 1000)


def test_merge_of_periodic_cumulative_reports_equals_union_of_samples() -> None:
    rng = random.Random(7)
    union = MetricSet()
    aggregator = Aggregator(run_id="r1")
    workers = [Collector(run_id="r1", process_id=f"w{i}", role="worker") for i in range(2)]
    stale: list[dict[str, object]] = []
    for round_no in range(4):
        for i, worker in enumerate(workers):
            _record(worker, union, rng, 200 + 50 * i)
            for seq in range(round_no * 10, round_no * 10 + 10):
                worker.ledger.observe(f"s{i}", f"w{i}", seq)
            data: dict[str, object] = {}
            worker.report_to_master(worker.process_id, data)
            aggregator.worker_report(worker.process_id, data)
            # The same report twice, and an old one arriving late, must change nothing.
            aggregator.worker_report(worker.process_id, data)
            if stale:
                aggregator.worker_report(worker.process_id, stale[0])
            stale.append(data)
    merged = MetricSet.from_dict(
        build_result(aggregator.snapshots(), run_id="r1", mode="distributed", thresholds=HealthThresholds())["metrics"]
    )
    assert merged == union
    per_worker = sum(MetricSet.from_dict(s["metrics"]).recorder("round_trip").count for s in aggregator.snapshots())
    assert merged.recorder("round_trip").count == per_worker == union.recorder("round_trip").count


def test_expectations_use_senders_and_members_from_all_processes() -> None:
    a = Collector(run_id="r", process_id="a", role="worker")
    b = Collector(run_id="r", process_id="b", role="worker")
    for c, me in ((a, "ua"), (b, "ub")):
        c.join(me, "room")
    for seq in range(5):
        a.record_send("ua", "room", 0)
        for c, me in ((a, "ua"), (b, "ub")):
            if not (me == "ub" and seq == 3):  # ub misses seq 3 of ua
                c.ledger.observe("ua", me, seq)
    result = build_result(
        [a.snapshot(final=True), b.snapshot(final=True)], run_id="r", mode="distributed", thresholds=HealthThresholds()
    )
    assert result["sends"] == 5
    assert result["delivery"]["expected"] == 10
    assert result["delivery"]["lost"] == 1


def test_other_runs_are_rejected() -> None:
    aggregator = Aggregator(run_id="mine")
    other = Collector(run_id="theirs", process_id="w", role="worker")
    aggregator.worker_report("w", {"harness": other.snapshot()})
    assert aggregator.latest == {}
    assert aggregator.rejected == 1


def test_health_flags_cpu_and_send_lag_with_reasons() -> None:
    c = Collector(run_id="r", process_id="w", role="worker")
    for _ in range(3):
        c.sample_cpu(95.0)
    c.record_send("u", "g", 20_000_000)
    health = health_of(c.snapshot(), HealthThresholds())
    assert health.generator_bound
    assert any("mean CPU 95.0 %" in r for r in health.reasons)
    assert any("send-lag p99" in r for r in health.reasons)
    calm = Collector(run_id="r", process_id="w", role="worker")
    calm.sample_cpu(10.0)
    calm.record_send("u", "g", 100_000)
    assert not health_of(calm.snapshot(), HealthThresholds()).generator_bound


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.2

    def __call__(self) -> float:
        return self.now


def test_buffered_envelope_deliveries_equal_recording_each_one() -> None:
    """record_envelope buffers deliveries; what any reader sees must be what recording each one at once gives."""
    rng = random.Random(3)
    clock = _Clock()
    collector = Collector(run_id="r", process_id="local", role="local", clock=clock)
    reference = MetricSet()
    per_second: dict[int, MetricSet] = {}
    seqs: dict[tuple[str, str], int] = {}
    for i in range(3000):
        if i % 700 == 699:
            clock.now += 1.0  # deliveries of the next second must land in its own bucket
        sender, receiver = rng.choice(["a", "b"]), rng.choice(["a", "b", "c"])
        seq = seqs[sender, receiver] = seqs.get((sender, receiver), -1) + 1
        sent = rng.randrange(0, 10**9)
        received = sent + rng.randrange(-2_000, 5 * 10**9)  # a few negative, a few beyond an hour
        intended = sent - rng.randrange(0, 10**8)
        assert collector.record_envelope(sender, receiver, seq, received, sent, intended)
        reference.record_ns("round_trip" if sender == receiver else "fanout", received - sent)
        reference.record_ns("service_time", received - sent)
        reference.record_ns("response_time", received - intended)
        per_second.setdefault(int(clock.now), MetricSet()).record_ns("delivery", received - sent)
        if i == 1500:
            # A snapshot in the middle sees everything recorded so far.
            assert MetricSet.from_dict(collector.snapshot()["metrics"]).recorder("service_time").count == i + 1
    # A duplicate is accounted in the ledger and timed nowhere.
    assert not collector.record_envelope("a", "c", 0, 10**9, 0, 0)
    assert collector.metrics == reference
    assert sorted(collector.series) == sorted(per_second)
    for second, bucket in collector.series.items():
        assert bucket.latency == per_second[second].recorder("delivery")
        assert bucket.deliveries == per_second[second].recorder("delivery").count
    assert collector.ledger.totals().duplicated == 1


def test_echo_deliveries_create_no_fanout_metric() -> None:
    collector = Collector(run_id="r", process_id="local", role="local")
    collector.record_envelope("a", "a", 0, 2_000_000, 1_000_000, 1_000_000)
    assert collector.metrics.names() == ["response_time", "round_trip", "service_time"]
