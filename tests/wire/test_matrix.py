"""The reference app over real sockets, under Daphne and Uvicorn, with the in-memory, Redis and Redis pub/sub layers."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed

from harness.stack import Stack
from tests.conftest import TIMEOUT
from tests.wire.client import drain, handshake_status, http_post, open_socket, receive_type

pytestmark = pytest.mark.wire


def users(stack: Stack) -> list[dict]:
    return list(stack.credentials()["users"])


def service_token(stack: Stack) -> str:
    return str(stack.credentials()["service_tokens"][0]["token"])


def test_chat_fans_out_to_every_member_with_client_fields(stack: Stack) -> None:
    ann, bob = users(stack)[:2]
    with (
        open_socket(stack, "/ws/chat/room-0000/", user=ann) as a,
        open_socket(stack, "/ws/chat/room-0000/", user=bob) as b,
    ):
        assert receive_type(a, "welcome")["user"] == ann["username"]
        receive_type(b, "welcome")
        # Wait until Bob's join reached Ann: both are then members of the group.
        while receive_type(a, "presence")["user"] != bob["username"]:
            pass
        a.send(json.dumps({"type": "message", "text": "hello", "id": "x1", "seq": 1, "sent_at": 5.5}))
        for ws in (a, b):
            message = receive_type(ws, "message")
            assert (message["text"], message["user"], message["id"], message["seq"], message["sent_at"]) == (
                "hello",
                ann["username"],
                "x1",
                1,
                5.5,
            )


@pytest.mark.parametrize("path", ["/ws/chat/room-0000/", "/ws/notifications/"])
def test_anonymous_gets_http_403(stack: Stack, path: str) -> None:
    assert handshake_status(stack, path) == 403


@pytest.mark.parametrize(
    "origin",
    [None, "http://evil.example", "http://127.0.0.1.evil.example", "null"],
    ids=["missing", "foreign", "suffix", "null"],
)
def test_foreign_or_missing_origin_gets_http_403(stack: Stack, origin: str | None) -> None:
    ann = users(stack)[0]
    assert handshake_status(stack, "/ws/chat/room-0000/", user=ann, origin=origin) == 403
    assert handshake_status(stack, "/ws/chat/room-0000/", user=ann) == 101


def test_unknown_path_gets_http_403(stack: Stack) -> None:
    assert handshake_status(stack, "/ws/nowhere/", user=users(stack)[0]) == 403


def test_kiosk_needs_its_own_token(stack: Stack) -> None:
    first, second = stack.credentials()["terminals"]
    path = f"/ws/terminal/{first['id']}/"
    assert handshake_status(stack, path) == 403
    assert handshake_status(stack, f"{path}?token=wrong") == 403
    assert handshake_status(stack, f"{path}?token={second['token']}") == 403
    assert handshake_status(stack, path, headers={"X-Terminal-Token": first["token"]}) == 101
    assert handshake_status(stack, f"{path}?token={first['token']}") == 101


def test_notifications_never_cross_users(stack: Stack) -> None:
    ann, bob = users(stack)[:2]
    token = service_token(stack)
    tricks = f"/ws/notifications/?user={bob['id']}&group=notify.user.{bob['id']}"
    with open_socket(stack, tricks, user=ann) as a, open_socket(stack, "/ws/notifications/", user=bob) as b:
        receive_type(a, "backlog")
        receive_type(b, "backlog")
        a.send(json.dumps({"type": "ack", "ids": [1], "user": bob["id"]}))
        a.send(json.dumps({"type": "subscribe", "group": f"notify.user.{bob['id']}"}))
        status, _ = http_post(stack, "/api/notifications/", {"user": bob["id"], "title": "for bob"}, token)
        assert status == 201
        assert receive_type(b, "notification")["title"] == "for bob"
        assert [m for m in drain(a) if m["type"] == "notification"] == []
        status, _ = http_post(stack, "/api/notifications/", {"user": ann["username"], "title": "for ann"}, token)
        assert receive_type(a, "notification")["title"] == "for ann"
        assert [m for m in drain(b) if m["type"] == "notification"] == []


BAD_FRAMES = [
    ('{"type": "message", "text": ', "invalid_json"),
    ("[]", "not_an_object"),
    ('{"type": "shout"}', "unknown_type"),
    ('{"type": "message"}', "missing_field"),
    ('{"type": "message", "text": ""}', "invalid_field"),
    (b"\x00\xff binary", "binary_frame"),
]


def test_bad_input_gets_named_errors_and_others_are_still_served(stack: Stack) -> None:
    ann, bob = users(stack)[:2]
    room = "/ws/chat/room-0001/"
    with open_socket(stack, room, user=ann) as a, open_socket(stack, room, user=bob) as b:
        receive_type(a, "welcome")
        while receive_type(a, "presence")["user"] != bob["username"]:
            pass
        for frame, code in BAD_FRAMES:
            a.send(frame)
            assert receive_type(a, "error")["code"] == code
        b.send(json.dumps({"type": "message", "text": "bob still talks"}))
        assert receive_type(a, "message")["text"] == "bob still talks"
        assert receive_type(b, "message")["text"] == "bob still talks"
        # Oversized: an error, then close 4009; Bob keeps being served.
        a.send(json.dumps({"type": "message", "text": "x" * (70 * 1024)}))
        assert receive_type(a, "error")["code"] == "too_large"
        with pytest.raises(ConnectionClosed) as closed:
            a.recv(timeout=TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4009
        b.send(json.dumps({"type": "ping", "id": 1}))
        assert receive_type(b, "pong") == {"type": "pong", "id": 1}


def test_event_through_worker_reaches_the_kiosk_once(stack: Stack) -> None:
    creds = stack.credentials()
    terminal, employee = creds["terminals"][0], creds["employees"][0]
    token = service_token(stack)
    event = {
        "reader": terminal["id"],
        "key_serial": employee["key_serial"],
        "event_id": "wire-1",
        "inserted_at": 1.7e9,
    }
    with open_socket(stack, f"/ws/terminal/{terminal['id']}/?token={terminal['token']}") as kiosk:
        receive_type(kiosk, "welcome")
        assert http_post(stack, "/api/timeclock/events/", event, token)[0] == 202
        punch = receive_type(kiosk, "punch")
        assert (punch["event_id"], punch["direction"], punch["employee"]["number"]) == (
            "wire-1",
            "in",
            employee["number"],
        )
        assert http_post(stack, "/api/timeclock/events/", event, token)[0] == 202
        assert http_post(stack, "/api/timeclock/events/", {**event, "event_id": "wire-2"}, token)[0] == 202
        # The replay of wire-1 is dropped; wire-2 is the next punch, and it clocks out.
        nxt = receive_type(kiosk, "punch")
        assert (nxt["event_id"], nxt["direction"]) == ("wire-2", "out")
        assert [m for m in drain(kiosk) if m["type"] == "punch"] == []
