"""harness capacity end to end: usage errors, a server of known capacity, and the reference app's stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from harness.capacity.document import read_capacity_document
from harness.cli import main
from harness.stack.network import free_port
from tests.locust.conftest import Serve


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scenario", "capacity-echo", "--dimension", "users"], "unknown; expected one of"),
        (["--scenario", "fanout", "--dimension", "rate"], "its dimensions: group_size"),
        (["--scenario", "capacity-echo", "--dimension", "rate"], "generic (any echo server)"),
        (
            ["--scenario", "capacity-echo", "--dimension", "rate", "--target", "ws://x/", "--server", "uvicorn"],
            "--server describe the stack",
        ),
        (
            ["--scenario", "capacity-echo", "--dimension", "rate", "--target", "ws://x/", "--slo", "loss<=0"],
            "no latency objective",
        ),
        (
            ["--scenario", "capacity-echo", "--dimension", "rate", "--target", "ws://x/", "--slo", "p95<1ms"],
            "statistic 'p95'",
        ),
        (["--scenario", "capacity-echo", "--dimension", "rate", "--target", "ws://x/", "--trials", "2"], "odd"),
        (
            ["--scenario", "capacity-echo", "--dimension", "rate", "--target", "ws://x/", "--precision", "0"],
            "--precision 0",
        ),
        (
            ["--scenario", "gate-chat", "--dimension", "connections", "--min", "1", "--slo", "p99<1s"],
            "--min 1: connections cannot go below 2 connections",
        ),
        (
            ["--scenario", "capacity-echo", "--dimension", "rate", "--target", "ws://x/", "--start", "5", "--max", "2"],
            "--start 5 is outside [0.2 msg/s, 2 msg/s]",
        ),
        (
            ["--scenario", "capacity-echo", "--dimension", "rate", "--target", "ws://x/", "--min", "5", "--max", "2"],
            "smallest load 5 msg/s is above the largest 2 msg/s",
        ),
        (["--scenario", "nope", "--dimension", "rate"], "no scenario"),
        (["--dimension", "rate"], "--scenario required (or --plan NAME for a bundled plan)"),
        (["--plan", "nope"], "--plan 'nope': unknown; expected one of terminals"),
        (["--plan", "terminals", "--dimension", "rate"], "--dimension not with --plan"),
        (["--plan", "terminals", "--max", "9"], "--max not with --plan"),
        (["--plan", "terminals", "--set", "load.users=3"], "--set not with --plan"),
        (
            ["--scenario", "capacity-echo", "--dimension", "rate", "--target", "ws://x/", "--set", "load.rate=fast"],
            "scenarios/capacity-echo.toml with --set load.rate=fast: [load].rate: expected a number > 0",
        ),
        (["--plan", "terminals", "--workers", "1,2"], "a plan runs on one stack; give one worker count"),
        (["--plan", "terminals", "--layer", "inmemory"], "part readers: --layer inmemory lives inside one server"),
        (
            ["--scenario", "timeclock-shift-change", "--dimension", "readers", "--target", "ws://x/"],
            "kind timeclock: its trials start the EKS emulator",
        ),
        (
            ["--scenario", "capacity-echo", "--dimension", "rate", "--target", "ws://x/", "--trial-s", "0.5"],
            "--trial-s 0.5: expected at least 1 (second)",
        ),
    ],
)
def test_bad_arguments_are_usage_errors_that_say_what_was_expected(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["capacity", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "expected"), [([], [0, 2]), (["--processes", "1"], [1, 1])])
def test_a_plan_part_runs_its_own_generator_processes_unless_processes_is_given(
    monkeypatch: pytest.MonkeyPatch, flags: list[str], expected: list[int]
) -> None:
    import harness.capacity.command as command

    ran: list[int] = []

    def searches(args: Any, jobs: list[tuple[Any, Any]], *, plan: Any = None) -> int:
        ran.extend(job.processes for job, _part in jobs)
        return 0

    monkeypatch.setattr(command, "_searches", searches)
    assert main(["capacity", "--plan", "terminals", "--layer", "redis", *flags]) == 0
    assert ran == expected  # readers (the emulator drives them), then sockets


def test_the_search_finds_a_known_capacity_within_ten_per_cent(serve: Serve, tmp_path: Path) -> None:
    # An echo that serves 200 messages per second, one at a time, in wall time (harness.testing.known_capacity).
    url = serve("known_capacity", env={"HARNESS_CAPACITY_MSGS": "200", "HARNESS_CAPACITY_MODE": "wall"}) + "/"
    code = main(
        [
            "capacity",
            "--scenario",
            "capacity-echo",
            "--dimension",
            "rate",
            "--target",
            url,
            "--start",
            "150",
            "--trials",
            "1",
            "--trial-s",
            "2",
            "--confirm-factor",
            "1.5",
            "--precision",
            "10",
            "--settle-s",
            "0.5",
            "--out",
            str(tmp_path),
        ]
    )
    doc = read_capacity_document(tmp_path)
    (search,) = doc["searches"]
    assert code == 0 and search["outcome"] == "found", search["sentence"]
    last_pass = search["bracket"]["last_pass"]
    assert 180 <= last_pass <= 220, search["sentence"]
    assert search["first_fail_checks"] and search["first_fail_checks"][0]["name"] == "slo p99<=50ms"
    assert search["settles"] >= 1 and search["restarts"] == 0
    confirmation = search["trials"][-1]
    assert confirmation["phase"] == "confirmation" and confirmation["duration_s"] == 3.0
    assert confirmation["figures"]["server_cpu_percent"] is None  # a target: its processes are not ours
    assert confirmation["figures"]["server_processes"] == []


def _small_search(tmp_path: Path, *argv: str) -> tuple[int, dict[str, Any]]:
    """A search of one trial per load and a confirmation as short as a trial; its exit code and search document."""
    code = main(["capacity", *argv, "--trials", "1", "--confirm-factor", "1", "--out", str(tmp_path)])
    (search,) = read_capacity_document(tmp_path)["searches"]
    return code, search


def test_the_reference_app_stack_is_restarted_before_every_trial_and_its_resources_reported(tmp_path: Path) -> None:
    code, search = _small_search(
        tmp_path,
        *("--scenario", "gate-chat", "--dimension", "rate", "--slo", "p99<500ms", "--slo", "loss<=0"),
        *("--start", "20", "--max", "20", "--trial-s", "2"),
    )
    assert code == 0 and search["outcome"] == "holds_at_maximum", search["sentence"]
    assert [t["load"] for t in search["trials"]] == [20, 20]
    assert search["restarts"] == 2 and search["plan"]["restart_before_trial"]
    assert search["plan"]["generator_processes"] == 0
    # The generator's lag limit follows the objectives: a tenth of p99<500ms.
    (health,) = {
        orjson.loads(path.read_bytes())["generator_health"]["thresholds"]["send_lag_p99_ms"]
        for path in tmp_path.glob("trials/*/*/locust/generator.json")
    }
    assert health == 50.0
    for trial in search["trials"]:
        figures = trial["figures"]
        assert figures["server_cpu_percent"] is not None and figures["server_cpu_percent"] > 0
        assert figures["server_rss_bytes"] > 10 * 2**20 and figures["lost"] == 0
        processes = figures["server_processes"]
        assert processes[0]["name"].startswith("uvicorn-0") and processes[0]["cpu_percent"] > 0
        assert [p["cpu_percent"] for p in processes] == sorted((p["cpu_percent"] for p in processes), reverse=True)
        assert figures["deliveries_per_s"] == pytest.approx(2 * figures["offered_per_s"], rel=0.1)  # rooms of 2
    restarts = (tmp_path / "stack" / "uvicorn.log").read_text().count("Application startup complete")
    assert restarts >= 3  # the first start and one per trial


def test_a_target_nobody_answers_stops_the_search_at_its_first_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"ws://127.0.0.1:{free_port()}/"
    argv = ["capacity", "--scenario", "capacity-echo", "--dimension", "rate", "--target", url, "--trial-s", "1"]
    assert main([*argv, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"not one of the 20 connections to {url} could be opened" in err
    assert err.count("[capacity] load ") == 1


def test_a_readers_search_plays_the_shift_change_on_a_fresh_stack_per_trial(tmp_path: Path) -> None:
    code, search = _small_search(
        tmp_path,
        *("--scenario", "timeclock-shift-change", "--dimension", "readers", "--slo", "p99<2s", "--slo", "loss<=0"),
        # 6 s trials, the confirmation as long: the send-rate predicate allows a lag of 1 % of the window, and a
        # 3 s window (30 ms) failed now and then when the suite's earlier tests had just stopped their stacks.
        *("--start", "3", "--max", "3", "--trial-s", "6", "--confirm-factor", "1"),
    )
    assert code == 0 and search["outcome"] == "holds_at_maximum", search["sentence"]
    assert [(t["load"], t["phase"]) for t in search["trials"]] == [(3, "growth"), (3, "confirmation")]
    assert search["restarts"] == 2 and search["bracket"]["unit"] == "readers"
    for trial in search["trials"]:
        figures = trial["figures"]
        # 4 badge events per reader in 6 s (the scenario's 40 per 60 s), each punch on its kiosk.
        assert figures["sent"] == figures["expected"] == 4 * trial["load"] and figures["lost"] == 0
        assert figures["metric"] == "response_time" and figures["p99_us"] > 0
        assert figures["server_cpu_percent"] is not None and figures["server_rss_bytes"] > 10 * 2**20
        assert figures["generator_cpu_total_percent"] >= figures["generator_cpu_percent"] > 0
        assert {c["name"] for c in trial["checks"]} == {
            "slo p99<=2000ms",
            "slo loss<=0",
            "send rate",
            "generator",
            "connections",
        }
    # Each trial's own stack, database and EKS processes.
    stacks = sorted(tmp_path.glob("trials/*/*/stack/db.sqlite3"))
    assert len(stacks) == 2
