"""harness.scenario: every shipped scenario loads, and every kind of mistake is named precisely."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.scenario import (
    SCENARIO_DIR,
    LatencySlo,
    LossSlo,
    ScenarioError,
    ThroughputSlo,
    _display,
    available_scenarios,
    load_named,
    load_scenario,
    parse_scenario,
)

REQUIRED_FILES = {
    "smoke",
    "chat-rooms",
    "fanout",
    "notifications-burst",
    "timeclock-shift-change",
    "connect-storm",
    "soak",
    "echo",
    "broadcast",
}


def test_all_required_scenarios_exist():
    assert REQUIRED_FILES <= set(available_scenarios())


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIO_DIR.glob("*.toml")))
def test_every_scenario_file_loads(name):
    scenario = load_named(name)
    assert scenario.name == name
    assert scenario.slos, "every shipped scenario sets at least one SLO"
    assert scenario.matrix.cells()
    assert scenario.source == f"scenarios/{name}.toml"
    assert scenario.to_dict()["load"]["users"] == scenario.load.users


def test_smoke_fits_in_thirty_seconds_per_cell():
    assert load_named("smoke").total_s <= 30


def test_generic_scenarios_are_echo_and_broadcast():
    assert {n for n in available_scenarios() if load_named(n).generic} == {
        "echo",
        "broadcast",
        "gate-echo",
        "capacity-echo",
    }


def test_fanout_and_timeclock_specifics():
    assert load_named("fanout").load.group_sizes == (1, 10, 100, 200)
    tc = load_named("timeclock-shift-change").timeclock
    assert tc is not None and tc.readers > 0 and tc.burst_s > 0


def test_valid_text_parses_into_typed_objects(write_scenario, valid_scenario_text):
    s = load_scenario(write_scenario(valid_scenario_text))
    assert s.kind == "chat" and s.load.room_size == 5 and s.load.rate == 2.0
    assert s.slos == (LatencySlo("fanout", "p99", 250.0), LossSlo(0.0))
    assert s.warmup_s == 2.0 and s.matrix.cells() == [("daphne", "inmemory", 1)]


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


BAD = [
    pytest.param(
        ("rate = 2", 'rate = "fast"'),
        '[load].rate: expected a number > 0, got "fast"',
        id="wrong-type",
    ),
    pytest.param(("users = 10", "users = 0"), "[load].users: expected an integer >= 1, got 0", id="below-minimum"),
    pytest.param(
        ("users = 10", "users = 10.5"), "[load].users: expected an integer >= 1, got 10.5", id="float-for-int"
    ),
    pytest.param(
        ("rate = 2", "rate = 2\nrates = 3"),
        "[load]: unknown key rates; accepted: arrival, payload_bytes, rate, reconnect, room_size, shape, spawn_rate, "
        "stages, users",
        id="unknown-key-in-table",
    ),
    pytest.param(
        ("rate = 2", 'rate = 2\nreconnect = "yes"'),
        '[load].reconnect: expected true or false, got "yes"',
        id="reconnect-not-a-boolean",
    ),
    pytest.param(
        ("seed = 3", "seed = 3\ndurations = 4"),
        "(top level): unknown key durations; accepted: app, description, duration_s, faults, gate, generic, grace_s, "
        "kind, load, matrix, name, seed, slos, soak, timeclock, warmup_s",
        id="unknown-top-key",
    ),
    pytest.param(("seed = 3\n", ""), "seed: missing; this key is required", id="missing-top-key"),
    pytest.param(("room_size = 5\n", ""), "[load].room_size: missing; this key is required", id="missing-room-size"),
    pytest.param(
        ('metric = "fanout"', 'metric = "p99_latency"'),
        "[[slos]][0].metric: expected one of round_trip, fanout, connect, service_time, response_time, send_lag, "
        'eks_insert_to_kiosk, got "p99_latency"',
        id="bad-metric-name",
    ),
    pytest.param(
        ('statistic = "p99"', 'statistic = "p95"'),
        '[[slos]][0].statistic: expected one of p50, p90, p99, p99_9, max, got "p95"',
        id="bad-statistic",
    ),
    pytest.param(
        ("max_lost_ratio = 0", "max_lost_ratio = 1.5"),
        "[[slos]][1].max_lost_ratio: expected a ratio in [0, 1), got 1.5",
        id="bad-ratio",
    ),
    pytest.param(
        ("max_lost_ratio = 0", "max_lost = 0"),
        "[[slos]][1]: expected one objective: metric + statistic + limit_ms, or max_lost_ratio, or min_msgs_per_s; "
        "got keys max_lost",
        id="unknown-slo",
    ),
    pytest.param(
        ('kind = "chat"', 'kind = "chatroom"'),
        "kind: expected one of chat, fanout, notifications, timeclock, connect-storm, echo, broadcast, app, "
        'got "chatroom"',
        id="bad-kind",
    ),
    pytest.param(
        ('servers = ["daphne"]', 'servers = ["hypercorn"]'),
        '[matrix].servers[0]: expected one of daphne, uvicorn, uvicorn-sansio, uvicorn-wsproto, got "hypercorn"',
        id="unknown-server",
    ),
    pytest.param(
        ("workers = [1]", "workers = [2]"),
        "[matrix]: layer inmemory lives inside one server process",
        id="inmemory-with-workers",
    ),
    pytest.param(
        ('name = "tiny"', 'name = "Tiny Chat"'),
        "name: expected a name of a-z, 0-9 and '-' (at most 63), got \"Tiny Chat\"",
        id="bad-name",
    ),
    pytest.param(
        ("room_size = 5", "room_size = 5\ngroup_sizes = [1, 2]"),
        "[load]: unknown key group_sizes; accepted:",
        id="group-sizes-for-chat",
    ),
    pytest.param(
        ('kind = "chat"', 'kind = "chat"\ngeneric = true'),
        "generic: only kinds echo, broadcast and app work against any server; kind is chat",
        id="generic-chat",
    ),
    pytest.param(
        ("room_size = 5", 'room_size = 5\nshape = "steps"\n[[load.stages]]\nduration_s = 4\nusers = 10\nrate = 1'),
        "[[load.stages]]: stage durations add up to 4 s but duration_s is 10",
        id="stages-too-short",
    ),
    pytest.param(
        ("room_size = 5", 'room_size = 5\nshape = "ramp"\n[[load.stages]]\nduration_s = 10\nusers = 10'),
        "[[load.stages]][0].rate: missing; this key is required",
        id="stage-without-rate",
    ),
    pytest.param(
        ("seed = 3", "seed = 3\n[timeclock]\nreaders = 1\ninserts = 1\nburst_s = 1"),
        "[timeclock]: only for kind timeclock; kind is chat",
        id="timeclock-table-for-chat",
    ),
    pytest.param(("[load]", "[load\n"), "not valid TOML", id="not-toml"),
]


@pytest.mark.parametrize(("edit", "message"), BAD)
def test_bad_file_gives_precise_message(write_scenario, valid_scenario_text, edit, message):
    path = write_scenario(_replace(valid_scenario_text, *edit))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    # A file inside the project is named relative to it (a temp dir may sit there, e.g. under nox's .nox/).
    assert text.startswith(f"{_display(Path(path))}: "), text
    assert message in text, text


def test_messages_name_project_files_relative_to_the_project(tmp_path):
    with pytest.raises(ScenarioError, match=r"^scenarios/x-missing\.toml: cannot read"):
        load_scenario(SCENARIO_DIR / "x-missing.toml")


def test_load_named_lists_available_scenarios():
    with pytest.raises(ScenarioError, match=r"no scenario \"nope\" in scenarios; available: .*smoke"):
        load_named("nope")


def test_load_named_checks_name_matches_file(write_scenario, valid_scenario_text, tmp_path):
    write_scenario(valid_scenario_text, name="other")
    with pytest.raises(ScenarioError, match=re.escape('name: expected "other" (the file name), got "tiny"')):
        load_named("other", tmp_path)


def test_throughput_slo_and_optional_rate_for_connect_storm():
    s = parse_scenario(
        {
            "name": "cs",
            "description": "d",
            "kind": "connect-storm",
            "duration_s": 5,
            "seed": 0,
            "load": {"users": 10, "spawn_rate": 5},
            "slos": [{"min_msgs_per_s": 3}],
        }
    )
    assert s.load.rate is None and s.slos == (ThroughputSlo(3.0),)


def test_a_timeclock_on_a_layer_inside_one_process_is_refused(tmp_path):
    # The gateway and the timeclock worker are processes of their own: an in-process layer would lose every punch.
    text = (SCENARIO_DIR / "timeclock-shift-change.toml").read_text()
    path = tmp_path / "timeclock-shift-change.toml"
    path.write_text(text.replace('layers = ["redis"]', 'layers = ["redis", "inmemory"]'))
    with pytest.raises(ScenarioError, match=r"\[matrix\].layers: inmemory lives inside one server process"):
        load_scenario(path)
