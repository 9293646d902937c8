"""Chat rooms under faults, end to end, with users that reconnect: the server killed (every socket drops, every user
comes back and its room works again: no silent member), then Redis flushed under open sockets (the list layer's
group memberships vanish, no socket closes, and the canary finds every member silent) (docs/reliability.md)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from harness.results.format import cell_warnings
from harness.results.slo import breach_sentences
from harness.run import run_scenario
from harness.scenario import parse_scenario


def _scenario() -> dict[str, Any]:
    return {
        "name": "chat-chaos-test",
        "description": "x",
        "kind": "chat",
        "duration_s": 14,
        "warmup_s": 1,
        "grace_s": 2,
        "seed": 5,
        "matrix": {"servers": ["uvicorn"], "layers": ["redis"], "workers": [1]},
        "load": {"users": 20, "spawn_rate": 40, "rate": 2, "room_size": 5, "payload_bytes": 64, "reconnect": True},
        "faults": [
            # Down 3 s: longer than a generator that does not wait for its users to reconnect would wait.
            {"kind": "kill", "target": "server", "start_s": 3, "duration_s": 3},
            {"kind": "flush", "target": "redis", "start_s": 10, "duration_s": 1},
        ],
    }


@pytest.mark.wire
def test_reconnecting_rooms_recover_from_a_server_kill_and_the_canary_finds_members_a_flush_left_silent(
    tmp_path: Path,
) -> None:
    scenario = parse_scenario(_scenario(), where="chat-chaos.toml")
    outcome = run_scenario(scenario, out_dir=tmp_path / "run", stream=io.StringIO())
    (cell,) = outcome.document["cells"]
    kill, flush = cell["faults"]
    for window in (kill, flush):
        assert window["error"] is None and window["began"] and window["ended"], window
    # Every socket dropped with the server, every user joined again, and after that the rooms delivered to all.
    assert sum(kill["socket_closes"].values()) == 20, kill
    assert kill["reconnects"] == 20, kill
    assert kill["silent_members"] == 0 and kill["members_checked"] >= 10, kill
    assert kill["room_messages"]["lost"] == 0, kill
    assert kill["first_room_message_after_s"] is not None, kill
    # FLUSHALL kept every socket open and took every group membership (the app re-joins only every 60 s).
    assert flush["socket_closes"] == {} and flush["reconnects"] == 0, flush
    assert "FLUSHALL" in flush["began"]
    assert flush["silent_members"] == flush["members_checked"] == 20, flush
    assert flush["room_messages"]["lost"] > 0
    delivery = cell["delivery"]
    # What a user was away for is not owed to it; nothing arrived that nobody was owed.
    assert delivery["outside_expected"] == 0, delivery
    assert delivery["lost"] == sum(w["room_messages"]["lost"] for w in (kill, flush)), (delivery, kill, flush)
    assert any("SILENT after it: 20 of 20 members checked" in line for line in cell_warnings(cell, "c"))
    # Silent members fail the run, whatever its SLOs say.
    assert any("silent room members after fault flush redis" in s for s in breach_sentences(outcome.document))
    assert outcome.exit_code == 3
