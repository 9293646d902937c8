from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from reference_app.chat.models import Room
from tests.app.conftest import drain, receive_type
from tests.conftest import TIMEOUT

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def room() -> Room:
    return await sync_to_async(Room.objects.create)(slug="lobby", title="Lobby")


async def test_anonymous_is_refused_before_accept(connect, room) -> None:
    await connect("/ws/chat/lobby/", expect=False)


async def test_unknown_room_is_closed_with_4404(connect, make_user) -> None:
    ann = await make_user("ann")
    socket = await connect("/ws/chat/nowhere/", ann)
    error = await socket.receive_json_from(timeout=TIMEOUT)
    assert error["code"] == "unknown_room"
    assert (await socket.receive_output(timeout=TIMEOUT)) == {"type": "websocket.close", "code": 4404}


async def test_message_reaches_every_member_with_client_fields_untouched(connect, make_user, room) -> None:
    ann, bob = await make_user("ann"), await make_user("bob")
    a = await connect("/ws/chat/lobby/", ann)
    welcome = await a.receive_json_from(timeout=TIMEOUT)
    assert welcome["type"] == "welcome" and welcome["room"] == "lobby" and welcome["user"] == "ann"
    b = await connect("/ws/chat/lobby/", bob)
    # Ann sees her own join, then Bob's.
    assert [(p["user"], p["event"]) for p in [await receive_type(a, "presence") for _ in range(2)]] == [
        ("ann", "join"),
        ("bob", "join"),
    ]
    client = {"run": "r1", "nested": [1, 2.5, None, {"x": "y"}]}
    await a.send_json_to({"type": "message", "text": "hi", "id": "m-1", "seq": 7, "sent_at": 123.456, "client": client})
    for socket in (a, b):
        message = await receive_type(socket, "message")
        assert message["text"] == "hi" and message["user"] == "ann" and message["room"] == "lobby"
        assert (message["id"], message["seq"], message["sent_at"], message["client"]) == (
            "m-1",
            7,
            123.456,
            client,
        )


async def test_rooms_are_isolated(connect, make_user, room) -> None:
    await sync_to_async(Room.objects.create)(slug="other", title="Other")
    ann, bob = await make_user("ann"), await make_user("bob")
    a = await connect("/ws/chat/lobby/", ann)
    b = await connect("/ws/chat/other/", bob)
    await a.receive_json_from(timeout=TIMEOUT)
    await b.receive_json_from(timeout=TIMEOUT)
    await a.send_json_to({"type": "message", "text": "only lobby"})
    await receive_type(a, "message")
    assert [m["type"] for m in await drain(b)] == ["presence"]  # Bob's own join, nothing from the lobby


async def test_leave_is_announced(connect, make_user, room) -> None:
    ann, bob = await make_user("ann"), await make_user("bob")
    a = await connect("/ws/chat/lobby/", ann)
    b = await connect("/ws/chat/lobby/", bob)
    await b.disconnect()
    seen = []
    while not seen or seen[-1] != ("bob", "leave"):
        message = await a.receive_json_from(timeout=TIMEOUT)
        if message["type"] == "presence":
            seen.append((message["user"], message["event"]))
    assert ("bob", "join") in seen


@pytest.mark.parametrize(
    ("frame", "code", "field"),
    [
        ('{"type": "message", "text": ', "invalid_json", None),
        ("[1, 2]", "not_an_object", None),
        ('{"text": "no type"}', "missing_field", "type"),
        ('{"type": 5}', "invalid_field", "type"),
        ('{"type": "shout", "text": "x"}', "unknown_type", "type"),
        ('{"type": "message"}', "missing_field", "text"),
        ('{"type": "message", "text": 3}', "invalid_field", "text"),
        ('{"type": "message", "text": "   "}', "invalid_field", "text"),
        ('{"type": "message", "text": "x", "colour": "red"}', "unknown_field", "colour"),
    ],
)
async def test_bad_input_gets_a_named_error_and_the_socket_stays_usable(
    connect, make_user, room, frame, code, field
) -> None:
    ann = await make_user("ann")
    a = await connect("/ws/chat/lobby/", ann)
    await a.receive_json_from(timeout=TIMEOUT)
    await a.send_to(text_data=frame)
    error = await receive_type(a, "error")
    assert error["code"] == code
    assert error.get("field") == field
    assert error["detail"]
    await a.send_json_to({"type": "message", "text": "still here"})
    assert (await receive_type(a, "message"))["text"] == "still here"


async def test_text_over_the_character_limit_is_refused(connect, make_user, room) -> None:
    ann = await make_user("ann")
    a = await connect("/ws/chat/lobby/", ann)
    await a.receive_json_from(timeout=TIMEOUT)
    await a.send_json_to({"type": "message", "text": "x" * (settings.CHAT_MAX_TEXT_CHARS + 1), "id": 9})
    error = await receive_type(a, "error")
    assert (error["code"], error["field"], error["ref"]) == ("invalid_field", "text", 9)
    await a.send_json_to({"type": "message", "text": "x" * settings.CHAT_MAX_TEXT_CHARS})
    assert len((await receive_type(a, "message"))["text"]) == settings.CHAT_MAX_TEXT_CHARS


async def test_binary_frame_is_refused_without_closing(connect, make_user, room) -> None:
    ann = await make_user("ann")
    a = await connect("/ws/chat/lobby/", ann)
    await a.receive_json_from(timeout=TIMEOUT)
    await a.send_to(bytes_data=b"\x00\x01")
    assert (await receive_type(a, "error"))["code"] == "binary_frame"
    await a.send_json_to({"type": "ping", "id": "p"})
    assert await receive_type(a, "pong") == {"type": "pong", "id": "p"}


async def test_oversized_frame_closes_with_4009(connect, make_user, room) -> None:
    ann = await make_user("ann")
    a = await connect("/ws/chat/lobby/", ann)
    await a.receive_json_from(timeout=TIMEOUT)
    await a.send_to(text_data='{"type": "message", "text": "' + "é" * settings.WS_MAX_MESSAGE_BYTES + '"}')
    assert (await receive_type(a, "error"))["code"] == "too_large"
    assert await a.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4009}


async def test_the_test_only_cpu_knob_is_off_by_default_and_spends_what_it_is_set_to(
    connect, make_user, room, monkeypatch, settings
) -> None:
    import time

    from reference_app.chat import consumers

    spent: list[float] = []
    monkeypatch.setattr(consumers, "_spend_cpu", spent.append)
    ann = await make_user("ann")
    a = await connect("/ws/chat/lobby/", ann)
    await a.send_json_to({"type": "message", "text": "off"})
    await receive_type(a, "message")
    assert spent == []  # off unless REFERENCE_APP_TEST_ONLY_CHAT_CPU_US is set
    settings.TEST_ONLY_CHAT_CPU_US = 1500
    await a.send_json_to({"type": "message", "text": "on"})
    assert (await receive_type(a, "message"))["text"] == "on"
    assert spent == [0.0015]
    monkeypatch.undo()
    before = time.thread_time()
    consumers._spend_cpu(0.01)
    assert time.thread_time() - before >= 0.01
