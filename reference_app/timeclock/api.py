"""``POST /api/timeclock/events/``: put a punch event on the worker channel over HTTP (readers without a gateway)."""

from __future__ import annotations

import orjson
from channels.layers import get_channel_layer
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from reference_app.accounts.service_auth import service_token_for, unauthorised
from reference_app.timeclock.events import InvalidEvent, PunchEvent

__all__ = ["submit_event"]


@csrf_exempt
@require_POST
async def submit_event(request: HttpRequest) -> HttpResponse:
    if await service_token_for(request) is None:
        return unauthorised()
    try:
        payload = orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        return JsonResponse({"error": f"body is not valid JSON: {exc}"}, status=400)
    if not isinstance(payload, dict):
        return JsonResponse({"error": "body must be a JSON object"}, status=400)
    try:
        event = PunchEvent.parse(payload)
    except InvalidEvent as exc:
        return JsonResponse({"error": exc.detail, "field": exc.field}, status=400)
    layer = get_channel_layer()
    assert layer is not None
    await layer.send(settings.TIMECLOCK_CHANNEL, event.as_message())
    return JsonResponse({"queued": True, "event_id": event.event_id, "channel": settings.TIMECLOCK_CHANNEL}, status=202)
