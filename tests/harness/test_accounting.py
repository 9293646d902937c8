from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.measure.accounting import (
    AccountingDecodeError,
    ConnectFailures,
    DeliveryCounts,
    DeliveryLedger,
    StreamTracker,
    UnexpectedCloses,
)


def feed(seqs, *, expect=None, max_intervals=4096):
    t = StreamTracker(max_intervals=max_intervals)
    kinds = [t.observe(s) for s in seqs]
    if expect is not None:
        t.expect(*expect)
    return t, kinds


def test_in_order_stream_uses_one_interval():
    t, kinds = feed(range(10_000), expect=(0, 10_000))
    assert set(kinds) == {"new"}
    assert t.intervals() == [(0, 10_000)]
    c = t.counts()
    assert (c.expected, c.received, c.distinct, c.lost, c.duplicated, c.reordered) == (
        10_000,
        10_000,
        10_000,
        0,
        0,
        0,
    )


def test_scripted_drop_dup_reorder():
    # sent 0..9; 2 and 7 dropped, 4 duplicated twice, 6 arrives after 8, 9 after the end.
    t, kinds = feed([0, 1, 3, 4, 4, 5, 8, 6, 4, 9], expect=(0, 10))
    assert kinds == ["new", "new", "new", "new", "duplicate", "new", "new", "reordered", "duplicate", "new"]
    assert t.counts() == DeliveryCounts(
        streams=1,
        expected=10,
        received=10,
        distinct=8,
        lost=2,
        duplicated=2,
        reordered=1,
        outside_expected=0,
        late_untracked=0,
        exact=True,
    )


def test_reversed_stream_counts_every_late_message_as_reordered():
    t, _ = feed([4, 3, 2, 1, 0], expect=(0, 5))
    c = t.counts()
    assert (c.reordered, c.lost, c.duplicated) == (4, 0, 0)


def test_trailing_loss_needs_explicit_expectation():
    t, _ = feed([0, 1, 2])
    assert t.counts().lost == 0 and t.counts().expected == 3
    t.expect(0, 5)
    assert t.counts().lost == 2


def test_late_joiner_expected_range_and_outside():
    t, _ = feed([3, 4, 5, 6, 8], expect=(5, 9))
    c = t.counts()
    assert (c.expected, c.distinct, c.lost, c.outside_expected) == (4, 5, 1, 2)


def test_bounded_memory_evicts_lowest_gaps_and_flags_inexact():
    # Every other seq: each received seq is its own interval.
    t, _ = feed(range(0, 40, 2), expect=(0, 40), max_intervals=5)
    assert len(t.intervals()) == 5
    c = t.counts()
    assert c.distinct == 20 and c.lost == 20 and not c.exact
    assert t.observe(1) == "late_untracked"
    assert t.counts().late_untracked == 1


def test_exact_without_eviction_under_bound():
    t, _ = feed(range(0, 40, 2), expect=(0, 40), max_intervals=20)
    assert t.counts().exact and t.counts().lost == 20


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_observe_rejects_bad_seq(bad):
    with pytest.raises(ValueError):
        StreamTracker().observe(bad)


def test_stream_merge_same_key_is_union():
    a, _ = feed([0, 1, 2, 5])
    b, _ = feed([2, 3, 4, 9])
    a.merge(b)
    a.expect(0, 10)
    c = a.counts()
    assert a.intervals() == [(0, 6), (9, 10)]
    assert (c.received, c.distinct, c.duplicated, c.lost) == (8, 7, 1, 3)


def test_ledger_merge_and_json_round_trip():
    w1, w2 = DeliveryLedger(), DeliveryLedger()
    for seq in (0, 1, 3):
        w1.observe("s1", "r1", seq)
    for seq in (0, 0, 2, 1):
        w2.observe("s1", "r2", seq)
    w1.expect("s1", "r1", 0, 4)
    w2.expect("s1", "r2", 0, 4)
    w2.record_foreign("not_json")
    master = DeliveryLedger()
    for w in (w1, w2):
        master.merge(DeliveryLedger.from_dict(json.loads(json.dumps(w.to_dict()))))
    assert master.keys() == [("s1", "r1"), ("s1", "r2")]
    total = master.totals()
    assert (total.streams, total.expected, total.received, total.lost, total.duplicated, total.reordered) == (
        2,
        8,
        7,
        2,
        1,
        1,
    )
    assert master.foreign == {"not_json": 1}
    assert master.to_dict() == DeliveryLedger.from_dict(master.to_dict()).to_dict()


def test_stream_from_dict_rejects_overlapping_intervals():
    d = StreamTracker().to_dict()
    d["intervals"] = [[0, 5], [3, 7]]
    with pytest.raises(AccountingDecodeError, match="intervals"):
        StreamTracker.from_dict(d)
    d["intervals"] = [[0, 5], [5, 7]]  # adjacent: must have been coalesced
    with pytest.raises(AccountingDecodeError):
        StreamTracker.from_dict(d)


def test_connect_failures_and_closes():
    a, b = ConnectFailures(), ConnectFailures()
    a.record("http_403")
    a.record("timeout", 2)
    b.record("timeout")
    a.merge(ConnectFailures.from_dict(json.loads(json.dumps(b.to_dict()))))
    assert (a["http_403"], a["timeout"], a["refused"], a.total) == (1, 3, 0, 4)
    with pytest.raises(ValueError, match="unknown connect failure kind"):
        a.record("dns")  # type: ignore[arg-type]
    u, v = UnexpectedCloses(), UnexpectedCloses()
    u.record(1006)
    v.record(1006)
    v.record(1011)
    u.merge(UnexpectedCloses.from_dict(json.loads(json.dumps(v.to_dict()))))
    assert u.to_dict() == {"1006": 2, "1011": 1} and u.total == 3
    with pytest.raises(ValueError):
        u.record(70000)


def naive_kinds(seqs):
    seen, highest, kinds = set(), -1, []
    for s in seqs:
        kinds.append("duplicate" if s in seen else "reordered" if s < highest else "new")
        seen.add(s)
        highest = max(highest, s)
    return kinds


def naive_counts(seqs, first, end):
    seen, highest, dup, reord = set(), -1, 0, 0
    for s in seqs:
        if s in seen:
            dup += 1
            continue
        if s < highest:
            reord += 1
        seen.add(s)
        highest = max(highest, s)
    in_range = {s for s in seen if first <= s < end}
    return {
        "received": len(seqs),
        "distinct": len(seen),
        "duplicated": dup,
        "reordered": reord,
        "lost": (end - first) - len(in_range),
        "outside_expected": len(seen) - len(in_range),
    }


def pick(c):
    return {k: getattr(c, k) for k in ("received", "distinct", "duplicated", "reordered", "lost", "outside_expected")}


# Mostly in-order runs with drops, repeats and jumps, so both the in-order fast path and the general path run.
seq_lists = st.one_of(
    st.lists(st.integers(min_value=0, max_value=60), max_size=80),
    st.lists(st.tuples(st.integers(0, 60), st.integers(1, 12)), max_size=8).map(
        lambda runs: [s for start, n in runs for s in range(start, start + n)]
    ),
)


@settings(max_examples=80, deadline=None)
@given(seq_lists, st.integers(0, 20), st.integers(0, 70))
def test_tracker_matches_naive_set_model(seqs, first, length):
    t, kinds = feed(seqs, expect=(first, first + length))
    assert kinds == naive_kinds(seqs)
    assert pick(t.counts()) == naive_counts(seqs, first, first + length)
    assert t.counts().exact
    assert pick(StreamTracker.from_dict(json.loads(json.dumps(t.to_dict()))).counts()) == pick(t.counts())


@settings(max_examples=60, deadline=None)
@given(seq_lists, seq_lists)
def test_merged_tracker_matches_union(xs, ys):
    a, _ = feed(xs)
    b, _ = feed(ys)
    a.merge(b)
    end = max([*xs, *ys], default=-1) + 1
    a.expect(0, end)
    c = a.counts()
    union = set(xs) | set(ys)
    assert c.distinct == len(union)
    assert c.duplicated == len(xs) + len(ys) - len(union)
    assert c.lost == end - len(union)


def test_merge_after_eviction_is_flagged_inexact():
    a, _ = feed(range(0, 40, 2), max_intervals=5)
    b, _ = feed([1, 3, 5])
    b.merge(a)
    assert not b.counts().exact
    # b's own seqs 1, 3, 5 fall under a's floor (30) and must still count as received.
    assert b.counts().distinct == 23
    assert b.floor == a.floor and all(s >= b.floor for s, _ in b.intervals())
