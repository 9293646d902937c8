"""The master-side merge of worker snapshots is exact, however often workers report."""

from __future__ import annotations

import random

from harness.measure.aggregation import (
    OTHERS_PREFIX,
    Aggregator,
    Collector,
    HealthThresholds,
    health_of,
    merge_snapshots,
)
from harness.measure.latency import LatencyRecorder
from harness.measure.live import LiveFigures, LiveWindow, ProcessNow, collector_now, snapshot_now
from harness.measure.metric_set import MetricSet


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
        merge_snapshots(aggregator.snapshots(), run_id="r1", mode="distributed", thresholds=HealthThresholds())[
            "metrics"
        ]
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
    result = merge_snapshots(
        [a.snapshot(final=True), b.snapshot(final=True)], run_id="r", mode="distributed", thresholds=HealthThresholds()
    )
    assert result["sends"] == 5
    assert result["delivery"]["expected"] == 10
    assert result["delivery"]["lost"] == 1


def test_a_stream_no_membership_explains_is_outside_the_expected_not_owed() -> None:
    c = Collector(run_id="r", process_id="a", role="local")
    c.join("ua", "room")
    for seq in range(4):
        c.record_send("ua", "room", 0)
        c.ledger.observe("ua", "ua", seq)
        c.ledger.observe("ua", "stranger", seq)  # a server that also sends the room's messages to a non-member
    result = merge_snapshots([c.snapshot(final=True)], run_id="r", mode="local", thresholds=HealthThresholds())
    delivery = result["delivery"]
    assert (delivery["expected"], delivery["received"], delivery["outside_expected"], delivery["lost"]) == (4, 8, 4, 0)


def test_a_group_for_the_others_expects_no_copy_at_its_sender() -> None:
    c = Collector(run_id="r", process_id="a", role="local")
    for member in ("ua", "ub"):
        c.join(member, OTHERS_PREFIX + "room")
    for seq in range(3):
        c.record_send("ua", OTHERS_PREFIX + "room", 0)
        c.ledger.observe("ua", "ub", seq)
    c.ledger.observe("ua", "ua", 0)  # a copy the app was not meant to send back
    result = merge_snapshots([c.snapshot(final=True)], run_id="r", mode="local", thresholds=HealthThresholds())
    delivery = result["delivery"]
    assert (delivery["expected"], delivery["lost"], delivery["outside_expected"]) == (3, 0, 1)


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


def test_a_worker_locust_set_missing_makes_the_generator_the_limit_once_per_worker() -> None:
    master = Collector(run_id="r", process_id="master", role="master")
    master.lost_worker("vm_a", 3)
    for worker in ("vm_a", "vm_b"):  # still missing a second later: said once
        master.lost_worker(worker, 3)
    health = health_of(master.snapshot(), HealthThresholds())
    assert health.generator_bound and len(health.reasons) == 2
    assert "Locust set worker vm_a missing: no heartbeat from it for over 3 s" in health.reasons[0]
    merged = merge_snapshots([master.snapshot()], run_id="r", mode="distributed", thresholds=HealthThresholds())
    assert merged["generator_health"]["generator_bound"]
    assert any("worker vm_b missing" in r for r in merged["generator_health"]["generator_bound_reasons"])


class _Clock:
    def __init__(self, now: float = 1_000.2) -> None:
        self.now = now

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
        second = per_second.setdefault(int(clock.now), MetricSet())
        second.record_ns("service", received - sent)
        second.record_ns("response", received - intended)
        if i == 1500:
            # A snapshot in the middle sees everything recorded so far.
            assert MetricSet.from_dict(collector.snapshot()["metrics"]).recorder("service_time").count == i + 1
    # A duplicate is accounted in the ledger and timed nowhere.
    assert not collector.record_envelope("a", "c", 0, 10**9, 0, 0)
    assert collector.metrics == reference
    assert sorted(collector.series) == sorted(per_second)
    for second, bucket in collector.series.items():
        # A second's distributions are tallies of exactly the HDR buckets a recorder would fill.
        assert bucket.service == dict(per_second[second].recorder("service").nonzero_buckets())
        assert bucket.response == dict(per_second[second].recorder("response").nonzero_buckets())
        assert bucket.deliveries == per_second[second].recorder("service").count
    assert collector.ledger.totals().duplicated == 1


def test_echo_deliveries_create_no_fanout_metric() -> None:
    collector = Collector(run_id="r", process_id="local", role="local")
    collector.record_envelope("a", "a", 0, 2_000_000, 1_000_000, 1_000_000)
    assert collector.metrics.names() == ["response_time", "round_trip", "service_time"]


def _busy_second(collector: Collector, clock: _Clock, second: float, *, lag_ns: int, seq0: int) -> None:
    clock.now = second
    for i in range(100):
        sent = 10**9 + i * 1000
        # Received 1 ms after the actual send, which left lag_ns after its intended time.
        assert collector.record_envelope("s", "r", seq0 + i, sent + 1_000_000, sent, sent - lag_ns)


def test_time_series_records_service_and_response_time_errors_and_connections() -> None:
    clock = _Clock(100.0)
    collector = Collector(run_id="r", process_id="local", role="local", clock=clock)
    collector.connection_opened()
    collector.connection_opened()
    _busy_second(collector, clock, 101.2, lag_ns=50_000_000, seq0=0)
    collector.record_connect_failure("refused")
    collector.record_close(1006)
    collector.connection_closed()
    clock.now = 103.5
    collector.record_send("s", "g")
    doc = merge_snapshots([collector.snapshot(final=True)], run_id="r", mode="local", thresholds=HealthThresholds())
    points = {p["t_s"]: p for p in doc["time_series"]}
    assert sorted(points) == [0, 1, 2, 3]
    # Nothing happened in second 2: it is there, with zeros and the connections carried on, not left out.
    assert (points[2]["sent"], points[2]["received"], points[2]["errors"], points[2]["connections"]) == (0, 0, 0, 1)
    assert points[2]["response_time_p99_us"] is None
    busy = points[1]
    # Service time is from the actual send (1 ms); response time from the intended one (51 ms): two figures, not
    # one labelled as the other.
    assert 990 <= busy["service_time_p99_us"] <= 1010
    assert 50_900 <= busy["response_time_p99_us"] <= 51_100
    assert busy["received"] == 100 and busy["errors"] == 2 and busy["connections"] == 1
    assert points[0]["connections"] == 2 and points[0]["service_time_p99_us"] is None
    # A second without a change carries the connections on, rather than inventing a count.
    assert points[3]["connections"] == 1 and points[3]["sent"] == 1 and points[3]["errors"] == 0


def test_closed_seconds_are_encoded_once_and_a_revisited_second_again() -> None:
    clock = _Clock(10.0)
    collector = Collector(run_id="r", process_id="local", role="local", clock=clock)
    _busy_second(collector, clock, 10.0, lag_ns=0, seq0=0)
    clock.now = 11.0
    collector.record_send("s", "g")
    first = collector.snapshot()["series"][0]
    assert collector.snapshot()["series"][0] is first, "a second that is over is not encoded again"
    _busy_second(collector, clock, 10.5, lag_ns=0, seq0=100)  # the wall clock stepped back into it
    clock.now = 11.0
    collector.record_send("s", "g")
    again = collector.snapshot()["series"][0]
    assert again[2] == 200 and again is not first


def _workers_with_eight_busy_seconds() -> list[Collector]:
    clocks = [_Clock(0.0), _Clock(0.0)]
    workers = [Collector(run_id="r", process_id=f"w{i}", role="worker", clock=c) for i, c in enumerate(clocks)]
    for i, (worker, clock) in enumerate(zip(workers, clocks, strict=True)):
        clock.now = 200.0
        worker.connection_opened()
        worker.record_connect_failure("timeout")
        for second in range(201, 209):
            _busy_second(worker, clock, float(second), lag_ns=(second - 200) * 1_000_000, seq0=second * 1000)
        clock.now = 209.0 + i  # w1 is a second ahead: its second 209 is not complete everywhere yet
        worker.record_send("s", "g")
    return workers


def test_live_figures_cover_the_newest_whole_seconds_of_every_process() -> None:
    workers = _workers_with_eight_busy_seconds()
    snapshots = [w.snapshot() for w in workers]
    end = min(int(s["taken_at"]) for s in snapshots)
    figures = LiveWindow().figures({s["process_id"]: snapshot_now(s, start=end - 5) for s in snapshots}, end=end)
    assert end == 209
    assert figures.window_s == 5
    assert figures.deliveries_per_s == 2 * 100  # seconds 204-208, both processes
    assert figures.connections == 2 and figures.errors == 2
    # Seconds 204-208 lag 4-8 ms, plus 1 ms of service: the p99 is the newest second's (9 ms), not the run's.
    assert 8_900 <= figures.response_time_p99_us <= 9_100
    # Exactly the p99 of the window's deliveries recorded in one histogram.
    merged = LatencyRecorder()
    for _worker in workers:
        for second in range(204, 209):
            for _ in range(100):
                merged.record_ns(1_000_000 + (second - 200) * 1_000_000)
    assert figures.response_time_p99_us == merged.value_at_percentile(99)
    # In process, the collector's own seconds give the same figures without encoding anything.
    local = LiveWindow().figures({w.process_id: collector_now(w, start=end - 5, end=end) for w in workers}, end=end)
    assert local == figures


def test_a_second_that_is_over_is_kept_as_first_read() -> None:
    workers = _workers_with_eight_busy_seconds()
    window = LiveWindow()

    def figures(end: int) -> LiveFigures:
        return window.figures({w.process_id: collector_now(w, start=end - 5, end=end) for w in workers}, end=end)

    first = figures(209)
    # Second 206 is over: what it held when first read stands, whatever later happens to the object.
    workers[0].series[206].deliveries += 1000
    workers[0].series[206].response.clear()
    assert figures(209) == first
    # Once a second has left the window it is forgotten.
    figures(215)
    assert all(t >= 210 for _, t in window._closed)


def test_live_figures_before_the_first_whole_second() -> None:
    collector = Collector(run_id="r", process_id="local", role="local", clock=_Clock(50.5))
    collector.connection_opened()
    figures = LiveWindow().figures({"local": collector_now(collector, start=45, end=50)}, end=50)
    assert figures.window_s == 0 and figures.deliveries_per_s is None and figures.response_time_p99_us is None
    assert figures.connections == 1


def test_coordinated_omission_correction() -> None:
    """Service time from the actual send, response time from the intended one, send lag the difference."""
    collector = Collector(run_id="r", process_id="local", role="local", clock=_Clock(10.0))
    intended, sent, received = 1_000_000, 251_000_000, 252_000_000  # the sender was held back 250 ms
    assert collector.record_envelope("a", "a", 0, received, sent, intended)
    collector.record_send("a", "echo:a", sent - intended)
    collector.record_send("a", "echo:a", -5_000)  # an early send is no lag
    metrics = collector.metrics
    assert metrics.recorder("service_time").summary().max == 1_000
    assert 250_900 <= metrics.recorder("response_time").summary().max <= 251_300
    lag = metrics.recorder("send_lag")
    # 3 significant digits: the highest value of the 250 ms bucket is 250,111 µs.
    assert lag.count == 2 and lag.summary().min == 0 and 249_900 <= lag.summary().max <= 250_300


def test_the_window_kept_up_to_date_equals_one_built_afresh() -> None:
    workers = _workers_with_eight_busy_seconds()
    window = LiveWindow()
    for end in (201, 203, 204, 205, 208, 209, 209, 212, 220):

        def now(end: int = end) -> dict[str, ProcessNow]:
            return {w.process_id: collector_now(w, start=end - 5, end=end) for w in workers}

        assert window.figures(now(), end=end) == LiveWindow().figures(now(), end=end), end
