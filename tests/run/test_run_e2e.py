"""``harness run`` end to end: the smoke scenario on a real stack, in-memory and Redis, to a valid result.json."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest

from harness.results import validate_result
from harness.run import UnsupportedScenario, plan_cells, run_scenario
from harness.scenario import Matrix, load_named

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
    assert outcome.exit_code == 0


def test_generic_scenarios_need_a_target_and_timeclock_is_refused_clearly() -> None:
    with pytest.raises(UnsupportedScenario, match="--target ws://"):
        plan_cells(load_named("echo"), None)
    assert len(plan_cells(load_named("echo"), "ws://127.0.0.1:9/")) == 1
    with pytest.raises(UnsupportedScenario, match="eks_shift_change"):
        run_scenario(load_named("timeclock-shift-change"), out_dir=Path("/nonexistent/never-written"))
