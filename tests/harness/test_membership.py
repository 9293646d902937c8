"""What a reconnecting receiver is owed, and what a fault window did to the rooms (harness.measure.membership)."""

from __future__ import annotations

import pytest

from harness.measure.accounting import AccountingDecodeError, DeliveryLedger, StreamTracker
from harness.measure.aggregation import Collector, HealthThresholds, merge_snapshots
from harness.measure.membership import MembershipLog, Stay, stream_ranges, window_membership

S = 1_000_000_000  # ns per second


def _log() -> MembershipLog:
    """Room ``chat:r``: alice sends one message a second from t=10 s to t=29 s; bob is joined from 10 s, sees his
    socket close at 15.5 s, is connecting again from 17.2 s and joined at 17.5 s; carol is joined throughout."""
    log = MembershipLog()
    log.joined("alice", "chat:r", 9 * S, 10 * S)
    log.joined("bob", "chat:r", 9 * S, 10 * S)
    log.left("bob", "chat:r", round(15.5 * S), 1006)
    log.joined("bob", "chat:r", round(17.2 * S), round(17.5 * S))
    log.joined("carol", "chat:r", 9 * S, 10 * S)
    for t in range(10, 30):
        log.sent("alice", "chat:r", t * S)
    log.could_not_send("bob", 16 * S)
    return log


def _ranges(log: MembershipLog, cut_off_s: float = 5.0) -> dict[str, tuple[list, list]]:
    return {r: (e, o) for s, r, e, o, _ in stream_ranges(log, cut_off_s=cut_off_s) if s == "alice"}


def test_what_was_sent_while_a_receiver_was_away_may_still_reach_its_new_socket():
    (tolerated,) = [t for s, r, _, _, t in stream_ranges(_log()) if (s, r) == ("alice", "bob")]
    assert tolerated == [(6, 8)]  # sent at 16 and 17 s, between his close (15.5 s) and his reconnect (17.2 s)
    t = StreamTracker()
    for seq in [0, 6, 8]:  # 6 came late, on the new socket: a server still delivering what it held
        t.observe(seq)
    t.expect_ranges([(0, 1), (8, 20)], [(1, 6)], tolerated)
    c = t.counts()
    assert (c.outside_expected, c.lost, c.cut_off) == (0, 11, 5)


def test_a_receiver_is_owed_what_was_sent_while_it_was_joined_and_not_what_was_sent_while_away():
    ranges = _ranges(_log(), cut_off_s=2.0)
    # alice's seq k was sent at 10 + k s. bob: owed 10..13.5 s (seqs 0-3), cut-off window 13.5..15.5 s (seqs 4-5),
    # away 15.5..17.2 s (seqs 6-7 not owed), connecting 17.2..17.5 s (none sent), owed again from 17.5 s (seqs 8-19).
    assert ranges["bob"] == ([(0, 4), (8, 20)], [(4, 6)])
    assert ranges["carol"] == ([(0, 20)], [])
    assert ranges["alice"] == ([(0, 20)], [])  # her own copy


def test_what_a_sender_sent_just_before_its_own_socket_closed_is_owed_to_no_one():
    log = _log()
    log.left("alice", "chat:r", round(25.5 * S), 1011)
    ranges = _ranges(log)
    # Seqs 11-15 (sent 21..25 s) left alice in the 5 s before she saw her socket close: the server may have died
    # before reading them. Sent by her later (on a new socket), they are owed again.
    assert ranges["carol"] == ([(0, 11), (16, 20)], [(11, 16)])
    fig = window_membership(
        log, _ledger({"carol": list(range(11)), "bob": []}), began_ns=20 * S, ended_ns=21 * S, until_ns=26 * S
    )
    # The window's messages: sent from 19 to 25 s (1 s earlier than its span: in flight when it began), seqs 9-14.
    # Seqs 9-10 are owed to all three (carol got them); 11-14 to no one, and came to no one: 4 cut off for each.
    # Nothing was owed after the fault's end, so no member could be checked.
    assert fig["room_messages"] == {"sent": 6, "owed": 6, "received": 2, "lost": 4, "cut_off": 12, "duplicated": 0}
    assert fig["members_checked"] == 0 and fig["silent_members"] == 0


def test_counts_of_a_stream_with_ranges_count_the_optional_apart():
    t = StreamTracker()
    for seq in [0, 1, 2, 3, 4, 9, 10, 11]:  # 4 came in the cut-off window, 5 did not; 9 is outside everything
        t.observe(seq)
    t.expect_ranges([(0, 4), (10, 13)], [(4, 6)])
    c = t.counts()
    assert (c.expected, c.lost, c.cut_off, c.outside_expected, c.distinct) == (7, 1, 1, 1, 8)


def test_ranges_out_of_order_or_overlapping_are_refused():
    t = StreamTracker()
    with pytest.raises(ValueError, match="sorted and disjoint"):
        t.expect_ranges([(5, 8), (0, 3)])
    with pytest.raises(ValueError, match="0 <= first <= end"):
        t.expect_ranges([(4, 2)])


def test_a_ledger_written_before_optional_ranges_still_reads():
    old = {
        "max_intervals": 4096,
        "foreign": {},
        "streams": [
            {
                "sender": "a",
                "receiver": "b",
                "state": {
                    "max_intervals": 4096,
                    "received": 2,
                    "duplicates": 0,
                    "reordered": 0,
                    "late_untracked": 0,
                    "highest": 1,
                    "floor": 0,
                    "seen_below_floor": 0,
                    "evictions": 0,
                    "expected": [0, 3],
                    "intervals": [[0, 2]],
                },
            }
        ],
    }
    counts = DeliveryLedger.from_dict(old).totals()
    assert (counts.expected, counts.lost, counts.cut_off) == (3, 1, 0)
    again = DeliveryLedger.from_dict(DeliveryLedger.from_dict(old).to_dict()).totals()
    assert again == counts


def test_the_merged_generator_result_owes_a_reconnecting_receiver_only_its_stays():
    # Two processes: alice sends in one, bob receives in the other and was away for seqs 6-7.
    clock = [10.0]
    sender = Collector(run_id="r", process_id="p1", role="worker", clock=lambda: clock[0], reconnecting=True)
    receiver = Collector(run_id="r", process_id="p2", role="worker", clock=lambda: clock[0], reconnecting=True)
    log = _log()
    assert sender.membership is not None and receiver.membership is not None
    sender.membership.sends = log.sends
    sender.membership.stays = {k: v for k, v in log.stays.items() if k[0] == "alice"}
    receiver.membership.stays = {k: v for k, v in log.stays.items() if k[0] != "alice"}
    for seq in range(20):
        sender.record_send("alice", "chat:r")
        sender.record_envelope("alice", "alice", seq, 0, 0, 0)
        receiver.record_envelope("alice", "carol", seq, 0, 0, 0)
        if seq not in (5, 6, 7, 12):  # 5: cut off; 6-7: away; 12: really lost
            receiver.record_envelope("alice", "bob", seq, 0, 0, 0)
    result = merge_snapshots(
        [sender.snapshot(final=True), receiver.snapshot(final=True)],
        run_id="r",
        mode="distributed",
        thresholds=HealthThresholds(),
    )
    # bob (cut-off window 5 s): owed seq 0 (sent 10 s) and 8-19 (from 17.5 s); 1-5 sent in the 5 s before he saw
    # his socket close are optional (5 did not come: cut off); 6-7 were sent while he was away.
    bob = DeliveryLedger.from_dict(result["ledger"]).counts("alice", "bob")
    assert (bob.expected, bob.lost, bob.cut_off, bob.outside_expected) == (13, 1, 1, 0)
    delivery = result["delivery"]
    assert (delivery["expected"], delivery["lost"], delivery["cut_off"], delivery["outside_expected"]) == (53, 1, 1, 0)
    assert result["membership"] is not None


def test_a_run_without_reconnects_keeps_the_whole_range_owed():
    c = Collector(run_id="r", process_id="p", role="local", clock=lambda: 10.0)
    c.join("alice", "chat:r")
    c.join("bob", "chat:r")
    for seq in range(5):
        c.record_send("alice", "chat:r")
        c.record_envelope("alice", "alice", seq, 0, 0, 0)
    result = merge_snapshots([c.snapshot(final=True)], run_id="r", mode="local", thresholds=HealthThresholds())
    assert result["membership"] is None
    assert result["delivery"]["lost"] == 5  # bob got nothing and never left


def _ledger(received: dict[str, list[int]]) -> DeliveryLedger:
    ledger = DeliveryLedger()
    for receiver, seqs in received.items():
        for seq in seqs:
            ledger.observe("alice", receiver, seq)
    return ledger


def test_a_member_joined_after_the_fault_that_receives_nothing_is_silent():
    log = _log()
    # The window ran 15..16 s; the next one starts at 25 s. carol got nothing from seq 6 on (sent 16 s on): silent.
    ledger = _ledger({"alice": list(range(20)), "bob": [0, 1, 2, 3, 4, *range(8, 20)], "carol": list(range(6))})
    fig = window_membership(log, ledger, began_ns=15 * S, ended_ns=16 * S, until_ns=25 * S)
    assert fig["silent_members"] == 1
    assert fig["silent_members_listed"] == ["carol"]
    assert fig["members_checked"] == 2  # bob and carol (alice's own copy is not a canary)
    assert fig["socket_closes"] == {"1006": 1}
    assert fig["first_close_after_s"] == 0.5
    assert fig["reconnects"] == 1
    assert fig["sends_unavailable"] == 1
    # The window's messages, sent from 14 s to 24 s (1 s before its span: in flight when it began): seqs 4-13;
    # owed to alice 10, bob 6 (8-13; 4-5 came in the 5 s before he saw his socket close, 6-7 while he was away),
    # carol 10 (she got only 4 and 5).
    # Of bob's optional 4 and 5, 5 did not come.
    assert fig["room_messages"] == {"sent": 10, "owed": 26, "received": 18, "lost": 8, "cut_off": 1, "duplicated": 0}
    # seq 6 (16 s) reached nobody but alice; bob got seq 8 (18 s), the first message after the end to reach another.
    assert fig["first_room_message_after_s"] == 2.0
    assert fig["slowest_member_after_s"] == 2.0  # bob's first after the end; carol, silent, has none


def test_a_member_that_was_away_and_came_back_receiving_is_not_silent():
    log = _log()
    ledger = _ledger({"alice": list(range(20)), "bob": [0, 1, 2, 3, *range(8, 20)], "carol": list(range(20))})
    fig = window_membership(log, ledger, began_ns=15 * S, ended_ns=16 * S, until_ns=None)
    assert fig["silent_members"] == 0
    assert fig["members_checked"] == 2
    assert fig["slowest_member_after_s"] == 2.0  # carol got seq 6 (16 s) at once, bob seq 8 (18 s) back from away
    assert fig["room_messages"]["lost"] == 0
    # bob's seqs 4 and 5 (14 and 15 s, in the 5 s before he saw his socket close) did not come: cut off, not lost.
    assert fig["room_messages"]["cut_off"] == 2


def test_the_log_round_trips_and_refuses_what_is_malformed():
    log = _log()
    assert MembershipLog.from_dict(log.to_dict()) == log
    with pytest.raises(AccountingDecodeError, match="missing"):
        MembershipLog.from_dict({"sends": []})
    with pytest.raises(AccountingDecodeError, match="in that order"):
        Stay.from_list([10, 5, None, None])
    with pytest.raises(AccountingDecodeError, match="non-negative int"):
        MembershipLog.from_dict({"sends": [["a", "g", [-1]]], "stays": [], "unavailable": {}})


def test_a_message_delivered_twice_is_counted_in_the_window_it_was_sent_in():
    log = _log()
    log.duplicated("alice", "carol", 7)  # sent at 17 s: in the window from 15 s (14 s with what was in flight)
    log.duplicated("alice", "carol", 2)  # sent at 12 s: before it
    ledger = _ledger({"alice": list(range(20)), "bob": list(range(20)), "carol": list(range(20))})
    fig = window_membership(log, ledger, began_ns=15 * S, ended_ns=16 * S, until_ns=25 * S)
    assert fig["room_messages"]["duplicated"] == 1
    assert MembershipLog.from_dict(log.to_dict()).duplicates == {("alice", "carol"): [7, 2]}  # as recorded


def test_the_collector_of_a_reconnecting_run_logs_which_message_came_twice():
    c = Collector(run_id="r", process_id="p", role="local", clock=lambda: 10.0, reconnecting=True)
    assert c.record_envelope("alice", "bob", 3, 0, 0, 0) is True
    assert c.record_envelope("alice", "bob", 3, 0, 0, 0) is False
    assert c.membership is not None and c.membership.duplicates == {("alice", "bob"): [3]}


def test_a_member_alone_in_its_group_is_its_own_canary():
    # An echo socket: its group is itself. Its replies after the fault are what shows it alive, or silent.
    log = MembershipLog()
    log.joined("e", "echo:e", 0, 1 * S)
    for t in range(2, 12):
        log.sent("e", "echo:e", t * S)
    answered = _ledger({})
    for seq in range(4):  # replies stopped at the fault (5 s) though the socket stayed open
        answered.observe("e", "e", seq)
    fig = window_membership(log, answered, began_ns=5 * S, ended_ns=6 * S, until_ns=None)
    assert (fig["silent_members"], fig["members_checked"], fig["silent_members_listed"]) == (1, 1, ["e"])
