"""The generator-cost benchmark's plain users and its verdicts (benchmarks/generator_cost.py).

The benchmark's figures are not checked here (that is what the benchmark is for); what is checked is that its
baselines do the work they claim, without failures, and that each baseline gets its own verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.generator_cost import Measurement, Scenario, run_plain_loop, verdicts

SMALL = Scenario("small", users=4, room_size=4, rate_per_user=2.0, arrival="constant")


def _row(generator: str, rep: int, generator_cpu_s: float, server_cpu_s: float = 1.0) -> Measurement:
    return Measurement(
        "fan-out",
        rep,
        generator,
        window_s=10,
        sends=50,
        delivered=1000,
        expected=1000,
        server_cpu_s=server_cpu_s,
        generator_cpu_s=generator_cpu_s,
    )


def test_each_plain_user_gets_its_own_verdict_from_its_own_repetitions() -> None:
    rows = [
        *(_row("ours", rep, 0.02) for rep in (1, 2, 3)),
        # plain: 1.5, 1.9, 2.5 times ours (median 1.9); plain-loop: 2.4, 2.6, 3.0 (median 2.6).
        _row("plain", 1, 0.030),
        _row("plain", 2, 0.038),
        _row("plain", 3, 0.050),
        _row("plain-loop", 1, 0.048),
        _row("plain-loop", 2, 0.052),
        _row("plain-loop", 3, 0.060),
    ]
    lines = verdicts(rows, ["fan-out"]).splitlines()
    assert lines == [
        "fan-out: ours generator/server CPU per delivered message = 0.020 (median of 0.020, 0.020, 0.020); "
        "goal ≤ 0.25: PASS",
        "fan-out: plain/ours generator CPU µs per delivered message = 1.90 (median of 1.50, 1.90, 2.50); "
        "goal ≥ 2.0: FAIL",
        "fan-out: plain-loop/ours generator CPU µs per delivered message = 2.60 (median of 2.40, 2.60, 3.00); "
        "goal ≥ 2.0: PASS",
    ]


def test_a_baseline_without_a_pair_is_not_checked() -> None:
    rows = [_row("ours", 1, 0.02), _row("plain-loop", 2, 0.06)]
    lines = verdicts(rows, ["fan-out"], ["plain-loop"]).splitlines()
    assert lines[-1] == "fan-out: plain-loop/ours: no valid pair: NOT CHECKED"


@pytest.mark.wire
def test_the_receive_loop_user_reads_and_times_every_message_without_failures(tmp_path: Path) -> None:
    m = run_plain_loop(SMALL, 1, tmp_path, 3.0)
    assert m.valid, m.flags
    # Flags cover failed requests (a close read as a message, a timeout ending the loop), unconnected users,
    # Locust's exit code and deliveries short of the schedule. A busy machine is flagged too, but says nothing about
    # the user, and a test must not depend on what else the machine runs.
    assert [flag for flag in m.flags if not flag.startswith("other processes used")] == []
    counters = json.loads((tmp_path / "plain.json").read_text())
    assert counters["failures"] == 0
    sends, users = counters["sends"], SMALL.users
    assert sends > users
    # Every member reads every message of the room, its own copy included; Locust stops the users while each may
    # have one message on its way.
    assert sends - users <= counters["round_trips"] <= sends
    assert SMALL.room_size * (sends - users) <= counters["received"] <= SMALL.room_size * sends
    with (tmp_path / "locust_stats.csv").open() as f:
        header, *rows = (line.split(",") for line in f.read().splitlines())
    stats = {row[header.index("Name")]: row for row in rows}
    timed = stats["chat message"]
    # One request event per message received, each timed from the send time in the message. Locust writes its
    # CSV once a second, so the file may lack the last second's events.
    per_second = SMALL.users * SMALL.rate_per_user * SMALL.room_size
    assert counters["received"] - per_second <= int(timed[header.index("Request Count")]) <= counters["received"]
    assert float(timed[header.index("Max Response Time")]) > 0
