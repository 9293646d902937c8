"""A timeclock run under faults, end to end: Redis killed and restarted empty, the worker and the gateway killed,
the app↔Redis path reset, readers reset; every punch audited exactly once, and what each window did to the kiosks
and the gateways' readers (docs/reliability.md).

The kinds not exercised here (pause, client_kill, server kill) are each checked against real processes in
test_injectors.py and run in the bundled timeclock-chaos scenario (docs/reliability.md has its figures).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from harness.faults.audit_command import run_command
from harness.run import run_scenario
from harness.scenario import parse_scenario


def _chaos(faults: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "chaos-test",
        "description": "x",
        "kind": "timeclock",
        "duration_s": 16,
        "seed": 7,
        "matrix": {"servers": ["daphne"], "layers": ["redis"], "workers": [1]},
        "load": {"users": 2, "spawn_rate": 10},
        "timeclock": {"readers": 4, "inserts": 10, "burst_s": 13},
        "faults": faults,
    }


FAULTS = [
    {"kind": "kill", "target": "gateway", "start_s": 2, "duration_s": 1},
    # The worker is down while punches queue for it in Redis; Redis then dies with them. Only the gateway's
    # re-send after an unanswered acknowledgement stores those punches (no gateway restart comes after to replay
    # its journal).
    {"kind": "kill", "target": "worker", "start_s": 5, "duration_s": 1},
    {"kind": "kill", "target": "redis", "start_s": 6.2, "duration_s": 1},
    {"kind": "toxic", "path": "redis", "toxic": "reset_peer", "start_s": 8.5, "duration_s": 1},
    {"kind": "eks", "target": "rst", "fraction": 0.5, "start_s": 10.5, "duration_s": 0.5},
]


@pytest.mark.wire
def test_a_shift_change_under_faults_stores_every_punch_once_and_says_what_each_fault_did(tmp_path: Path) -> None:
    scenario = parse_scenario(_chaos(FAULTS), where="chaos.toml")
    outcome = run_scenario(scenario, out_dir=tmp_path / "run", stream=io.StringIO())
    (cell,) = outcome.document["cells"]
    windows = cell["faults"]
    assert [w["label"] for w in windows] == [
        "kill -KILL gateway",
        "kill -KILL worker",
        "kill -KILL redis",
        "reset_peer (both, redis path)",
        "eks rst on 50% of readers",
    ]
    for window in windows:
        assert window["error"] is None and window["began"] and window["ended"], window
    assert "redis-server pid(s)" in windows[2]["began"] and "restarted as pid(s)" in windows[2]["ended"]
    assert "into 2 reader(s)" in windows[4]["began"]
    # runworker exits when Redis goes away; the supervisor brought it back, or no punch after 2 s would be stored.
    assert any(r["process"] == "timeclock-worker" for r in cell.get("restarts", []))
    audit = cell["punch_audit"]
    assert audit["inserts"] == 40 and audit["exactly_once"], audit
    assert audit["stored_once"] + audit["recovered_late"] + audit["cut_off"] + audit["unseen"] == 40
    # Punches inserted after each fault still reach their kiosks (kiosks reconnect after the Redis restart), and no
    # kiosk stays silent: each terminal's next stored punch reached it.
    assert all(w["first_punch_after_s"] is not None for w in windows), windows
    assert all(w["silent_kiosks"] == [] for w in windows), windows
    # Per window, the audit's outcomes of the inserts made from its start to the next window's.
    assert all(w["punches"]["lost"] == w["punches"]["duplicated"] == 0 for w in windows), windows
    assert sum(sum(v for k, v in w["punches"].items() if k != "duplicated") for w in windows) <= 40
    # Not every window can check a kiosk (the worker's ends 0.2 s before Redis's begins; after a reset the kiosks may
    # still be reconnecting when the next window begins), but most do.
    assert sum(w["kiosks_checked"] > 0 for w in windows) >= 3, windows
    # The gateways' reader connections, polled: the killed gateway held none of the 4 readers, the worker and Redis
    # faults left them alone, and the reset readers were reconnected and all back before the run ended.
    assert windows[0]["gateway_readers_dropped"] == 4 and windows[0]["gateway_first_drop_after_s"] is not None
    assert [w["gateway_reconnects"] for w in windows[1:4]] == [0, 0, 0], windows
    assert windows[4]["gateway_reconnects"] >= 2 and windows[4]["gateway_readers_back_after_s"] is not None
    assert outcome.exit_code == 0
    # The plain timeclock figures are there too (this test also stands for a timeclock run without faults, which
    # takes the same path without the schedule and the supervisor; CI seconds).
    stored = audit["stored_once"] + audit["recovered_late"]
    assert cell["parameters"]["punches_stored"] == stored and cell["delivery"]["expected"] == 40
    assert 0 < cell["metrics"]["eks_insert_to_kiosk"]["count"] <= stored

    stack = next((tmp_path / "run").glob("cell-*/stack"))
    for name in ("eks-events.jsonl", "punches.jsonl", "audit-context.json", "punch-audit.json"):
        assert (stack / name).is_file()
    assert json.loads((stack / "punch-audit.json").read_text()) == audit

    # The audit repeated from those files agrees; a punch removed from the dump is found lost.
    class Args:
        directory = stack
        late_s = 2.0
        json = False

    assert run_command(Args()) == 0  # type: ignore[arg-type]
    lines = (stack / "punches.jsonl").read_text().splitlines()
    (stack / "punches.jsonl").write_text("\n".join(lines[1:]) + "\n")
    assert run_command(Args()) == 1  # type: ignore[arg-type]
