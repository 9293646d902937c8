"""[[faults]] in a scenario: the toxics go on and off on time, through the proxy, and the result says what they did."""

from __future__ import annotations

import dataclasses
import io
import time
from pathlib import Path

import pytest

from harness.faults.injectors import FaultTargets
from harness.faults.proxy import FaultProxy
from harness.faults.schedule import FaultSchedule, FaultWindow, window_figures
from harness.results.format import cell_warnings
from harness.run import run_scenario
from harness.scenario import ScenarioError, load_named, parse_scenario
from harness.scenario.faults import FaultSpec
from tests.conftest import serve_asgi


def _echo_doc(faults: list[dict[str, object]]) -> dict[str, object]:
    load = {"users": 2, "spawn_rate": 10, "rate": 2}
    return {"name": "x", "description": "x", "kind": "echo", "duration_s": 6, "seed": 1, "load": load, "faults": faults}


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ([{"toxic": "thunder", "start_s": 1, "duration_s": 1}], "[[faults]][0].toxic: toxic 'thunder'"),
        ([{"toxic": "blackhole", "start_s": -1, "duration_s": 1}], "[[faults]][0].start_s"),
        ([{"toxic": "blackhole", "start_s": 1, "duration_s": 0}], "[[faults]][0].duration_s"),
        ([{"toxic": "blackhole", "start_s": 1, "duration_s": 1, "path": "disk"}], "[[faults]][0].path"),
        ([{"start_s": 1, "duration_s": 1}], "[[faults]][0].toxic: a toxic fault needs its toxic"),
        ([{"kind": "kill", "start_s": 1, "duration_s": 1}], "[[faults]][0].target: a kill fault needs a target"),
        ([{"kind": "kill", "target": "database", "start_s": 1, "duration_s": 1}], "one of redis, worker, gateway"),
        ([{"kind": "kill", "target": "redis", "signal": "HUP", "start_s": 1, "duration_s": 1}], "].signal"),
        ([{"kind": "kill", "target": "redis", "toxic": "blackhole", "start_s": 1, "duration_s": 1}], "toxic"),
        ([{"kind": "pause", "target": "redis", "signal": "KILL", "start_s": 1, "duration_s": 1}], "signal"),
        ([{"kind": "client_kill", "target": "master", "start_s": 1, "duration_s": 1}], "one of normal, pubsub"),
        ([{"kind": "eks", "target": "meteor", "start_s": 1, "duration_s": 1}], "[[faults]][0].target"),
        ([{"kind": "eks", "target": "rst", "fraction": 1.5, "start_s": 1, "duration_s": 1}], "> 0 and <= 1"),
        ([{"kind": "flood", "target": "redis", "start_s": 1, "duration_s": 1}], "[[faults]][0].kind"),
        (
            [{"toxic": "blackhole", "path": "redis", "target": "redis", "start_s": 1, "duration_s": 1}],
            "give the toxic's path once",
        ),
        (
            [
                {"toxic": "blackhole", "start_s": 1, "duration_s": 3},
                {"toxic": "reset_peer", "start_s": 2, "duration_s": 1},
            ],
            "starts before the one at 1 s ends (4 s): one fault at a time",
        ),
    ],
)
def test_a_bad_fault_window_names_its_key(faults: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(_echo_doc(faults), where="x.toml")
    assert message in str(caught.value)


def test_the_schedule_puts_toxics_on_and_off_on_time() -> None:
    with FaultProxy(("127.0.0.1", 9)) as proxy:
        specs = [
            FaultSpec(0.2, 0.3, toxic="blackhole", direction="upstream"),
            FaultSpec(0.6, 0.2, toxic="latency:delay_ms=5"),
        ]
        schedule = FaultSchedule(FaultTargets(proxies={"client": proxy}), specs).start()
        time.sleep(1.0)
        schedule.stop()
    assert [(c.direction, type(c.toxic).__name__ if c.toxic else None) for c in proxy.log] == [
        ("upstream", "Blackhole"),
        ("upstream", None),
        ("upstream", "Latency"),
        ("downstream", "Latency"),
        ("upstream", None),
        ("downstream", None),
    ]
    first, second = schedule.windows
    assert first.began_monotonic_s is not None and first.ended_monotonic_s is not None
    assert 0.25 <= first.ended_monotonic_s - first.began_monotonic_s < 0.6


class _Idle:
    def begin(self) -> str:
        return "nothing"

    def end(self) -> str:
        return "nothing"


def test_window_figures_read_the_seconds_the_window_touched() -> None:
    window = FaultWindow(FaultSpec(2, 2, toxic="blackhole"), _Idle(), began_wall_s=102.4, ended_wall_s=104.4)
    points = [{"epoch_s": t, "sent": 4, "received": 0 if 102 <= t <= 105 else 4} for t in range(100, 108)]
    figures = window_figures(window, points)
    assert (figures["deliveries_during"], figures["sent_during"], figures["recovered_after_s"]) == (0, 12, 2)
    never = window_figures(FaultWindow(FaultSpec(9, 1, toxic="blackhole"), _Idle()), points)
    assert never["began_wall_s"] is None and never["deliveries_during"] is None
    (warning,) = cell_warnings({"faults": [never]}, "x")
    assert "never began" in warning


@pytest.mark.wire
def test_a_blackhole_window_loses_what_is_sent_into_it_and_the_run_says_so(tmp_path: Path) -> None:
    with serve_asgi("harness.testing.echo:app", tmp_path) as url:
        base = load_named("echo")
        scenario = dataclasses.replace(
            base,
            duration_s=5,
            warmup_s=1,
            grace_s=1,
            load=dataclasses.replace(base.load, users=2, spawn_rate=20, rate=10),
            slos=(),
            faults=(FaultSpec(2.5, 1.5, toxic="blackhole", direction="upstream"),),
        )
        outcome = run_scenario(scenario, target=f"{url}/", out_dir=tmp_path / "run", stream=io.StringIO())
    (cell,) = outcome.document["cells"]
    (fault,) = cell["faults"]
    assert fault["began_wall_s"] is not None and 1.4 <= fault["ended_wall_s"] - fault["began_wall_s"] < 2.5
    # About 1.5 s x 2 users x 10 msg/s went into the blackhole: each is lost, the rest came back.
    assert 15 <= cell["delivery"]["lost"] <= 45 and cell["delivery"]["received"] > 0
    assert fault["recovered_after_s"] is not None and fault["recovered_after_s"] <= 2
    assert any("fault blackhole (upstream, client path) from 2.5 s for 1.5 s" in w for w in cell_warnings(cell, "x"))
