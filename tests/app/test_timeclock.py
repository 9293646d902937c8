from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import ApplicationCommunicator
from django.conf import settings

from reference_app.timeclock.consumers import PunchWorker
from reference_app.timeclock.models import Employee, Key, Punch, Terminal
from reference_app.tokens import digest
from tests.conftest import TIMEOUT

pytestmark = pytest.mark.django_db(transaction=True)

SERIAL = "00112233AABBCCDD"
T0 = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)


@pytest.fixture
async def terminal() -> Terminal:
    @sync_to_async
    def setup() -> Terminal:
        employee = Employee.objects.create(number="E1", name="Erin")
        Key.objects.create(serial=SERIAL, employee=employee)
        return Terminal.objects.create(
            name="door", reader_host="127.0.0.1", reader_port=2444, token_digest=digest("t0k")
        )

    return await setup()


class WorkerDriver:
    """Feeds the worker consumer the way ``runworker`` does: one instance, messages from the channel."""

    def __init__(self) -> None:
        self.app = ApplicationCommunicator(PunchWorker.as_asgi(), {"type": "channel", "channel": "tc"})

    async def punch(self, event_id: str, serial: str = SERIAL, minutes: int = 0, reader: Any = None) -> None:
        await self.app.send_input(
            {
                "type": "punch.event",
                "reader": reader,
                "key_serial": serial,
                "event_id": event_id,
                "inserted_at": (T0 + timedelta(minutes=minutes)).isoformat(),
            }
        )

    async def settle(self) -> None:
        # The worker handles its queue in order, so a health ping answered means every earlier event is done.
        layer = get_channel_layer()
        reply = await layer.new_channel()
        await self.app.send_input({"type": "health.ping", "reply_channel": reply})
        assert (await layer.receive(reply))["type"] == "health.pong"


async def test_kiosk_token_by_header_or_query_and_refusals(connect, terminal) -> None:
    path = f"/ws/terminal/{terminal.pk}/"
    await connect(path, headers=[(b"x-terminal-token", b"t0k")])
    await connect(path, query_string=b"token=t0k")
    await connect(path, expect=False)
    await connect(path, query_string=b"token=wrong", expect=False)
    await connect(f"/ws/terminal/{terminal.pk + 1}/", query_string=b"token=t0k", expect=False)


async def test_event_punches_once_and_alternates(connect, terminal) -> None:
    socket = await connect(f"/ws/terminal/{terminal.pk}/", query_string=b"token=t0k")
    assert (await socket.receive_json_from(timeout=TIMEOUT))["terminal"] == {
        "id": terminal.pk,
        "name": "door",
    }
    worker = WorkerDriver()
    await worker.punch("ev-1", reader=terminal.pk, minutes=0)
    first = await socket.receive_json_from(timeout=TIMEOUT)
    assert (first["type"], first["direction"], first["event_id"]) == ("punch", "in", "ev-1")
    assert first["employee"] == {"id": first["employee"]["id"], "name": "Erin", "number": "E1"}
    # The same event again (a gateway retry, a replayed log) punches nothing and pushes nothing.
    await worker.punch("ev-1", reader=terminal.pk, minutes=0)
    await worker.settle()
    assert await socket.receive_nothing(timeout=TIMEOUT / 10)
    await worker.punch("ev-2", reader="door", minutes=480)
    second = await socket.receive_json_from(timeout=TIMEOUT)
    assert (second["direction"], second["punch_id"]) == ("out", second["punch_id"])
    await worker.punch("ev-3", reader=terminal.pk, minutes=1440)
    assert (await socket.receive_json_from(timeout=TIMEOUT))["direction"] == "in"
    punches = await sync_to_async(lambda: list(Punch.objects.values_list("event_id", "direction")))()
    assert punches == [("ev-1", "in"), ("ev-2", "out"), ("ev-3", "in")]


async def test_unknown_key_is_reported_on_the_kiosk(connect, terminal) -> None:
    socket = await connect(f"/ws/terminal/{terminal.pk}/", query_string=b"token=t0k")
    await socket.receive_json_from(timeout=TIMEOUT)
    worker = WorkerDriver()
    await worker.punch("ev-x", serial="ffffffffffffffff", reader=terminal.pk)
    message = await socket.receive_json_from(timeout=TIMEOUT)
    assert (message["type"], message["key_serial"], message["event_id"]) == ("unknown_key", "F" * 16, "ev-x")
    assert await Punch.objects.acount() == 0


@pytest.mark.parametrize(
    "event",
    [
        {"type": "punch.event"},
        {"type": "punch.event", "reader": 1, "key_serial": "XYZ", "event_id": "e", "inserted_at": 1.0},
        {"type": "punch.event", "reader": 1, "key_serial": SERIAL, "event_id": "bad id!", "inserted_at": 1.0},
        {
            "type": "punch.event",
            "reader": 1,
            "key_serial": SERIAL,
            "event_id": "e",
            "inserted_at": "yesterday",
        },
        {
            "type": "punch.event",
            "reader": 1,
            "key_serial": SERIAL,
            "event_id": "e",
            "inserted_at": "2026-11-02T07:00",
        },
        {"type": "punch.event", "reader": True, "key_serial": SERIAL, "event_id": "e", "inserted_at": 1.0},
        {"type": "punch.event", "reader": 999, "key_serial": SERIAL, "event_id": "e", "inserted_at": 1.0},
    ],
)
async def test_malformed_or_unroutable_events_store_nothing_and_worker_goes_on(terminal, event) -> None:
    worker = WorkerDriver()
    await worker.app.send_input(event)
    await worker.punch("ev-ok", reader=terminal.pk)
    await worker.settle()
    assert await sync_to_async(lambda: list(Punch.objects.values_list("event_id", flat=True)))() == ["ev-ok"]


async def test_http_event_api_feeds_the_worker_channel(terminal) -> None:
    from django.test import AsyncClient

    from reference_app.accounts.models import ServiceToken

    await sync_to_async(ServiceToken.objects.create)(name="svc", token_digest=digest("svc"))
    client = AsyncClient()
    body = {"reader": terminal.pk, "key_serial": SERIAL, "event_id": "api-1", "inserted_at": T0.isoformat()}
    response = await client.post(
        "/api/timeclock/events/",
        body,
        content_type="application/json",
        headers={"Authorization": "Bearer svc"},
    )
    assert response.status_code == 202
    message = await get_channel_layer().receive(settings.TIMECLOCK_CHANNEL)
    assert (message["type"], message["event_id"], message["key_serial"]) == ("punch.event", "api-1", SERIAL)
    bad = await client.post(
        "/api/timeclock/events/",
        {**body, "key_serial": "nothex"},
        content_type="application/json",
        headers={"Authorization": "Bearer svc"},
    )
    assert (bad.status_code, bad.json()["field"]) == (400, "key_serial")
    unauthorised = await client.post("/api/timeclock/events/", body, content_type="application/json")
    assert unauthorised.status_code == 401
