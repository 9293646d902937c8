from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from reference_app.routing import websocket_urlpatterns
from tests.conftest import TIMEOUT

__all__ = ["Connect"]

Connect = Callable[..., Awaitable[WebsocketCommunicator]]


@pytest.fixture
def make_user() -> Callable[[str], Awaitable[Any]]:
    @sync_to_async
    def make(username: str) -> Any:
        return get_user_model().objects.create_user(username=username, password="x")

    return make


@pytest.fixture
async def connect() -> Any:
    """Open a consumer in-process, with ``scope['user']`` set as the auth middleware would; closes them afterwards."""
    opened: list[WebsocketCommunicator] = []

    async def open_socket(path: str, user: Any = None, *, expect: bool = True, **scope: Any) -> WebsocketCommunicator:
        communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
        communicator.scope["user"] = user if user is not None else AnonymousUser()
        communicator.scope.update(scope)
        accepted, _ = await communicator.connect(timeout=TIMEOUT)
        assert accepted is expect, f"{path}: accepted={accepted}, expected {expect}"
        if accepted:
            opened.append(communicator)
        return communicator

    yield open_socket
    for communicator in opened:
        await communicator.disconnect(timeout=TIMEOUT)


async def receive_type(communicator: WebsocketCommunicator, message_type: str) -> dict[str, Any]:
    """The next message of ``message_type``, skipping welcome and presence chatter."""
    while True:
        message = await communicator.receive_json_from(timeout=TIMEOUT)
        if message["type"] == message_type:
            return dict(message)
        assert message["type"] in {"welcome", "presence"}, f"expected {message_type}, got {message}"


async def drain(communicator: WebsocketCommunicator, quiet: float = TIMEOUT / 10) -> list[dict[str, Any]]:
    """Every message that arrives until the socket stays quiet for ``quiet`` seconds."""
    messages = []
    while not await communicator.receive_nothing(timeout=quiet):
        messages.append(dict(await communicator.receive_json_from(timeout=TIMEOUT)))
    return messages
