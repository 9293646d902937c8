from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.measure.latency import (
    DEFAULT_HIGHEST_US,
    HistogramDecodeError,
    LatencyRecorder,
    buckets_percentile,
    ns_to_us,
)
from harness.measure.metric_set import MetricSet

values_us = st.integers(min_value=-5, max_value=DEFAULT_HIGHEST_US + 5_000_000)


def recorder_of(values):
    rec = LatencyRecorder()
    for v in values:
        rec.record_us(v)
    return rec


def test_ns_to_us_rounds_half_away_from_zero():
    assert [ns_to_us(v) for v in (0, 499, 500, 1499, 1500, 2_000_000)] == [0, 0, 1, 1, 2, 2000]
    assert ns_to_us(-500) == -1


def test_record_ns_converts_and_counts_negative():
    rec = LatencyRecorder()
    assert rec.record_ns(1_234_567)
    assert rec.record_ns(-400)  # rounds to 0 us but is still a clock anomaly
    s = rec.summary()
    assert (s.count, s.negative, s.min) == (2, 1, 0)
    assert s.max == 1235


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=-3_000, max_value=12_000_000), max_size=2_500),
    st.sampled_from([(10_000, 2), (60_000_000, 3), (3_600_000_000, 3), (100_000, 5)]),
)
def test_buffered_ns_samples_land_in_hdrh_buckets(values_ns, config):
    """Buffered nanosecond samples fold into exactly the buckets hdrh's own record_value picks."""
    highest, sig = config
    rec = LatencyRecorder(highest_trackable_us=highest, significant_figures=sig)
    reference = LatencyRecorder(highest_trackable_us=highest, significant_figures=sig)
    accepted = [rec.record_ns(v) for v in values_ns]
    for v in values_ns:
        # The unbuffered path: hdrh.record_value through record_us.
        reference.record_us(-1 if v < 0 else ns_to_us(v))
    assert accepted == [ns_to_us(v) <= highest for v in values_ns]
    assert rec == reference
    assert rec.count == reference.count
    assert rec.summary() == reference.summary()
    assert rec.encode() == reference.encode()


def test_buffered_samples_are_read_by_every_reader():
    rec = LatencyRecorder()
    for v in (1_000, 2_000, 3_000):
        rec.record_ns(v * 1000)
    assert rec.count == 3
    # 3000 µs sits in a bucket 2 µs wide: HDR reports its highest equivalent value.
    assert rec.value_at_percentile(100) == 3001
    assert LatencyRecorder.decode(rec.encode()).count == 3
    merged = LatencyRecorder()
    merged.merge(rec)
    assert merged.summary().max == rec.summary().max == 3001


def test_out_of_range_is_counted_not_dropped(small_recorder):
    assert small_recorder.record_us(10_000)
    # 10_001 still fits hdrh's last bucket; the recorder must refuse it anyway.
    assert not small_recorder.record_us(10_001)
    assert not small_recorder.record_us(5_000_000, count=3)
    s = small_recorder.summary()
    assert s.count == 1
    assert s.out_of_range == 4
    assert s.max_out_of_range == 5_000_000
    assert small_recorder.to_dict()["out_of_range"] == 4


def test_summary_percentiles_within_precision():
    rec = recorder_of(range(1, 10_001))
    s = rec.summary()
    assert s.count == 10_000 and s.min == 1
    for got, want in ((s.p50, 5000), (s.p90, 9000), (s.p99, 9900), (s.p99_9, 9990), (s.max, 10_000)):
        assert abs(got - want) <= want / 1000 + 1, (got, want)
    assert abs(s.mean - 5000.5) < 5
    assert s.unit == "us"


def test_empty_summary_is_zero():
    s = LatencyRecorder().summary()
    assert (s.count, s.min, s.max, s.p99, s.mean) == (0, 0, 0, 0, 0.0)


def test_merge_into_empty_keeps_min():
    a = recorder_of([500, 700])
    merged = LatencyRecorder()
    merged.merge(a)
    assert merged.summary().min == 500
    assert merged == a


@settings(max_examples=40, deadline=None)
@given(st.lists(values_us, max_size=60), st.lists(values_us, max_size=60))
def test_merge_equals_union(xs, ys):
    a, b = recorder_of(xs), recorder_of(ys)
    a.merge(b)
    union = recorder_of(xs + ys)
    assert a == union
    assert a.summary() == union.summary()


def test_merge_equals_union_after_transport():
    xs, ys = [1, 2, 3, 1000, 70_000_000], [0, 999_999, -3, 59_999_999]
    a = LatencyRecorder.from_dict(json.loads(json.dumps(recorder_of(xs).to_dict())))
    a.merge(LatencyRecorder.from_dict(json.loads(json.dumps(recorder_of(ys).to_dict()))))
    assert a == recorder_of(xs + ys)
    assert (a.out_of_range, a.negative) == (1, 1)


def test_merged_recorder_survives_transport():
    # The encoder only writes counts up to the tracked maximum, so a merge that
    # forgot to raise it would lose the largest samples on the way to the master.
    a, b = recorder_of([10]), recorder_of([5_000_000, 20])
    a.merge(b)
    assert LatencyRecorder.from_dict(a.to_dict()) == recorder_of([10, 5_000_000, 20])
    decoded = LatencyRecorder.decode(b.encode())
    decoded.merge(recorder_of([1]))
    assert LatencyRecorder.decode(decoded.encode()) == recorder_of([1, 20, 5_000_000])


def test_merge_rejects_other_configuration():
    with pytest.raises(ValueError, match="different configurations"):
        LatencyRecorder().merge(LatencyRecorder(highest_trackable_us=1000))


@settings(max_examples=30, deadline=None)
@given(st.lists(values_us, max_size=50))
def test_encode_decode_round_trip(values):
    rec = recorder_of(values)
    blob = rec.encode()
    assert blob.startswith("HIST")
    back = LatencyRecorder.decode(blob)
    assert back.bucket_counts() == rec.bucket_counts()
    assert LatencyRecorder.from_dict(rec.to_dict()) == rec


@pytest.mark.parametrize("blob", ["garbage!!", "SGVsbG8gd29ybGQ=", ""])
def test_decode_rejects_garbage(blob):
    with pytest.raises(HistogramDecodeError):
        LatencyRecorder.decode(blob)


def test_from_dict_rejects_bad_counters():
    d = LatencyRecorder().to_dict()
    d["out_of_range"] = -1
    with pytest.raises(HistogramDecodeError, match="out_of_range"):
        LatencyRecorder.from_dict(d)
    del d["histogram"]
    with pytest.raises(HistogramDecodeError, match="missing key"):
        LatencyRecorder.from_dict(d)


@pytest.mark.parametrize(
    "kwargs", [{"highest_trackable_us": 1}, {"significant_figures": 0}, {"significant_figures": 6}]
)
def test_invalid_configuration(kwargs):
    with pytest.raises(ValueError):
        LatencyRecorder(**kwargs)


_ROW = re.compile(r"^ *\d+\.\d{3} +\d\.\d{12} +\d+( +\d+\.\d{2})?$")


def test_hgrm_format():
    rec = recorder_of([10, 20, 30, 40, 1000])
    rec.record_us(DEFAULT_HIGHEST_US + 1)
    text = rec.percentile_distribution()
    lines = text.splitlines()
    assert lines[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    assert lines[1] == ""
    rows = [ln for ln in lines[2:] if not ln.startswith("#")]
    assert rows and all(_ROW.match(r) for r in rows), rows
    last = rows[-1].split()
    assert float(last[1]) == 1.0 and int(last[2]) == 5 and len(last) == 3
    assert float(rows[0].split()[0]) == 10.0
    footer = [ln for ln in lines if ln.startswith("#[")]
    assert footer[0].startswith("#[Mean    =")
    assert re.match(r"#\[Max     = +1000\.\d{3}, Total count    = +5\]", footer[1])
    assert footer[2].startswith("#[Buckets =")
    assert "OutOfRange = 1" in footer[3]


def test_hgrm_unit_ratio():
    rec = recorder_of([2000])
    rows = [ln for ln in rec.percentile_distribution(unit_ratio=1000.0).splitlines()[2:] if ln[:1] != "#"]
    assert float(rows[-1].split()[0]) == 2.0


def test_metric_set_merge_and_json_round_trip():
    w1, w2 = MetricSet(), MetricSet()
    w1.record_ns("round_trip", 1_500_000)
    w1.record_us("fanout", 42)
    w2.record_us("round_trip", 700)
    w2.record_us("connect", 90_000_000)  # out of range
    master = MetricSet()
    for w in (w1, w2):
        master.merge(MetricSet.from_dict(json.loads(json.dumps(w.to_dict()))))
    assert master.names() == ["connect", "fanout", "round_trip"]
    summaries = master.summaries()
    assert summaries["round_trip"].count == 2
    assert summaries["connect"].out_of_range == 1 and summaries["connect"].count == 0
    expected = MetricSet()
    for v in (1500, 700):
        expected.record_us("round_trip", v)
    expected.record_us("fanout", 42)
    expected.record_us("connect", 90_000_000)
    assert master == expected


def test_metric_set_rejects_mismatched_configuration():
    with pytest.raises(ValueError):
        MetricSet().merge(MetricSet(highest_trackable_us=1000))
    d = MetricSet().to_dict()
    d["metrics"] = {"x": LatencyRecorder(highest_trackable_us=1000).to_dict()}
    with pytest.raises(HistogramDecodeError, match="configuration"):
        MetricSet.from_dict(d)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=-3_000, max_value=12_000_000), max_size=600),
    st.lists(st.integers(min_value=0, max_value=12_000_000), max_size=50),
    st.lists(st.integers(min_value=0, max_value=12_000_000), max_size=50),
)
def test_record_many_ns_equals_recording_each_value_in_each_recorder(values_ns, before_a, before_b):
    """Each value's bucket is found once for all recorders; every recorder must still end as if fed one by one."""
    config = {"highest_trackable_us": 10_000, "significant_figures": 2}
    recorders = [LatencyRecorder(**config) for _ in range(3)]
    references = [LatencyRecorder(**config) for _ in range(3)]
    # Earlier samples of their own (folded in two, still buffered in one), so min and max differ between them.
    for rec, ref, earlier in zip(recorders, references, (before_a, before_b, before_a[::2]), strict=True):
        for v in earlier:
            rec.record_ns(v)
            ref.record_ns(v)
    recorders[0].summary(), recorders[2].summary()
    recorders[0].record_many_ns(values_ns, *recorders[1:])
    for ref in references:
        for v in values_ns:
            ref.record_ns(v)
    for rec, ref in zip(recorders, references, strict=True):
        assert rec.summary() == ref.summary()
        assert rec.encode() == ref.encode()
        assert (rec.out_of_range, rec.negative) == (ref.out_of_range, ref.negative)


def test_record_many_ns_keeps_each_recorders_own_min_and_max():
    low, high, fresh = LatencyRecorder(), LatencyRecorder(), LatencyRecorder()
    low.record_ns(5_000)
    high.record_ns(900_000_000)
    low.summary(), high.summary()  # folded into their histograms, where min and max are kept
    low.record_many_ns([50_000, 60_000], high, fresh)
    assert (low.summary().min, low.summary().max) == (5, 60)
    assert high.summary().min == 50
    assert high.summary().max == pytest.approx(900_000, rel=1e-3)
    assert (fresh.summary().min, fresh.summary().max, fresh.count) == (50, 60, 2)


def test_record_many_ns_rejects_another_configuration():
    with pytest.raises(ValueError, match="different configurations"):
        LatencyRecorder().record_many_ns([1_000], LatencyRecorder(significant_figures=2))


@settings(max_examples=150, deadline=None)
@given(
    values_us=st.lists(st.integers(min_value=0, max_value=70_000_000), max_size=400),
    percentiles=st.lists(st.floats(min_value=0.0, max_value=100.0), min_size=1, max_size=6),
)
def test_percentiles_from_the_non_empty_buckets_are_hdrhs(values_us, percentiles):
    """The percentiles read from the non-empty buckets alone are exactly hdrh's walk over every bucket."""
    rec = LatencyRecorder()
    for value in values_us:
        rec.record_us(value)
    hist = rec._hist
    if rec.count:
        assert rec._values_at_percentiles(percentiles) == {
            p: int(v) for p, v in hist.get_percentile_to_value_dict(percentiles).items()
        }
        for p in percentiles:
            assert rec.value_at_percentile(p) == int(hist.get_value_at_percentile(p))
    else:
        assert all(rec.value_at_percentile(p) == 0 for p in percentiles)
    # The skipping scan finds exactly the buckets a plain loop over every one does.
    assert rec.nonzero_buckets() == [(i, int(c)) for i, c in enumerate(hist.counts[: hist.counts_len]) if c]


def test_buckets_percentile_of_added_up_buckets_is_the_merged_histograms():
    a, b = LatencyRecorder(), LatencyRecorder()
    for i in range(1, 500):
        a.record_us(i * 37)
        b.record_us(i * 1009)
    buckets: dict[int, int] = {}
    for rec in (a, b):
        for index, count in rec.nonzero_buckets():
            buckets[index] = buckets.get(index, 0) + count
    merged = LatencyRecorder()
    merged.merge(a)
    merged.merge(b)
    for p in (50.0, 99.0, 99.9, 100.0):
        assert buckets_percentile(buckets, p, like=a) == merged.value_at_percentile(p)
    assert buckets_percentile({}, 99.0, like=a) is None


@settings(max_examples=100, deadline=None)
@given(values_ns=st.lists(st.integers(min_value=0, max_value=60_000_000_499), max_size=300))
def test_a_tally_counts_the_buckets_a_recorder_fills(values_ns):
    rec, tally = LatencyRecorder(), {}
    rec.record_many_ns(values_ns, tallies=(tally,))
    assert tally == dict(rec.nonzero_buckets())
    single = {}
    for value in values_ns:
        rec.tally(single, value)
    assert single == tally


def test_a_tally_keeps_negative_and_out_of_range_values_in_its_end_buckets():
    rec, tally = LatencyRecorder(highest_trackable_us=1_000), {}
    rec.record_many_ns([-5_000, 500_000, 9_000_000_000], tallies=(tally,))
    assert sum(tally.values()) == 3, "nothing is left out of a tally's percentiles"
    assert rec.out_of_range == 1 and rec.negative == 1
    assert buckets_percentile(tally, 0.0, like=rec) == 0
    assert buckets_percentile(tally, 100.0, like=rec) >= 1_000


@settings(max_examples=150, deadline=None)
@given(
    values_us=st.lists(st.integers(min_value=0, max_value=60_000_000), min_size=1, max_size=300),
    percentile=st.floats(min_value=0.0, max_value=100.0),
)
def test_a_tallys_percentile_from_the_top_is_hdrhs(values_us, percentile):
    rec, tally = LatencyRecorder(), {}
    rec.record_many_ns([v * 1000 for v in values_us], tallies=(tally,))
    assert buckets_percentile(tally, percentile, like=rec) == int(rec._hist.get_value_at_percentile(percentile))
