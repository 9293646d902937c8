"""``POST /api/notifications/``: store notifications and push them to their users (docs/protocols.md#publish-api)."""

from __future__ import annotations

from typing import Any

import orjson
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from reference_app.accounts.service_auth import service_token_for, unauthorised
from reference_app.notifications.groups import user_group
from reference_app.notifications.models import Notification

__all__ = ["publish"]

TARGET_KEYS = ("user", "users", "role")
ALLOWED_KEYS = frozenset({*TARGET_KEYS, "title", "body", "data"})


class BadRequest(Exception):
    def __init__(self, detail: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.status = status


def _problem(detail: str, status: int, field: str | None = None) -> JsonResponse:
    body: dict[str, Any] = {"error": detail}
    if field is not None:
        body["field"] = field
    return JsonResponse(body, status=status)


def _user_ref(value: object, field: str) -> tuple[str, int | str]:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return ("id", value)
    if isinstance(value, str) and value:
        return ("username", value)
    raise BadRequest(f"'{field}' entries must be a user id (positive number) or a username (string)", field)


def _parse(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object")
    unknown = sorted(set(payload) - ALLOWED_KEYS)
    if unknown:
        raise BadRequest(
            f"unknown field(s) {', '.join(unknown)}; accepted: {', '.join(sorted(ALLOWED_KEYS))}", unknown[0]
        )
    targets = [key for key in TARGET_KEYS if key in payload]
    if len(targets) != 1:
        raise BadRequest("give exactly one of 'user', 'users' or 'role'", targets[1] if targets else None)
    title = payload.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        raise BadRequest("'title' must be a non-empty string of at most 200 characters", "title")
    body_text = payload.get("body", "")
    if not isinstance(body_text, str) or len(body_text) > 10_000:
        raise BadRequest("'body' must be a string of at most 10000 characters", "body")
    data = payload.get("data", {})
    if not isinstance(data, dict):
        raise BadRequest("'data' must be a JSON object", "data")
    return payload


@sync_to_async
def _store(payload: dict[str, Any]) -> list[Notification]:
    users = get_user_model().objects.filter(is_active=True)
    if "role" in payload:
        role = payload["role"]
        if not isinstance(role, str) or not role:
            raise BadRequest("'role' must be a role (group) name", "role")
        users = users.filter(groups__name=role)
    else:
        refs = [payload["user"]] if "user" in payload else payload["users"]
        field = "user" if "user" in payload else "users"
        if not isinstance(refs, list) or not refs:
            raise BadRequest("'users' must be a non-empty array", field)
        parsed = [_user_ref(ref, field) for ref in refs]
        ids = {value for kind, value in parsed if kind == "id"}
        names = {value for kind, value in parsed if kind == "username"}
        users = users.filter(id__in=ids) | users.filter(username__in=names)
        found = list(users.values_list("id", "username"))
        missing = (ids - {i for i, _ in found}) | (names - {n for _, n in found})
        if missing:
            shown = ", ".join(sorted(str(m) for m in missing)[:10])
            raise BadRequest(f"no active user for: {shown}", field, status=404)
    recipients = list(users.distinct().values_list("id", flat=True))
    limit: int = settings.NOTIFICATIONS_MAX_RECIPIENTS
    if len(recipients) > limit:
        raise BadRequest(f"{len(recipients)} recipients exceed NOTIFICATIONS_MAX_RECIPIENTS={limit}", status=413)
    with transaction.atomic():
        rows = [
            Notification(
                user_id=uid,
                title=payload["title"],
                body=payload.get("body", ""),
                data=payload.get("data", {}),
            )
            for uid in recipients
        ]
        created = Notification.objects.bulk_create(rows)
    if any(n.pk is None for n in created):
        # Backends without RETURNING (none of ours, but a user may swap the database) need a re-read for the ids.
        raise RuntimeError("the database did not return the ids of the stored notifications")
    return created


@csrf_exempt
@require_POST
async def publish(request: HttpRequest) -> HttpResponse:
    if await service_token_for(request) is None:
        return unauthorised()
    try:
        payload = _parse(request.body)
        created = await _store(payload)
    except BadRequest as exc:
        return _problem(exc.detail, exc.status, exc.field)
    layer = get_channel_layer()
    assert layer is not None
    for notification in created:
        await layer.group_send(
            user_group(notification.user_id), {"type": "notify.push", "item": notification.as_message()}
        )
    return JsonResponse(
        {"created": len(created), "notifications": [{"id": n.pk, "user": n.user_id} for n in created]},
        status=201,
    )
