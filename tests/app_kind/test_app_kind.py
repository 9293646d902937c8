"""The ``app`` scenario kind: a user's own protocol described in a file, measured against an app we did not write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.results.format import receipt_sentences
from harness.scenario import ScenarioError, load_scenario, parse_scenario
from harness.scenario.app import AppProtocol
from harness.scenario.template import MESSAGE_PLACEHOLDERS, Template, TemplateError, json_template

CHAT = """\
name = "my-chat"
description = "A room chat that relays only its message field."
kind = "app"
duration_s = 1
warmup_s = 0.5
grace_s = 0.5
seed = 1
[load]
users = 12
room_size = 4
arrival = "poisson"
rate = 4
spawn_rate = 50
[app]
path = "/ws/chat/{room}/"
# The tests' 12 users connect within a quarter of a second: the warm-up covers it, no barrier needed.
settle = false
[app.send]
json = { message = "{token}" }
[app.fanout]
to = "room"
"""


def _doc(**changes: Any) -> dict[str, Any]:
    import tomllib

    doc = tomllib.loads(CHAT)
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        node = doc
        for parent in parents:
            node = node[parent]
        if value is None:
            del node[key]
        else:
            node[key] = value
    return doc


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"app": None}, "[app]: missing; kind app needs path and [app.send]"),
        ({"app__send": {"json": {"message": "hello"}}}, "[app.send]: no {token}"),
        ({"app__send": {"json": {"message": "{token} {when}"}}}, "json.message: {when} is not a placeholder here"),
        ({"app__path": "/ws/{env.HARNESS_TEST_UNSET}/{room}/"}, "[app]: the environment variable HARNESS_TEST_UNSET"),
        ({"app__path": "/ws/{seq}/"}, "[app].path: {seq} is not a placeholder here; expected {room}, {user}, {env"),
        ({"app__send": {"text": "{token}", "json": {"m": "{token}"}}}, "expected exactly one of json"),
        ({"app__send": {"text": '{"message": "{token}"}'}}, "[app.send].text: a lone '{' at character 0"),
        ({"app__path": "ws/chat/{room}/"}, "[app].path: expected a path starting with '/'"),
        ({"app__path": "/ws/{token}/"}, "[app].path: {token} is not a placeholder here; expected {room}, {user}"),
        ({"app__path": "/ws/lobby/"}, "[app.fanout].to: room needs {room} in [app].path"),
        ({"app__fanout": {"to": "everyone"}}, "[app.fanout].to: expected one of room, url, sender"),
        ({"app__origin": "127.0.0.1"}, "[app].origin: expected an origin such as http://127.0.0.1:8000"),
        ({"load__payload_bytes": 128}, "[load]: unknown key payload_bytes"),
        ({"app__extra": 1}, "[app]: unknown key extra"),
        ({"app__send__via": "http"}, '[app.send].http_path: via = "http" needs http_path'),
        ({"app__send__http_path": "/api/"}, '[app.send]: http_path, method and headers need via = "http"'),
        ({"app__send__via": "http", "app__send__http_path": "/x/", "app__send__method": "post"}, "an HTTP method"),
        ({"app__send__via": "pigeon"}, '[app.send].via: expected one of socket, http, got "pigeon"'),
        ({"app__send__headers": {"X": 1}}, "[app.send].headers.X: expected a string"),
        ({"app__auth": {"login_path": "/login/", "username": "u{who}", "password": "p"}}, "[app.auth].username: {who}"),
        ({"app__auth": {"login_path": "login/", "username": "u", "password": "p"}}, "[app.auth].login_path: expected"),
        ({"app__auth": {"login_path": "/l/", "username": "u"}}, "[app.auth]: needs username and password"),
        ({"app__auth": {"login_path": "/l/", "credentials": "/nonexistent.csv"}}, "cannot read /nonexistent.csv"),
        ({"app__ignore": [{"key": "type"}]}, "[app].ignore[0].equals: missing"),
        ({"app__settle": "yes"}, "[app].settle: expected true or false"),
        ({"app__adapter": "nowhere.at_all:Thing"}, "[app].adapter: nowhere.at_all:Thing: cannot import nowhere"),
        ({"app__adapter": "json"}, "[app].adapter: expected package.module:Class, got"),
        ({"app__adapter": "json:JSONDecoder"}, "expected a class with a message(token, seq) method"),
        ({"app__send": None}, "[app.send]: missing; give the message (json or text), or an adapter"),
        ({"app__steps": [{"timeout_s": 1}]}, "[[app.steps]][0]: a step sends something, expects something, or both"),
        ({"app__steps": [{"expect_key": "join"}]}, "[[app.steps]][0]: expect_key and expect_equals go together"),
        ({"app__steps": [{"text": "{token}"}]}, "[[app.steps]][0]: {token} is not a placeholder here"),
    ],
)
def test_a_bad_app_table_names_its_key_and_what_was_expected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(_doc(**changes), where="x.toml")
    assert message in str(caught.value)


def test_the_app_table_is_refused_elsewhere_and_room_size_and_spawn_rate_are_optional() -> None:
    echo = {"name": "e", "description": "e", "kind": "echo", "duration_s": 1, "seed": 1}
    echo |= {"load": {"users": 1, "rate": 1}, "app": _doc()["app"]}
    with pytest.raises(ScenarioError, match=r"\[app\]: only for kind app; kind is echo"):
        parse_scenario(echo)
    doc = _doc(load__room_size=None, load__spawn_rate=None, app__path="/ws/lobby/", app__fanout={"to": "url"})
    scenario = parse_scenario(doc)
    assert scenario.generic and scenario.load.room_size is None and scenario.load.spawn_rate == 50
    assert scenario.app == AppProtocol("/ws/lobby/", None, {"message": "{token}"}, None, "url", False, settle=False)


def test_a_json_message_is_serialized_once_and_its_values_escaped_for_json() -> None:
    template = json_template({"message": "said {token}", "who": "{user}", "n": 3, "tags": ["{{literal}}", "{room}"]})
    filled = template.fill({"user": 'u"1', "room": "r0"})
    text = filled.render({"token": "hx1_abc"})
    assert json.loads(text) == {"message": "said hx1_abc", "who": 'u"1', "n": 3, "tags": ["{literal}", "r0"]}
    assert filled.names == {"token"}
    with pytest.raises(TemplateError, match=r"json.tags\[0\]: \{x\} is not a placeholder"):
        json_template({"tags": ["{x}"]})
    assert Template.compile("a {{b}} {token}", MESSAGE_PLACEHOLDERS).render({"token": "T"}) == "a {b} T"


def _run(tmp_path: Path, target: str, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "app.toml"
    path.write_text(text)
    load_scenario(path)
    code = main(["run", "--scenario", str(path), "--target", target, "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0, out
    (cell,) = json.loads((tmp_path / "run" / "result.json").read_text())["cells"]
    return cell, out


@pytest.mark.wire
def test_a_room_chat_that_relays_only_its_message_field_is_counted_and_timed_per_recipient(
    tmp_path: Path, relay_app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cell, out = _run(tmp_path, relay_app, CHAT, capsys)
    sends = cell["metrics"]["round_trip"]["count"]
    delivery = cell["delivery"]
    # Every message reaches the 4 members of its room, the sender included; nothing is lost or unexpected.
    assert sends > 20 and delivery["expected"] == delivery["received"] == 4 * sends
    assert (delivery["lost"], delivery["duplicated"], delivery["outside_expected"]) == (0, 0, 0)
    assert cell["metrics"]["fanout"]["count"] == 3 * sends
    assert cell["metrics"]["response_time"]["count"] == 4 * sends
    # The welcome frames are the app's own: counted as other, not lost.
    assert cell["foreign_messages"] == {"no_token": 12}
    assert "12 frames carried no token of this run" in out


@pytest.mark.wire
def test_a_token_the_app_does_not_relay_is_named_as_the_reason_nothing_was_counted(
    tmp_path: Path, relay_app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The chat relays only `message`: a token in `text` never comes back.
    cell, out = _run(tmp_path, relay_app, CHAT.replace("json = { message", "json = { text"), capsys)
    assert cell["delivery"]["received"] == 0 and cell["delivery"]["lost"] == cell["delivery"]["expected"] > 0
    assert "none carried a token of this run" in out and "Put {token} in [app.send]" in out


@pytest.mark.wire
def test_a_fanout_narrower_than_the_app_s_is_reported_not_hidden(
    tmp_path: Path, relay_app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cell, out = _run(tmp_path, relay_app, CHAT.replace('to = "room"', 'to = "sender"'), capsys)
    sends = cell["metrics"]["round_trip"]["count"]
    assert cell["delivery"]["expected"] == sends and cell["delivery"]["outside_expected"] == 3 * sends
    assert f"{3 * sends:,} messages reached users the scenario did not expect them at" in out
    assert any("[app.fanout].to = sender" in s for s in receipt_sentences(cell))


@pytest.mark.wire
def test_an_app_that_resends_its_whole_state_needs_first_seen(
    tmp_path: Path, relay_app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    board = CHAT.replace("/ws/chat/{room}/", "/ws/board/{room}/").replace("json = { message", "json = { text")
    board = board.replace("room_size = 4", "room_size = 3")
    first_seen, _ = _run(tmp_path / "a", relay_app, board + "first_seen = true\n", capsys)
    repeated, _ = _run(tmp_path / "b", relay_app, board, capsys)
    for cell in (first_seen, repeated):
        assert cell["delivery"]["lost"] == 0 and cell["delivery"]["expected"] > 0
    assert first_seen["delivery"]["duplicated"] == 0
    # Each state holds up to the room's last 20 messages, so without first_seen each comes back many times.
    assert repeated["delivery"]["duplicated"] > repeated["delivery"]["expected"]


@pytest.mark.wire
def test_an_app_that_skips_the_sender_needs_include_sender_false(
    tmp_path: Path, relay_app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    others = CHAT.replace("/ws/chat/{room}/", "/ws/others/{room}/")
    skipped, _ = _run(tmp_path / "a", relay_app, others + "include_sender = false\n", capsys)
    sends = skipped["metrics"]["fanout"]["count"] // 3
    assert skipped["delivery"]["expected"] == skipped["delivery"]["received"] == 3 * sends > 0
    assert skipped["delivery"]["lost"] == 0 and "round_trip" not in skipped["metrics"]
    # With the default, every sender's own copy is owed and never comes.
    owed, _ = _run(tmp_path / "b", relay_app, others, capsys)
    sent = owed["metrics"]["fanout"]["count"] // 3
    assert owed["delivery"]["lost"] == sent and owed["delivery"]["expected"] == 4 * sent


@pytest.mark.wire
def test_a_request_reply_app_answers_each_sender_with_its_request_id(
    tmp_path: Path, relay_app: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_TEST_ACTION", "echo")
    api = CHAT.replace("/ws/chat/{room}/", "/ws/api/").replace('to = "room"', 'to = "sender"')
    send = 'json = { action = "{env.HARNESS_TEST_ACTION}", request_id = "{token}", '
    send += 'data = { n = "{seq}", at = "{sent_at}", id = "{uuid}" } }'
    api = api.replace('json = { message = "{token}" }', send)
    cell, _ = _run(tmp_path, relay_app, api, capsys)
    sends = cell["metrics"]["round_trip"]["count"]
    assert sends > 20 and cell["delivery"]["expected"] == cell["delivery"]["received"] == sends
    assert cell["delivery"]["lost"] == 0 and cell["foreign_messages"] == {}
    assert "fanout" not in cell["metrics"]


PUSH = CHAT.replace(
    'json = { message = "{token}" }',
    'via = "http"\nhttp_path = "/api/rooms/{room}/messages/"\n'
    'headers = { Authorization = "Bearer {env.RELAY_TOKEN}" }\njson = { text = "{token}" }',
)


@pytest.mark.wire
def test_an_http_publish_pushed_to_the_room_s_sockets_is_timed_per_recipient_and_a_refusal_named(
    tmp_path: Path, relay_app: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_TOKEN", "relay-secret")
    cell, _ = _run(tmp_path / "a", relay_app, PUSH, capsys)
    sends = cell["metrics"]["publish"]["count"]
    assert sends > 20 and cell["delivery"]["expected"] == cell["delivery"]["received"] == 4 * sends
    assert cell["delivery"]["lost"] == 0 and cell["generator_health"]["request_failures"] == []
    monkeypatch.setenv("RELAY_TOKEN", "wrong")
    refused, out = _run(tmp_path / "b", relay_app, PUSH, capsys)
    (failure,) = refused["generator_health"]["request_failures"]
    assert "POST /api/rooms/{room}/messages/ answered HTTP 401" in failure["message"]
    assert refused["delivery"]["lost"] == refused["delivery"]["expected"] == 4 * failure["count"]
    assert f"{failure['count']:,} requests of the users failed" in out


AUTH = CHAT.replace("/ws/chat/{room}/", "/ws/room/{room}/").replace(
    "[app.send]",
    '[app.auth]\nlogin_path = "/accounts/login/"\nusername = "user{n}"\npassword = "{env.CHAT_PASSWORD}"\n\n[app.send]',
)


@pytest.mark.wire
def test_users_log_in_as_django_apps_want_and_a_failed_login_stops_them_with_the_reason(
    tmp_path: Path, auth_app: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_PASSWORD", "pw-secret")
    cell, _ = _run(tmp_path / "a", auth_app, AUTH, capsys)
    sends = cell["metrics"]["round_trip"]["count"]
    assert sends > 20 and cell["delivery"]["expected"] == cell["delivery"]["received"] == 4 * sends
    assert cell["connect_failures"]["handshake_error"] == 0 and cell["generator_health"]["user_errors"] == []
    monkeypatch.setenv("CHAT_PASSWORD", "wrong")
    path = tmp_path / "b.toml"
    path.write_text(AUTH)
    assert main(["run", "--scenario", str(path), "--target", auth_app, "--out", str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    assert "the generator's users raised 12 exceptions and stopped" in out
    assert "POST /accounts/login/ answered HTTP 200 without a sessionid cookie (wrong credentials" in out


@pytest.mark.wire
def test_frames_an_ignore_rule_matches_are_left_out_and_do_not_hold_the_settle_barrier(
    tmp_path: Path, relay_app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    beat = (
        CHAT.replace("/ws/chat/{room}/", "/ws/beat/{room}/")
        .replace("settle = false", "settle = true")
        .replace("[app.send]", '[[app.ignore]]\nkey = "type"\nequals = "heartbeat"\n\n[app.send]')
    )
    cell, out = _run(tmp_path, relay_app, beat, capsys)
    assert cell["parameters"]["settled"] is True and cell["delivery"]["lost"] == 0
    assert cell["foreign_messages"]["ignored"] > 12 * 5 and cell["foreign_messages"]["no_token"] == 12
    assert "frames matched [app].ignore and were left out" in out


def test_a_barrier_that_never_settled_is_said() -> None:
    from harness.results.format import cell_warnings

    cell = {"parameters": {"kind": "app", "settled": False}}
    (warning,) = cell_warnings(cell, "x")
    assert "did not go quiet for a second within 120 s" in warning and "[app].ignore" in warning


API_INT = (
    CHAT.replace("/ws/chat/{room}/", "/ws/api/")
    .replace('to = "room"', 'to = "sender"')
    .replace('[app.send]\njson = { message = "{token}" }\n', "")
    .replace('path = "/ws/api/"', 'path = "/ws/api/"\nadapter = "tests.app_kind.adapters:IntRequestIds"')
)


@pytest.mark.wire
def test_an_adapter_correlates_replies_by_an_integer_request_id(
    tmp_path: Path, relay_app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cell, _ = _run(tmp_path, relay_app, API_INT, capsys)
    sends = cell["metrics"]["round_trip"]["count"]
    assert sends > 20 and cell["delivery"]["expected"] == cell["delivery"]["received"] == sends
    assert cell["delivery"]["lost"] == 0 and cell["generator_health"]["user_errors"] == []


def test_an_adapter_next_to_the_scenario_file_is_found(tmp_path: Path) -> None:
    (tmp_path / "my_adapter_next_to_it.py").write_text(
        "class Mine:\n    def __init__(self, *, user, room, n): pass\n    def message(self, token, seq): return token\n"
    )
    path = tmp_path / "app.toml"
    path.write_text(API_INT.replace("tests.app_kind.adapters:IntRequestIds", "my_adapter_next_to_it:Mine"))
    scenario = load_scenario(path)
    assert scenario.app is not None and scenario.app.adapter_paths[0] == str(tmp_path)
    assert scenario.app.adapter_class()(user="u0", room="r0", n=0).message("T", 0) == "T"


@pytest.mark.wire
def test_per_user_credentials_come_from_a_file_next_to_the_scenario(
    tmp_path: Path, auth_app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "users.csv").write_text("account,secret\nuser3,pw-secret\nuser7,pw-secret\n")
    with_file = AUTH.replace(
        'username = "user{n}"\npassword = "{env.CHAT_PASSWORD}"',
        'credentials = "users.csv"\nusername = "{account}"\npassword = "{secret}"',
    )
    cell, _ = _run(tmp_path, auth_app, with_file, capsys)
    assert cell["delivery"]["lost"] == 0 and cell["delivery"]["received"] > 0
    assert cell["generator_health"]["user_errors"] == []
    bad = with_file.replace('username = "{account}"', 'username = "{login}"')
    (tmp_path / "bad.toml").write_text(bad)
    with pytest.raises(ScenarioError, match=r"\[app.auth\].username: \{login\} is not a placeholder.*\{account\}"):
        load_scenario(tmp_path / "bad.toml")


MULTI = (
    CHAT.replace("/ws/chat/{room}/", "/ws/multi/")
    .replace('json = { message = "{token}" }', 'json = { command = "send", room = "{room}", message = "{token}" }')
    .replace(
        "[app.send]",
        '[[app.steps]]\njson = { command = "join", room = "{room}" }\nexpect_key = "join"\nexpect_equals = "{room}"\n\n'
        "[app.send]",
    )
)


@pytest.mark.wire
def test_rooms_joined_by_a_step_before_sending_as_multichat_does(
    tmp_path: Path, relay_app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cell, _ = _run(tmp_path / "a", relay_app, MULTI, capsys)
    sends = cell["metrics"]["round_trip"]["count"]
    assert sends > 20 and cell["delivery"]["expected"] == cell["delivery"]["received"] == 4 * sends
    assert cell["delivery"]["lost"] == 0 and cell["generator_health"]["user_errors"] == []
    # A step whose reply never comes stops every user, with the reason.
    never = MULTI.replace('expect_equals = "{room}"', 'expect_equals = "elsewhere"\ntimeout_s = 0.5')
    path = tmp_path / "never.toml"
    path.write_text(never)
    assert main(["run", "--scenario", str(path), "--target", relay_app, "--out", str(tmp_path / "b")]) == 1
    assert "step 1: no reply matched within 0.5 s (2 other frames came)" in capsys.readouterr().out


NOTES = (
    CHAT.replace("/ws/chat/{room}/", "/ws/notes/{room}/")
    .replace('json = { message = "{token}" }', 'json = { text = "{token}" }')
    .replace("[app.fanout]", '[app.correlate]\nreply_id = "id"\npush_id = "note_id"\n\n[app.fanout]')
)


@pytest.mark.wire
def test_pushes_that_carry_only_the_server_s_id_are_matched_even_before_the_sender_learns_it(
    tmp_path: Path, relay_app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cell, _ = _run(tmp_path / "a", relay_app, NOTES, capsys)
    sends = cell["metrics"]["round_trip"]["count"]
    assert sends > 20 and cell["delivery"]["expected"] == cell["delivery"]["received"] == 4 * sends
    assert cell["delivery"]["lost"] == 0 and "unmatched_id" not in cell["foreign_messages"]
    # Without [app.correlate] the pushes are only frames without a token: the others' deliveries are lost.
    plain, _ = _run(
        tmp_path / "b", relay_app, NOTES.replace('[app.correlate]\nreply_id = "id"\npush_id = "note_id"\n', ""), capsys
    )
    assert plain["delivery"]["lost"] == 3 * plain["metrics"]["round_trip"]["count"]


@pytest.mark.wire
def test_a_token_in_an_upgrade_header_and_a_subprotocol_are_sent(
    tmp_path: Path, relay_app: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_KEY", "relay-key")
    keyed = CHAT.replace('path = "/ws/chat/{room}/"', 'path = "/ws/keyed/{room}/"\nsubprotocols = ["relay.v1"]')
    keyed = keyed.replace("[app.send]", '[app.headers]\nX-Api-Key = "{env.RELAY_KEY}"\n\n[app.send]')
    cell, _ = _run(tmp_path / "a", relay_app, keyed, capsys)
    assert cell["delivery"]["lost"] == 0 and cell["delivery"]["received"] > 0
    assert sum(cell["connect_failures"].values()) == 0
    monkeypatch.setenv("RELAY_KEY", "wrong")
    refused, out = _run(tmp_path / "b", relay_app, keyed, capsys)
    assert refused["delivery"]["received"] == 0 and sum(refused["connect_failures"].values()) == 12


@pytest.mark.wire
def test_an_adapter_s_group_says_who_receives(
    tmp_path: Path, relay_app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lobby = (
        CHAT.replace(
            'path = "/ws/chat/{room}/"', 'path = "/ws/chat/lobby/"\nadapter = "tests.app_kind.adapters:EveryoneInLobby"'
        )
        .replace('[app.send]\njson = { message = "{token}" }\n', "")
        # The file says only the sender; the adapter's group says everyone in the lobby, and wins.
        .replace('to = "room"', 'to = "sender"')
    )
    cell, _ = _run(tmp_path, relay_app, lobby, capsys)
    sends = cell["metrics"]["round_trip"]["count"]
    assert sends > 20 and cell["delivery"]["expected"] == cell["delivery"]["received"] == 12 * sends
    assert cell["delivery"]["lost"] == cell["delivery"]["outside_expected"] == 0


def test_the_capacity_search_grows_an_app_s_rate_and_connections() -> None:
    from harness.capacity.dimensions import dimension_for
    from harness.capacity.runner import scenario_at

    scenario = parse_scenario(_doc())
    rate = dimension_for("rate", scenario)
    assert rate.value_of(scenario) == 48 and scenario_at(scenario, rate, 96, duration_s=2).load.rate == 8
    connections = dimension_for("connections", scenario)
    assert scenario_at(scenario, connections, 40, duration_s=2).load.users == 40
