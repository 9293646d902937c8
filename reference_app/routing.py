"""WebSocket routes (docs/protocols.md)."""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path, re_path

from reference_app.chat.consumers import ChatConsumer
from reference_app.chat.models import ROOM_SLUG_PATTERN
from reference_app.notifications.consumers import NotificationConsumer
from reference_app.timeclock.consumers import KioskConsumer

__all__ = ["websocket_urlpatterns"]


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """Refuses sockets to paths the app does not serve, before accept (HTTP 403), instead of a server error."""

    async def connect(self) -> None:
        await self.close()


websocket_urlpatterns = [
    re_path(rf"^ws/chat/(?P<room>{ROOM_SLUG_PATTERN})/$", ChatConsumer.as_asgi()),
    path("ws/notifications/", NotificationConsumer.as_asgi()),
    path("ws/terminal/<int:terminal_id>/", KioskConsumer.as_asgi()),
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
