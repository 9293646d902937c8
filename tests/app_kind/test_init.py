"""``harness init``: the fan-out inferred from what an app does, and a file that runs."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.init.infer import infer, token_fields
from harness.init.observe import Frame, Observation, Sent, SocketLog
from harness.init.writer import scenario_text, toml_value
from harness.load.envelope import Envelope
from harness.load.token import encode_token

RUN = "init-test"


def _observation(received: dict[str, list[int]], *, repeats: int = 1, error: str | None = None) -> Observation:
    """Sockets A, B (senders of messages 0 and 1) and C; ``received[name]``: the messages that socket got."""
    sent = [Sent(name, f"u{i}", i, encode_token(Envelope(RUN, f"u{i}", i, 1, 2)), "") for i, name in enumerate("AB")]
    logs = []
    for name in "ABC":
        log = SocketLog(name, f"ws://h/{name}", error=error if name == "C" else None)
        log.frames.append(Frame('{"type": "welcome"}', -1))
        for seq in received.get(name, []):
            for _ in range(repeats):
                log.frames.append(Frame(json.dumps({"type": "chat", "message": f"<b>{sent[seq].token}</b>"}), seq))
        logs.append(log)
    return Observation(RUN, logs, sent)


@pytest.mark.parametrize(
    ("received", "other_room", "expected"),
    [
        ({"A": [0, 1], "B": [0, 1], "C": [0, 1]}, None, ("url", True, False)),
        ({"A": [0, 1], "B": [0, 1]}, "C", ("room", True, False)),
        ({"A": [1], "B": [0]}, "C", ("room", False, False)),
        ({"A": [0], "B": [1]}, "C", ("sender", True, False)),
    ],
)
def test_the_fanout_is_who_received_the_tokens(
    received: dict[str, list[int]], other_room: str | None, expected: tuple[str, bool, bool]
) -> None:
    inference = infer(_observation(received), other_room=other_room)
    assert (inference.fanout_to, inference.include_sender, inference.first_seen) == expected
    assert inference.fields == ["$.message"]
    assert "socket C: 1 frame without a token" in inference.evidence


def test_repeats_mean_first_seen_and_a_room_that_leaks_is_named() -> None:
    repeated = infer(_observation({"A": [0, 1], "B": [0, 1], "C": [0, 1]}, repeats=3))
    assert repeated.first_seen and "socket A: message 1 (sent by A) received 3 times" in repeated.evidence
    leaky = infer(_observation({"A": [0, 1], "B": [0, 1], "C": [0, 1]}), other_room="C")
    assert leaky.fanout_to == "url" and "the room in the path does not separate messages" in leaky.problems[0]


def test_nothing_is_inferred_from_no_tokens_or_a_socket_that_did_not_open() -> None:
    silent = infer(_observation({}))
    assert silent.fanout_to is None and "no socket received a token" in silent.problems[0]
    assert '\'{"type": "welcome"}\'' in silent.problems[0]
    refused = infer(_observation({"A": [0]}, error="the server refused the WebSocket handshake with HTTP 403"))
    assert refused.fanout_to is None and refused.problems == [
        "socket C (ws://h/C): the server refused the WebSocket handshake with HTTP 403"
    ]


def test_token_fields_are_json_paths_and_toml_values_round_trip() -> None:
    frame = json.dumps({"state": [{"html": "<li>HX1_ABC</li>"}, {"x": 1}], "m": "hx1_abc"})
    assert token_fields(frame, "hx1_abc") == ["$.state[0].html", "$.m"]
    assert token_fields("plain hx1_abc", "hx1_abc") == ["$ (a text frame, not JSON)"]
    value = {"message": "{token}", "n": 1, "ok": True, "tags": ["a", "b c"], "odd key": "é\x7f"}
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value
    with pytest.raises(ValueError, match="TOML has no value for None"):
        toml_value(None)


def test_a_json_message_with_null_is_written_as_text_and_still_loads() -> None:
    inference = infer(_observation({"A": [0, 1], "B": [0, 1], "C": [0, 1]}))
    text, scenario = scenario_text(
        name="x",
        target="ws://h/ws/x/",
        path="/ws/x/",
        origin=None,
        send_json={"message": "{token}", "reply_to": None, "brace": "{{"},
        send_text=None,
        inference=inference,
        rooms=False,
    )
    assert scenario.app is not None and scenario.app.send_text is not None
    rendered = scenario.app.message_template().render({"token": "T", "user": "u0", "room": "r0"})
    assert json.loads(rendered) == {"message": "T", "reply_to": None, "brace": "{{"}
    assert "# Written by harness init" in text


def _run_written(path: Path, target: str, out: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The file ``harness init`` wrote, run for a second at 4 messages a second per user; its one cell."""
    run = ["run", "--scenario", str(path), "--target", target, "--duration", "1", "--rate", "4", "--out", str(out)]
    for setting in ("warmup_s=0.5", "grace_s=0.5", "load.spawn_rate=50", "app.settle=false"):
        run += ["--set", setting]
    assert main(run) == 0, capsys.readouterr()
    (cell,) = json.loads((out / "result.json").read_text())["cells"]
    return dict(cell)


@pytest.mark.wire
def test_init_writes_files_that_run_for_a_room_chat_and_a_state_board(
    tmp_path: Path, relay_app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        ("chat", "/ws/chat/lobby/", '{"message": "{token}"}', ["--room", "lobby"], ("room", True, False)),
        ("board", "/ws/board/b1/", '{"text": "said {token}"}', [], ("url", True, True)),
    ]
    for name, path, send, extra, (to, include_sender, first_seen) in cases:
        out = tmp_path / f"{name}.toml"
        argv = ["init", "--target", relay_app + path, "--send", send, "--out", str(out), *extra]
        assert main(argv) == 0, capsys.readouterr()
        fanout = tomllib.loads(out.read_text())["app"]["fanout"]
        assert (fanout["to"], fanout["include_sender"], fanout["first_seen"]) == (to, include_sender, first_seen)
        cell = _run_written(out, relay_app, tmp_path / f"run-{name}", capsys)
        assert cell["delivery"]["lost"] == 0 and cell["delivery"]["received"] > 0, name
        assert cell["delivery"]["duplicated"] == cell["delivery"]["outside_expected"] == 0, name
    # A field the app drops: nothing is inferred and nothing is written.
    bad = tmp_path / "bad.toml"
    assert (
        main(["init", "--target", relay_app + "/ws/chat/x/", "--send", '{"text": "{token}"}', "--out", str(bad)]) == 1
    )
    assert "no socket received a token" in capsys.readouterr().err and not bad.exists()
    assert main(["init", "--target", relay_app + "/ws/chat/x/", "--send", "no token"]) == 2
    assert "--send has no {token}" in capsys.readouterr().err


@pytest.mark.wire
def test_init_logs_in_first_and_writes_the_login_without_the_password(
    tmp_path: Path, auth_app: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_PASSWORD", "pw-secret")
    out = tmp_path / "auth.toml"
    argv = ["init", "--target", auth_app + "/ws/room/lobby/", "--send", '{"message": "{token}"}', "--room", "lobby"]
    argv += ["--login", "/accounts/login/", "--username", "user1", "--password-env", "CHAT_PASSWORD"]
    assert main([*argv, "--out", str(out)]) == 0, capsys.readouterr()
    text = out.read_text()
    assert "pw-secret" not in text and 'password = "{env.CHAT_PASSWORD}"' in text
    assert tomllib.loads(text)["app"]["auth"] == {
        "login_path": "/accounts/login/",
        "username": "user1",
        "password": "{env.CHAT_PASSWORD}",
    }
    cell = _run_written(out, auth_app, tmp_path / "r", capsys)
    assert cell["delivery"]["lost"] == 0 and cell["delivery"]["received"] > 0
    # Without the login the sockets are refused, and init says so instead of writing a file.
    monkeypatch.setenv("CHAT_PASSWORD", "wrong")
    assert main([*argv, "--out", str(tmp_path / "no.toml")]) == 1
    assert "the login failed, nothing written" in capsys.readouterr().err
