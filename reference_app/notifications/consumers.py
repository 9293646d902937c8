"""``ws/notifications/``: each user's private stream (docs/protocols.md#notifications)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from reference_app.jsonsocket import JsonSocketConsumer, MessageError, Payload, require
from reference_app.notifications.groups import user_group
from reference_app.notifications.models import Notification

__all__ = ["MAX_ACK_IDS", "NotificationConsumer"]

MAX_ACK_IDS = 1000


class NotificationConsumer(JsonSocketConsumer):
    endpoint = "notifications"
    fields = {"ping": frozenset(), "ack": frozenset({"ids"})}

    user_id: int | None = None
    # Ids already delivered in the backlog: a notification created while the backlog was being read arrives once.
    backlog_ids: frozenset[int] = frozenset()

    def handlers(self) -> dict[str, Any]:
        return {**super().handlers(), "ack": self.on_ack}

    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close()
            return
        self.user_id = int(user.pk)
        # Join first, read the backlog second: a notification published in between is then either in the backlog or
        # queued for this consumer, and the consumer handles its queue only after connect() returns.
        await self.join_group(user_group(self.user_id))
        if settings.TEST_ONLY_NOTIFY_GROUP_FROM_QUERY:
            await self._test_only_hole()
        await self.accept()
        await self.welcome(user=user.get_username())
        items, unread_total = await self._backlog(self.user_id)
        self.backlog_ids = frozenset(item["id"] for item in items)
        await self.send_json(
            {
                "type": "backlog",
                "items": items,
                "unread_total": unread_total,
                "truncated": unread_total > len(items),
            }
        )

    @sync_to_async
    def _backlog(self, user_id: int) -> tuple[list[dict[str, Any]], int]:
        unread = Notification.objects.filter(user_id=user_id, read_at__isnull=True)
        limit: int = settings.NOTIFICATIONS_BACKLOG_LIMIT
        items = [n.as_message() for n in unread.order_by("id")[:limit]]
        total = len(items) if len(items) < limit else unread.count()
        return items, total

    async def _test_only_hole(self) -> None:
        # The insecure direct object reference the authorization fuzz must find (settings.py; tests only).
        query = parse_qs(bytes(self.scope.get("query_string", b"")).decode("latin-1"))
        for value in query.get("user", []):
            if value.isdigit():
                await self.channel_layer.group_add(user_group(int(value)), self.channel_name)

    async def disconnect(self, code: int) -> None:
        if self.user_id is not None:
            await self.channel_layer.group_discard(user_group(self.user_id), self.channel_name)

    async def on_ack(self, payload: Payload) -> None:
        ids = require(payload, "ids", list, "an array of notification ids")
        if not ids or len(ids) > MAX_ACK_IDS:
            raise MessageError("invalid_field", f"'ids' must hold 1 to {MAX_ACK_IDS} ids, got {len(ids)}", field="ids")
        if not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids):
            raise MessageError("invalid_field", "'ids' must hold positive whole numbers", field="ids")
        assert self.user_id is not None
        acked = await self._mark_read(self.user_id, sorted(set(ids)))
        unknown = sorted(set(ids) - set(acked))
        await self.send_json({"type": "acked", "ids": acked, "unknown": unknown})

    @sync_to_async
    def _mark_read(self, user_id: int, ids: list[int]) -> list[int]:
        # Filtering on the user makes another user's ids indistinguishable from ids that do not exist.
        mine = Notification.objects.filter(user_id=user_id, id__in=ids)
        found = sorted(mine.values_list("id", flat=True))
        mine.filter(read_at__isnull=True).update(read_at=timezone.now())
        return found

    async def notify_push(self, event: Payload) -> None:
        item = event["item"]
        if item["id"] in self.backlog_ids:
            return
        await self.send_json({"type": "notification", **item})
