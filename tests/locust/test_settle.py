"""The settle barrier: members send only once their room has been joined (logic, then real Locust runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.load.generator import GeneratorResult, run_generator
from harness.load.options import check_warmup_from
from harness.load.settle import Release, SettleBarrier
from harness.measure.join_storm import JoinStorm
from harness.testing.chat_rooms import CLOSE_SENT_DURING_STORM
from tests.locust.conftest import Serve

S = 1_000_000_000


def _joined(storm: JoinStorm, members: int, at_ns: int) -> None:
    for _ in range(members):
        storm.connect_attempted(at_ns - 10, at_ns)


def test_nothing_is_released_before_spawning_completes_even_when_all_is_quiet() -> None:
    barrier, storm = SettleBarrier(quiet_s=1, timeout_s=5), JoinStorm()
    _joined(storm, 3, 0)
    assert barrier.poll(storm, 100 * S) is None
    barrier.spawned(3, 100 * S)
    assert barrier.poll(storm, 100 * S) is None, "spawning itself is activity: the quiet period counts from it"
    assert barrier.poll(storm, 101 * S) == Release(101 * S, settled=True)


def test_a_member_still_connecting_holds_everyone_back() -> None:
    barrier, storm = SettleBarrier(quiet_s=1, timeout_s=60), JoinStorm()
    barrier.spawned(3, 0)
    _joined(storm, 2, 0)
    assert barrier.poll(storm, 10 * S) is None
    storm.connect_attempted(10 * S, 11 * S)  # the third attempt ends (whether it opened or failed)
    assert barrier.poll(storm, 11 * S + S - 1) is None
    assert barrier.poll(storm, 12 * S) == Release(12 * S, settled=True)


def test_presence_restarts_the_quiet_period_and_the_release_is_recorded() -> None:
    barrier, storm = SettleBarrier(quiet_s=1, timeout_s=60), JoinStorm()
    barrier.spawned(2, 0)
    _joined(storm, 2, 0)
    storm.presence(join=True, read_ns=S // 2)
    storm.presence(join=False, read_ns=2 * S)  # a leave is activity too, though not the storm's count
    assert barrier.poll(storm, 2 * S + S // 2) is None
    release = barrier.poll(storm, 3 * S)
    assert release == Release(3 * S, settled=True)
    assert (storm.released_ns, storm.settled, storm.joins) == (3 * S, True, 1)
    storm.presence(join=True, read_ns=3 * S - 1)  # read before the release, handled after it (a batch later)
    assert storm.joins_after_release == 0
    storm.presence(join=True, read_ns=4 * S)
    assert storm.joins_after_release == 1
    assert barrier.poll(storm, 5 * S) is release, "released once, for good"


def test_a_quiet_gap_does_not_release_members_still_owed_join_frames() -> None:
    # A server too busy to send for longer than the quiet period, in the middle of a storm: the gap alone looked
    # like the end of it; the joins the members must have read (3 members of one room: 6) hold them back.
    barrier, storm = SettleBarrier(quiet_s=1, timeout_s=60), JoinStorm()
    barrier.spawned(3, 0)
    _joined(storm, 3, 0)
    for t in (1, 2):
        storm.presence(join=True, read_ns=t * S // 10)
    assert barrier.poll(storm, 5 * S, required_joins=6) is None
    assert barrier.poll(storm, 5 * S) is not None, "the old rule would have let them go"
    barrier2, storm2 = SettleBarrier(quiet_s=1, timeout_s=60), JoinStorm()
    barrier2.spawned(3, 0)
    _joined(storm2, 3, 0)
    for t in range(6):
        storm2.presence(join=True, read_ns=6 * S + t)
    assert barrier2.poll(storm2, 6 * S + S // 2, required_joins=6) is None
    assert barrier2.poll(storm2, 7 * S + 10, required_joins=6) == Release(7 * S + 10, settled=True)


def test_a_storm_that_never_ends_is_cut_off_by_the_time_out() -> None:
    barrier, storm = SettleBarrier(quiet_s=1, timeout_s=30), JoinStorm()
    barrier.spawned(1, 10 * S)
    _joined(storm, 1, 10 * S)
    now = 10 * S
    while (release := barrier.poll(storm, now)) is None:
        storm.presence(join=True, read_ns=now)
        now += S // 2
    assert release == Release(40 * S, settled=False)
    assert storm.settled is False and storm.released_ns == 40 * S


def test_a_barrier_that_never_released_is_recorded_as_not_settled() -> None:
    barrier, storm = SettleBarrier(), JoinStorm()
    barrier.give_up(storm, 5 * S)
    assert storm.settled is False and storm.released_ns is None
    assert barrier.poll(storm, 6 * S) == Release(5 * S, settled=False)


@pytest.mark.parametrize("quiet, timeout", [(0, 1), (1, 0), (float("nan"), 1), (1, float("inf"))])
def test_barrier_durations_must_be_finite_and_positive(quiet: float, timeout: float) -> None:
    with pytest.raises(ValueError, match="the settle barrier needs"):
        SettleBarrier(quiet_s=quiet, timeout_s=timeout)


def test_only_kinds_with_one_socket_per_user_can_settle() -> None:
    check_warmup_from("chat", "settle")
    with pytest.raises(ValueError, match="--harness-kind notifications has none to wait at the barrier"):
        check_warmup_from("notifications", "settle")
    with pytest.raises(ValueError, match="warmup_from must be one of connect, start, settle, got 'later'"):
        check_warmup_from("echo", "later")


# -- real runs against harness.testing.chat_rooms --------------------------------------------------------------


def _room(url: str, tmp_path: Path, members: int, **options: Any) -> GeneratorResult:
    """``members`` chat users in one room of ``url``, sending 5 msg/s each for 1 s, no warm-up."""
    credentials = tmp_path / "credentials.json"
    accounts = [{"username": f"u{i}", "session": f"s{i}"} for i in range(members)]
    credentials.write_text(json.dumps({"users": accounts, "rooms": [{"slug": "r0"}]}))
    return run_generator(
        url,
        "chat",
        users=members,
        spawn_rate=20,
        duration_s=1.0,
        rate_per_user=5,
        credentials=credentials,
        room_size=members,
        out_dir=tmp_path / "out",
        warmup_s=0.0,
        grace_s=1.0,
        **options,
    )


@pytest.mark.parametrize("warmup_from", ["settle", "connect"])
def test_members_send_only_once_the_join_storm_is_over(serve: Serve, tmp_path: Path, warmup_from: str) -> None:
    # Each join is announced 0.3 s late, so the storm outlasts the connects; the server closes (4409) the socket of
    # any member that sends while an announcement of its room is pending. Without the barrier ("connect", no
    # warm-up) members send into the storm: that control shows the server's check can fail.
    url = serve("chat_rooms", env={"HARNESS_CHAT_PRESENCE_DELAY_S": "0.3", "HARNESS_CHAT_STRICT": "1"})
    members = 6
    run = _room(url, tmp_path, members, warmup_from=warmup_from, settle_quiet_s=2.0)
    storm = run.result["join_storm"]
    closes = run.result["unexpected_closes"]
    if warmup_from == "connect":
        assert closes.get(str(CLOSE_SENT_DURING_STORM)), closes
        assert storm["settled"] is None and storm["released_ns"] is None
        return
    assert closes == {} and run.result["sends"] > 0 and run.delivery["lost"] == 0
    assert storm["joins"] == members * (members + 1) // 2
    assert storm["settled"] is True and storm["joins_after_release"] == 0
    assert storm["last_presence_ns"] > storm["last_connect_ns"], "the barrier waited for presence, not only connects"
    assert storm["released_ns"] >= storm["last_presence_ns"] + 2 * S
    assert storm["duration_s"] == (storm["last_presence_ns"] - storm["first_connect_ns"]) / 1e9


def test_a_server_silent_for_longer_than_the_quiet_period_mid_storm_does_not_release_the_members(
    serve: Serve, tmp_path: Path
) -> None:
    # Every join is announced 1.5 s late: after the last connect there is a gap longer than the 1 s quiet period
    # before the first announcement. The members must still wait for the 21 announcements they are owed.
    url = serve("chat_rooms", env={"HARNESS_CHAT_PRESENCE_DELAY_S": "1.5", "HARNESS_CHAT_STRICT": "1"})
    run = _room(url, tmp_path, 6, warmup_from="settle", settle_quiet_s=1.0)
    storm = run.result["join_storm"]
    assert run.result["unexpected_closes"] == {} and run.delivery["lost"] == 0
    assert storm["joins"] == 21 and storm["settled"] is True and storm["joins_after_release"] == 0


def test_a_storm_that_does_not_settle_is_reported_and_the_members_send_anyway(serve: Serve, tmp_path: Path) -> None:
    # Announcements every 50 ms for ever, and a quiet period longer than the time-out: only the time-out can end it.
    url = serve("chat_rooms", env={"HARNESS_CHAT_PRESENCE_EVERY_S": "0.05"})
    run = _room(url, tmp_path, 3, warmup_from="settle", settle_quiet_s=2.0, settle_timeout_s=1.0)
    storm = run.result["join_storm"]
    assert storm["settled"] is False and storm["released_ns"] is not None
    assert storm["joins_after_release"] > 0, "the storm went on inside the send window, and the result says so"
    assert run.result["sends"] > 0 and run.delivery["lost"] == 0


def test_a_room_across_two_workers_settles_in_each_and_the_master_ends_the_test(serve: Serve, tmp_path: Path) -> None:
    # One room of 4 over two Locust workers: each worker's barrier hears the whole room's storm. The run must end by
    # itself once both workers have sent (harness_done), long before Locust's run time, which leaves room for the
    # 120 s time-out; the generous timeout_s only turns a missing early end into an error instead of a slow pass.
    url = serve("chat_rooms", env={"HARNESS_CHAT_STRICT": "1"})
    run = _room(url, tmp_path, 4, processes=2, warmup_from="settle", timeout_s=90)
    storm = run.result["join_storm"]
    assert run.result["incomplete_processes"] == [] and len(run.result["processes"]) == 3
    assert (storm["connects"], storm["joins"], storm["settled"], storm["joins_after_release"]) == (4, 10, True, 0)
    assert run.result["unexpected_closes"] == {} and run.result["sends"] > 0 and run.delivery["lost"] == 0
