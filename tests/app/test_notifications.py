from __future__ import annotations

from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.test import AsyncClient

from reference_app.accounts.models import ServiceToken
from reference_app.notifications.models import Notification
from reference_app.tokens import digest
from tests.app.conftest import drain, receive_type
from tests.conftest import TIMEOUT

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "service-token-for-tests"


@pytest.fixture
async def service_token() -> str:
    await sync_to_async(ServiceToken.objects.create)(name="tests", token_digest=digest(TOKEN))
    return TOKEN


async def publish(body: Any, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    response = await AsyncClient().post("/api/notifications/", raw, content_type="application/json", headers=headers)
    return response.status_code, orjson.loads(response.content)


async def connect_listener(connect, user) -> Any:
    socket = await connect("/ws/notifications/", user)
    assert (await socket.receive_json_from(timeout=TIMEOUT))["type"] == "welcome"
    return socket


async def test_anonymous_is_refused(connect) -> None:
    await connect("/ws/notifications/", expect=False)


async def test_publish_requires_a_valid_service_token(make_user, service_token) -> None:
    await make_user("ann")
    assert (await publish({"user": "ann", "title": "t"}, token=None))[0] == 401
    assert (await publish({"user": "ann", "title": "t"}, token="wrong"))[0] == 401
    assert await Notification.objects.acount() == 0


async def test_push_reaches_only_its_user(connect, make_user, service_token) -> None:
    ann, bob = await make_user("ann"), await make_user("bob")
    a, b = await connect_listener(connect, ann), await connect_listener(connect, bob)
    for socket in (a, b):
        assert (await socket.receive_json_from(timeout=TIMEOUT))["items"] == []
    status, body = await publish({"user": ann.pk, "title": "for ann", "body": "b", "data": {"k": 1}})
    assert status == 201 and body["created"] == 1
    pushed = await receive_type(a, "notification")
    assert (pushed["title"], pushed["body"], pushed["data"], pushed["read"]) == (
        "for ann",
        "b",
        {"k": 1},
        False,
    )
    assert await drain(b) == []


async def test_publish_to_a_list_and_to_a_role(connect, make_user, service_token) -> None:
    await make_user("ann")
    bob, cid = await make_user("bob"), await make_user("cid")
    group = await sync_to_async(Group.objects.create)(name="supervisors")
    await sync_to_async(group.user_set.add)(bob, cid)
    assert (await publish({"users": ["ann", bob.pk], "title": "pair"}))[1]["created"] == 2
    assert (await publish({"role": "supervisors", "title": "role"}))[1]["created"] == 2
    titles = await sync_to_async(lambda: sorted(Notification.objects.values_list("user__username", "title")))()
    assert titles == [("ann", "pair"), ("bob", "pair"), ("bob", "role"), ("cid", "role")]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, None),
        ([1], 400, None),
        ({"title": "no target"}, 400, None),
        ({"user": "ann", "role": "x", "title": "two targets"}, 400, "role"),
        ({"user": "ann"}, 400, "title"),
        ({"user": "ann", "title": "t", "data": []}, 400, "data"),
        ({"user": "ann", "title": "t", "extra": 1}, 400, "extra"),
        ({"users": [], "title": "t"}, 400, "users"),
        ({"users": [True], "title": "t"}, 400, "users"),
        ({"users": ["ann", "ghost"], "title": "t"}, 404, "users"),
    ],
)
async def test_bad_publish_is_refused_and_stores_nothing(make_user, service_token, body, status, field) -> None:
    await make_user("ann")
    got, answer = await publish(body)
    assert got == status
    assert answer.get("field") == field and answer["error"]
    assert await Notification.objects.acount() == 0


async def test_backlog_on_connect_then_ack_marks_read(connect, make_user, service_token) -> None:
    ann, bob = await make_user("ann"), await make_user("bob")
    await publish({"user": "ann", "title": "one"})
    await publish({"user": "ann", "title": "two"})
    await publish({"user": "bob", "title": "bob's"})
    a = await connect_listener(connect, ann)
    backlog = await a.receive_json_from(timeout=TIMEOUT)
    assert [i["title"] for i in backlog["items"]] == ["one", "two"]
    assert (backlog["unread_total"], backlog["truncated"]) == (2, False)
    bobs = await sync_to_async(lambda: Notification.objects.get(user=bob).pk)()
    first = backlog["items"][0]["id"]
    await a.send_json_to({"type": "ack", "ids": [first, bobs, 999999]})
    acked = await receive_type(a, "acked")
    # Bob's id is reported exactly like an id that does not exist, and stays unread.
    assert (acked["ids"], acked["unknown"]) == ([first], sorted([bobs, 999999]))
    assert await Notification.objects.filter(read_at__isnull=True).acount() == 2
    await a.disconnect()
    again = await connect_listener(connect, ann)
    assert [i["title"] for i in (await again.receive_json_from(timeout=TIMEOUT))["items"]] == ["two"]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"type": "ack"}, "missing_field"),
        ({"type": "ack", "ids": "1"}, "invalid_field"),
        ({"type": "ack", "ids": []}, "invalid_field"),
        ({"type": "ack", "ids": [0]}, "invalid_field"),
        ({"type": "ack", "ids": [1.5]}, "invalid_field"),
        ({"type": "ack", "ids": list(range(1, 1002))}, "invalid_field"),
        ({"type": "ack", "ids": [1], "user": 2}, "unknown_field"),
        ({"type": "subscribe", "group": "notify.user.2"}, "unknown_type"),
    ],
)
async def test_bad_ack_is_refused(connect, make_user, message, code) -> None:
    ann = await make_user("ann")
    a = await connect_listener(connect, ann)
    await a.receive_json_from(timeout=TIMEOUT)
    await a.send_json_to(message)
    assert (await receive_type(a, "error"))["code"] == code


async def test_client_cannot_steer_the_group(connect, make_user, service_token) -> None:
    ann, bob = await make_user("ann"), await make_user("bob")
    # Whatever path, query or payload Ann sends, her stream is her own.
    a = await connect("/ws/notifications/", ann, query_string=f"user={bob.pk}&group=notify.user.{bob.pk}".encode())
    await drain(a)
    await a.send_json_to({"type": "subscribe", "user": bob.pk})
    await publish({"user": bob.pk, "title": "secret"})
    assert all(m["type"] != "notification" for m in await drain(a))


async def test_a_push_racing_the_backlog_is_delivered_once(connect, make_user, service_token) -> None:
    from channels.layers import get_channel_layer

    from reference_app.notifications.groups import user_group

    ann = await make_user("ann")
    await publish({"user": "ann", "title": "raced"})
    a = await connect_listener(connect, ann)
    backlog = await a.receive_json_from(timeout=TIMEOUT)
    item = backlog["items"][0]
    # The push for the same row arriving after the backlog read (a publish in flight during connect) is dropped.
    await get_channel_layer().group_send(user_group(ann.pk), {"type": "notify.push", "item": item})
    await a.send_json_to({"type": "ping", "id": "after"})
    assert await receive_type(a, "pong") == {"type": "pong", "id": "after"}
    assert await drain(a) == []
