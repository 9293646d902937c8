"""Command-line overrides of scenario keys (``--set``, ``--duration``, ``--users``, ``--rate``, ``--seed``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.scenario import SCENARIO_DIR, ScenarioError, load_any, load_named
from harness.scenario.overrides import apply_overrides, parse_override
from tests.conftest import serve_asgi


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("load.room_size=50", ("load", "room_size"), 50),
        ("load.rate=0.5", ("load", "rate"), 0.5),
        ("generic=true", ("generic",), True),
        ('matrix.servers=["uvicorn"]', ("matrix", "servers"), ["uvicorn"]),
        ("slos.1.limit_ms=100", ("slos", 1, "limit_ms"), 100),
        ("description=my own run", ("description",), "my own run"),
        ('description="quoted = fine"', ("description",), "quoted = fine"),
    ],
)
def test_a_value_is_read_as_toml_or_else_as_a_bare_string(text: str, path: tuple[object, ...], value: object) -> None:
    override = parse_override(text)
    assert (override.path, override.value, override.given) == (path, value, f"--set {text}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("load.room_size", "expected KEY=VALUE"),
        ("=50", "expected KEY=VALUE"),
        ("load..room_size=5", 'got the part ""'),
        ("load.room size=5", 'got the part "room size"'),
        ("0.rate=5", "must start with a name"),
        ("load.rate=", "no value after '='"),
        ("matrix.servers=[uvicorn]", "strings inside arrays and tables need quotes"),
        ("load.rate=1.2.3", "is not a TOML value"),
    ],
)
def test_a_malformed_override_names_itself_and_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match="^--set ") as caught:
        parse_override(text)
    assert message in str(caught.value) and text.split("=")[0] in str(caught.value)


def test_overrides_apply_in_order_to_a_copy_and_refuse_paths_through_values() -> None:
    data = {"load": {"users": 10}, "slos": [{"limit_ms": 250}]}
    out = apply_overrides(
        data,
        [parse_override("load.users=20"), parse_override("load.users=30"), parse_override("slos.0.limit_ms=9")],
    )
    assert out == {"load": {"users": 30}, "slos": [{"limit_ms": 9}]}
    assert data == {"load": {"users": 10}, "slos": [{"limit_ms": 250}]}
    assert apply_overrides(data, [parse_override("gate.trial_s=3")])["gate"] == {"trial_s": 3}
    for text, message in (
        ("load.users.x=1", "load.users is 10, not a table"),
        ("slos.1.limit_ms=1", "slos has 1 entries (indexes 0 to 0); there is no 1"),
        ("load.0=1", "load is"),
    ):
        with pytest.raises(ScenarioError, match="^--set ") as caught:
            apply_overrides(data, [parse_override(text)])
        assert message in str(caught.value)


def test_an_overridden_scenario_is_validated_like_the_file_and_records_its_overrides() -> None:
    file = load_named("chat-rooms")
    changed = load_any("chat-rooms", (parse_override("load.room_size=50"), parse_override("duration_s=7")))
    assert (changed.load.room_size, changed.duration_s) == (50, 7)
    assert (file.load.room_size, file.duration_s) != (50, 7)
    assert changed.overrides == ("load.room_size=50", "duration_s=7")
    assert list(changed.to_dict()["overrides"]) == ["load.room_size=50", "duration_s=7"]
    assert file.overrides == () and changed.source == file.source
    with pytest.raises(ScenarioError) as caught:
        load_any("chat-rooms", (parse_override("load.rate=fast"),))
    assert str(caught.value) == (
        'scenarios/chat-rooms.toml with --set load.rate=fast: [load].rate: expected a number > 0, got "fast"'
    )
    with pytest.raises(ScenarioError, match=r"with --set load\.room_size=5000: .*room_size"):
        load_any("chat-rooms", (parse_override("load.room_size=5000"),))
    with pytest.raises(ScenarioError, match=r"with --set foo\.bar=1: \(top level\): unknown key foo"):
        load_any("chat-rooms", (parse_override("foo.bar=1"),))


def test_a_broken_file_is_reported_as_the_file_s_even_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text((SCENARIO_DIR / "echo.toml").read_text().replace("seed = ", "sed = "))
    with pytest.raises(ScenarioError) as caught:
        load_any(str(path), (parse_override("load.users=3"),))
    assert str(caught.value).startswith(f"{path}: (top level): unknown key sed")


@pytest.mark.wire
def test_run_takes_the_shorthands_and_set_records_them_and_refuses_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--scenario", "echo", "--target", "ws://127.0.0.1:9/", "--set", "load.rate=fast"]) == 2
    assert 'scenarios/echo.toml with --set load.rate=fast: [load].rate: expected a number > 0, got "fast"' in (
        capsys.readouterr().err
    )
    assert main(["run", "--scenario", "echo", "--target", "ws://127.0.0.1:9/", "--users", "many"]) == 2
    assert "with --users many: [load].users: expected an integer >= 1" in capsys.readouterr().err

    with serve_asgi("harness.testing.echo:app", tmp_path) as url:
        argv = ["run", "--scenario", "echo", "--target", f"{url}/", "--out", str(tmp_path / "run")]
        argv += ["--duration", "2", "--users", "3", "--rate", "4", "--seed", "7"]
        argv += ["--set", "warmup_s=1", "--set", "grace_s=1", "--set", "load.spawn_rate=10"]
        argv += ["--set", "slos.2.min_msgs_per_s=5"]
        code = main(argv)
    assert code == 0, capsys.readouterr()
    doc = json.loads((tmp_path / "run" / "result.json").read_text())
    scenario = doc["config"]["scenario"]
    assert scenario["overrides"] == [
        "duration_s=2",
        "load.users=3",
        "load.rate=4",
        "seed=7",
        "warmup_s=1",
        "grace_s=1",
        "load.spawn_rate=10",
        "slos.2.min_msgs_per_s=5",
    ]
    assert (scenario["duration_s"], scenario["load"]["users"], scenario["load"]["rate"], scenario["seed"]) == (
        2,
        3,
        4,
        7,
    )
    (cell,) = doc["cells"]
    # 3 users sending 4 messages a second each for 2 s: about 24 sends, every one echoed.
    assert 12 <= cell["metrics"]["round_trip"]["count"] <= 40 and cell["delivery"]["lost"] == 0
    assert "scenario file changed on the command line: duration_s=2, load.users=3" in (
        (tmp_path / "run" / "report.html").read_text()
    )
    assert "scenario echo (scenarios/echo.toml) with duration_s=2" in capsys.readouterr().out
