"""Command-line objectives, and what each capacity dimension does to a scenario."""

from __future__ import annotations

import pytest

from harness.capacity.dimensions import DIMENSIONS, dimension_for, offered_rate
from harness.capacity.runner import scenario_at
from harness.scenario import LatencySlo, LossSlo, ThroughputSlo, load_named
from harness.scenario.slo_text import SloTextError, parse_slo_text, slo_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p99<250ms", LatencySlo("response_time", "p99", 250.0)),
        ("p50 <= 20 ms", LatencySlo("response_time", "p50", 20.0)),
        ("fanout.p99<100ms", LatencySlo("fanout", "p99", 100.0)),
        ("max<1s", LatencySlo("response_time", "max", 1000.0)),
        ("p99.9<500us", LatencySlo("response_time", "p99_9", 0.5)),
        ("loss<=0", LossSlo(0.0)),
        ("loss<=0.1%", LossSlo(0.001)),
        ("loss<0.02", LossSlo(0.02)),
        ("throughput>=450/s", ThroughputSlo(450.0)),
    ],
)
def test_objectives_parse_into_the_scenario_types_and_print_back(text: str, expected: object) -> None:
    slo = parse_slo_text(text)
    assert slo == expected
    assert parse_slo_text(slo_text(slo)) == slo


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p99>250ms", "not an objective"),
        ("p99<250", "not an objective"),
        ("p95<250ms", "statistic 'p95'"),
        ("latency.p99<250ms", "unknown metric 'latency'"),
        ("p99<0ms", "above 0"),
        ("loss<=150%", "below 100"),
        ("loss<0", "loss<=0"),
        ("throughput>=0", "above 0"),
        ("", "not an objective"),
    ],
)
def test_a_bad_objective_names_itself_and_the_forms_that_work(text: str, message: str) -> None:
    with pytest.raises(SloTextError, match=message) as caught:
        parse_slo_text(text)
    assert repr(text) in str(caught.value)


def test_rate_spreads_the_total_over_the_senders_and_keeps_the_connections() -> None:
    chat = load_named("chat-rooms")  # 200 users in rooms of 10, 1 msg/s each
    rate = DIMENSIONS["rate"]
    assert rate.value_of(chat) == 200
    at = rate.apply(chat, 500)
    assert at.load.users == 200 and at.load.room_size == 10 and at.load.rate == pytest.approx(2.5)
    assert offered_rate(at) == pytest.approx(500)
    notifications = load_named("notifications-burst")
    at = rate.apply(notifications, 300)
    assert offered_rate(at) == pytest.approx(300) and at.load.users == notifications.load.users


def test_connections_keep_the_per_user_rate_and_the_room_size() -> None:
    chat = load_named("chat-rooms")
    at = DIMENSIONS["connections"].apply(chat, 1000)
    assert at.load.users == 1000 and at.load.room_size == 10 and at.load.rate == chat.load.rate
    small = DIMENSIONS["connections"].apply(chat, 4)
    assert small.load.room_size == 4  # a room cannot be larger than the connections


def test_group_size_keeps_the_message_rate_into_the_group() -> None:
    chat = load_named("chat-rooms")  # a room of 10 at 1 msg/s each: 10 msg/s into the room
    at = DIMENSIONS["group_size"].apply(chat, 100)
    assert at.load.users == 100 and at.load.room_size == 100
    assert offered_rate(at) == pytest.approx(10.0)
    fanout = load_named("fanout")
    at = DIMENSIONS["group_size"].apply(fanout, 300)
    assert at.load.group_sizes == (300,) and at.load.users == 300 and offered_rate(at) == fanout.load.rate


def test_a_trial_scenario_opens_every_connection_and_settles_before_it_sends() -> None:
    chat = load_named("chat-rooms")  # spawn rate 40/s
    at = scenario_at(chat, DIMENSIONS["connections"], 400, duration_s=5)
    assert at.duration_s == 5 and at.load.shape == "constant"
    assert at.warmup_s == pytest.approx(2.0)  # after the last of 400 connections at 40/s: the trial is aligned


def test_a_dimension_that_does_not_fit_the_kind_is_refused_with_those_that_do() -> None:
    with pytest.raises(ValueError, match=r"kind fanout \(its dimensions: group_size\)"):
        dimension_for("rate", load_named("fanout"))
    with pytest.raises(ValueError, match="unknown; expected one of rate, connections, group_size"):
        dimension_for("users", load_named("chat-rooms"))
    assert DIMENSIONS["connections"].format(12000) == "12,000 connections"
    assert DIMENSIONS["rate"].format(2.5) == "2.5 msg/s"


def test_readers_keep_each_readers_badge_rate_and_a_trial_plays_whole_events() -> None:
    shift = load_named("timeclock-shift-change")  # 20 readers, 40 badge events each within 60 s
    readers = DIMENSIONS["readers"]
    assert readers.value_of(shift) == 20 and readers.trial_s == 15
    at = readers.apply(shift, 150)
    assert at.timeclock is not None and at.timeclock.readers == 150
    assert offered_rate(at) == pytest.approx(150 * 40 / 60)
    trial = scenario_at(shift, readers, 150, duration_s=15)
    assert trial.timeclock is not None
    assert (trial.timeclock.inserts, trial.duration_s, trial.timeclock.burst_s) == (10, 15, 15)
    assert offered_rate(trial) == pytest.approx(100)
    # 5 s at 2/3 event/s is 3.33 events: the window becomes 3 whole events, 4.5 s, at the same rate.
    short = scenario_at(shift, readers, 150, duration_s=5)
    assert short.timeclock is not None and short.timeclock.inserts == 3
    assert short.duration_s == pytest.approx(4.5) and offered_rate(short) == pytest.approx(100)
    with pytest.raises(ValueError, match=r"kind timeclock \(its dimensions: readers\)"):
        dimension_for("rate", shift)
