"""``harness run`` end to end: the smoke scenario on a real stack, in-memory and Redis, to a valid result.json."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import sys
import time
from pathlib import Path

import pytest

from harness.results import validate_result
from harness.run import UnsupportedScenario, plan_cells, run_scenario
from harness.scenario import Matrix, Stage, load_named
from harness.stack.network import free_port
from harness.stack.processes import ManagedProcess

pytestmark = pytest.mark.wire


def test_smoke_in_memory_and_redis_writes_a_valid_result_and_report(tmp_path: Path) -> None:
    scenario = dataclasses.replace(
        load_named("smoke"),
        duration_s=3,
        warmup_s=1,
        grace_s=1,
        matrix=Matrix(("uvicorn",), ("inmemory", "redis"), (1,)),
    )
    progress = io.StringIO()
    outcome = run_scenario(scenario, out_dir=tmp_path / "run", argv=["harness", "run"], stream=progress)

    document = json.loads(outcome.files.result.read_text())
    validate_result(document)
    assert [(c["server"], c["layer"]) for c in document["cells"]] == [("uvicorn", "inmemory"), ("uvicorn", "redis")]
    for cell in document["cells"]:
        users = scenario.load.users
        sends = cell["metrics"]["round_trip"]["count"]
        # 10 users in rooms of 5 at 2 msgs/s for 3 s; every message reaches its 4 room mates.
        assert sends == users * scenario.load.rate * scenario.duration_s
        assert cell["metrics"]["fanout"]["count"] == sends * 4
        assert cell["delivery"]["lost"] == 0 and cell["delivery"]["duplicated"] == 0
        assert {p["name"].split("-")[0] for p in cell["server_resources"]["processes"]} >= {"uvicorn"}
        assert all(v["pass"] for v in cell["slo_verdicts"]), cell["slo_verdicts"]
    assert document["fingerprint"]["seed"] == scenario.seed
    html = outcome.files.report.read_text()
    assert html.count("<svg") >= 3 and "uvicorn+redis" in html
    assert outcome.files.hgrm and all(p.read_text().startswith("       Value") for p in outcome.files.hgrm)
    assert (tmp_path / "latest").resolve() == (tmp_path / "run").resolve()
    assert "measuring | cell 2/2 uvicorn+redis" in progress.getvalue()
    # The progress line's source: the generator's own figures over its newest whole seconds.
    live = json.loads((tmp_path / "run" / "cell-01-uvicorn-inmemory-1w" / "locust" / "live.json").read_text())
    assert live["window_s"] >= 1 and live["deliveries_per_s"] > 0 and live["response_time_p99_us"] > 0
    for cell in document["cells"]:
        points = cell["timeseries"]["points"]
        assert sum(p["sent"] for p in points) == cell["metrics"]["round_trip"]["count"]
        assert max(p["connections"] for p in points) == scenario.load.users
    assert outcome.exit_code == 0
    _every_documented_path_exists(tmp_path / "run")


def _every_documented_path_exists(run_dir: Path) -> None:
    """The table of docs/results.md names what a run directory holds; each entry must be there."""
    table = (Path(__file__).resolve().parents[2] / "docs" / "results.md").read_text().split("## ")[0]
    paths = re.findall(r"^\| `([^`]+)` \|", table, flags=re.M)
    assert len(paths) >= 5, paths
    for documented in paths:
        pattern = re.sub(r"<[^>]+>", "*", documented).rstrip("/")
        assert list(run_dir.glob(pattern)), f"docs/results.md lists {documented}, which the run did not write"


def test_generic_scenarios_need_a_target_and_timeclock_needs_its_own_stack() -> None:
    with pytest.raises(UnsupportedScenario, match="--target ws://"):
        plan_cells(load_named("echo"), None)
    assert len(plan_cells(load_named("echo"), "ws://127.0.0.1:9/")) == 1
    with pytest.raises(UnsupportedScenario, match="cannot run against --target"):
        plan_cells(load_named("timeclock-shift-change"), "ws://127.0.0.1:9/")


def test_load_shapes_map_onto_generator_arguments() -> None:
    from harness.run.plan import _generator_runs, _shape

    burst = load_named("notifications-burst")
    ((_, _, rate, _),) = _generator_runs(burst)
    # The one publisher sends for all 299 listeners: 0.2/s each becomes 59.8/s, the burst 1495/s.
    assert rate == pytest.approx(0.2 * 299)
    # Poisson arrivals stay Poisson under the steps (version 1 of the runner silently sent them evenly spaced).
    assert _shape(burst, rate / burst.load.rate) == (
        "poisson",
        ("--harness-shape", "steps", "--harness-steps", "59.8:10,1495:5,59.8:15"),
        {},
    )
    assert _shape(load_named("smoke"), 1.0) == ("constant", (), {})
    fanout = load_named("fanout")
    runs = _generator_runs(fanout)
    assert [(size, rate * size) for size, _, rate, _ in runs] == [
        (s, fanout.load.rate) for s in fanout.load.group_sizes
    ]


def test_a_shaped_fanout_scales_every_stage_by_group_size() -> None:
    from harness.run.plan import _generator_runs, _shape

    fanout = load_named("fanout")
    stages = (Stage(5, fanout.load.users, 10.0), Stage(5, fanout.load.users, 20.0))
    shaped = dataclasses.replace(fanout, load=dataclasses.replace(fanout.load, shape="ramp", stages=stages))
    size, _, rate, _ = _generator_runs(shaped)[-1]
    _, args, _ = _shape(shaped, rate / shaped.load.rate)
    assert args == ("--harness-shape", "ramp", "--harness-steps", f"{10 / size:g}:5,{20 / size:g}:5")


def test_fanout_measures_each_join_storm_apart_from_the_fanout_after_it(tmp_path: Path) -> None:
    base = load_named("fanout")
    scenario = dataclasses.replace(
        base,
        duration_s=2,
        warmup_s=0,
        grace_s=1,
        matrix=Matrix(("uvicorn",), ("inmemory",), (1,)),
        load=dataclasses.replace(base.load, users=26, spawn_rate=20, rate=4.0, group_sizes=(1, 5, 20)),
    )
    outcome = run_scenario(scenario, out_dir=tmp_path / "run", argv=["harness", "run"], stream=io.StringIO())
    (cell,) = outcome.document["cells"]
    storms = cell["join_storm_by_group_size"]
    assert [s["group_size"] for s in storms] == [1, 5, 20]
    for storm in storms:
        size = storm["group_size"]
        # The reference app announces every join to the whole room: N(N+1)/2 frames when the joins come one after
        # the other, up to N² when they overlap; every one of them read.
        assert (storm["presence_expected_min"], storm["presence_expected_max"]) == (size * (size + 1) // 2, size**2)
        assert storm["presence_expected_min"] <= storm["presence_received"] <= storm["presence_expected_max"], storm
        assert storm["all_joined"] and storm["settled"] and storm["presence_after_release"] == 0
        assert storm["connected"] == size and storm["connect"]["count"] == size
    sizes = {g["group_size"]: g["metric"]["count"] for g in cell["fanout_by_group_size"]}
    assert sorted(sizes) == [5, 20] and all(count > 0 for count in sizes.values())
    assert cell["delivery"]["lost"] == 0 and cell["foreign_messages"] == {}
    assert outcome.exit_code == 0, [v["sentence"] for v in cell["slo_verdicts"]]


def test_layer_pressure_and_redis_samples_reach_the_result(tmp_path: Path) -> None:
    scenario = dataclasses.replace(
        load_named("smoke"), duration_s=2, warmup_s=1, grace_s=1, matrix=Matrix(("uvicorn",), ("redis",), (1,))
    )
    outcome = run_scenario(scenario, out_dir=tmp_path / "run", argv=["harness", "run"], stream=io.StringIO())
    (cell,) = outcome.document["cells"]
    assert cell["layer_pressure"]["observable"] is True
    assert cell["layer_pressure"]["group_send_over_capacity"] == 0
    assert "uvicorn.log" in cell["layer_pressure"]["source"]
    assert cell["server_resources"]["redis"] and all(
        s["connected_clients"] >= 1 for s in cell["server_resources"]["redis"]
    )


def test_echo_and_broadcast_against_a_server_the_harness_did_not_start(tmp_path: Path) -> None:
    for kind, app, path in (("echo", "echo", "/"), ("broadcast", "broadcast", "/room")):
        port = free_port()
        server = ManagedProcess(
            name=f"{kind}-server",
            argv=[sys.executable, "-m", "uvicorn", f"harness.testing.{app}:app", "--port", str(port)],
            log_path=tmp_path / f"{kind}.log",
        ).start()
        try:
            scenario = dataclasses.replace(load_named(kind), duration_s=2, warmup_s=1, grace_s=1)
            scenario = dataclasses.replace(scenario, load=dataclasses.replace(scenario.load, users=4, spawn_rate=10))
            for _ in range(100):
                if "Uvicorn running" in server.log_text():
                    break
                time.sleep(0.1)
            outcome = run_scenario(
                scenario,
                target=f"ws://127.0.0.1:{port}{path}",
                out_dir=tmp_path / kind,
                argv=["harness", "run"],
                stream=io.StringIO(),
            )
        finally:
            server.stop()
        (cell,) = outcome.document["cells"]
        assert (cell["server"], cell["parameters"]["target"]) == ("external", f"ws://127.0.0.1:{port}{path}")
        assert cell["delivery"]["lost"] == 0 and cell["metrics"]["response_time"]["count"] > 0
        if kind == "broadcast":
            sends = cell["metrics"]["round_trip"]["count"]
            assert cell["metrics"]["fanout"]["count"] == sends * 3


def test_connect_storm_opens_chat_sockets_as_logged_in_users(tmp_path: Path) -> None:
    base = load_named("connect-storm")
    scenario = dataclasses.replace(
        base,
        duration_s=3,
        grace_s=1,
        matrix=Matrix(("uvicorn",), ("inmemory",), (1,)),
        load=dataclasses.replace(base.load, users=10, spawn_rate=20, rate=1.0),
    )
    outcome = run_scenario(scenario, out_dir=tmp_path / "run", argv=["harness", "run"], stream=io.StringIO())
    (cell,) = outcome.document["cells"]
    # Without the session cookie and a chat path every attempt would be an HTTP 403 and no connect would be timed.
    assert cell["metrics"]["connect"]["count"] >= 10
    assert sum(cell["connect_failures"].values()) == 0, cell["connect_failures"]
    assert outcome.exit_code == 0, [v["sentence"] for v in cell["slo_verdicts"]]
