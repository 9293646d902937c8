"""``GET /healthz``: is this process able to serve (database and channel layer reachable)?"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from reference_app import gcpauses

__all__ = ["healthz"]


@sync_to_async
def _database_ok() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return bool(cursor.fetchone() == (1,))


async def _layer_round_trip() -> bool:
    layer = get_channel_layer()
    assert layer is not None
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "health.probe"})
    message = await asyncio.wait_for(layer.receive(channel), timeout=2.0)
    return bool(message.get("type") == "health.probe")


async def _worker_answers() -> bool:
    layer = get_channel_layer()
    assert layer is not None
    reply = await layer.new_channel()
    await layer.send(settings.TIMECLOCK_CHANNEL, {"type": "health.ping", "reply_channel": reply})
    message = await asyncio.wait_for(layer.receive(reply), timeout=2.0)
    return bool(message.get("type") == "health.pong")


async def healthz(request: HttpRequest) -> HttpResponse:
    """Checks the database and a layer round trip; with ``?worker=1`` also that a timeclock worker answers."""
    report: dict[str, Any] = {"pid": os.getpid()}
    problems: list[str] = []
    checks: list[tuple[str, Callable[[], Awaitable[bool]]]] = [
        ("database", _database_ok),
        ("channel_layer", _layer_round_trip),
    ]
    if request.GET.get("worker") == "1":
        checks.append(("timeclock_worker", _worker_answers))
    for name, check in checks:
        try:
            ok = await check()
        except Exception as exc:  # any failure is the answer, not a crash of the probe
            ok = False
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
        report[name] = "ok" if ok else "failing"
    layer = get_channel_layer()
    report["channel_layer_backend"] = f"{type(layer).__module__}.{type(layer).__qualname__}"
    # What a soak run compares early and late: a consumer task that outlives its socket is a leak RSS hides for hours.
    report["asyncio_tasks"] = len(asyncio.all_tasks())
    # How long garbage collections stopped this process: a full one over thousands of sockets stops every one.
    if (record := gcpauses.pauses()) is not None:
        report["gc"] = record.as_dict()
    report["status"] = "failing" if problems or "failing" in report.values() else "ok"
    if problems:
        report["problems"] = problems
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
