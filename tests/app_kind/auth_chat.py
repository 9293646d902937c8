"""A Channels app behind Django's own login, for the tests of ``[app.auth]``: sessions, CSRF and
``AuthMiddlewareStack`` as a real deployment has them.

``/accounts/login/`` is Django's ``LoginView``; users ``user0`` … ``user49`` have the password in
``AUTH_CHAT_PASSWORD`` (default ``pw-secret``). ``/ws/room/<room>/`` closes an anonymous socket with 4401, and
relays ``{"message": …}`` to the room as ``{"user": <username>, "message": …}``. The database is a SQLite file in
a fresh temporary directory, migrated at import. Serve it with
``python -m uvicorn tests.app_kind.auth_chat:application``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="auth-chat-tests",
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "channels",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        ROOT_URLCONF=__name__,
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(Path(tempfile.mkdtemp()) / "db.sqlite3")}
        },
        # Fast hashing: the tests log in dozens of users; the default hasher costs a good part of a second each.
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": False, "DIRS": []}],
        CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
        LOGIN_REDIRECT_URL="/",
        USE_TZ=True,
    )
    django.setup()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.auth import authenticate, login  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect  # noqa: E402
from django.middleware.csrf import get_token  # noqa: E402
from django.urls import path  # noqa: E402

__all__ = ["application"]

call_command("migrate", verbosity=0)
_PASSWORD = os.environ.get("AUTH_CHAT_PASSWORD", "pw-secret")
for _n in range(50):
    User.objects.create_user(f"user{_n}", password=_PASSWORD)


def login_view(request: HttpRequest) -> HttpResponse:
    """Django's login, without templates: the form on GET (with the CSRF cookie), the session on a valid POST."""
    if request.method == "POST":
        user = authenticate(request, username=request.POST.get("username"), password=request.POST.get("password"))
        if user is not None:
            login(request, user)
            return HttpResponseRedirect("/")
    token = get_token(request)
    return HttpResponse(
        f'<form method="post"><input name="csrfmiddlewaretoken" value="{token}">'
        '<input name="username"><input name="password" type="password"></form>'
    )


urlpatterns = [path("accounts/login/", login_view)]


class RoomChat(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        if not self.scope["user"].is_authenticated:
            await self.close(code=4401)
            return
        self.room = self.scope["url_route"]["kwargs"]["room"]
        await self.channel_layer.group_add(f"room-{self.room}", self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "room"):
            await self.channel_layer.group_discard(f"room-{self.room}", self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        event = {"type": "room.message", "user": self.scope["user"].username, "message": str(content.get("message"))}
        await self.channel_layer.group_send(f"room-{self.room}", event)

    async def room_message(self, event: dict[str, Any]) -> None:
        await self.send_json({"user": event["user"], "message": event["message"]})


application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        "websocket": AuthMiddlewareStack(URLRouter([path("ws/room/<str:room>/", RoomChat.as_asgi())])),
    }
)
