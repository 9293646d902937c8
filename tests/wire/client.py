"""A plain ``websockets`` client for the over-the-wire tests, sending what a browser would."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from harness.stack import Stack
from tests.conftest import TIMEOUT

__all__ = ["handshake_status", "http_post", "open_socket", "receive_type", "drain"]

DEFAULT = object()


def _headers(stack: Stack, user: dict[str, Any] | None, origin: Any, extra: dict[str, str] | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if origin is DEFAULT:
        headers["Origin"] = stack.http_url
    elif origin is not None:
        headers["Origin"] = origin
    if user is not None:
        headers["Cookie"] = f"{stack.credentials()['session_cookie_name']}={user['session']}"
    headers.update(extra or {})
    return headers


@contextmanager
def open_socket(
    stack: Stack,
    path: str,
    *,
    user: dict[str, Any] | None = None,
    origin: Any = DEFAULT,
    headers: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[ClientConnection]:
    url = f"ws://{stack.config.host}:{port or stack.port}{path}"
    with connect(url, additional_headers=_headers(stack, user, origin, headers), open_timeout=TIMEOUT) as ws:
        yield ws


def handshake_status(stack: Stack, path: str, **kwargs: Any) -> int:
    """The HTTP status of a refused handshake (101 when it was accepted)."""
    try:
        with open_socket(stack, path, **kwargs):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def receive_type(ws: ClientConnection, message_type: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        if message["type"] == message_type:
            return dict(message)
        assert message["type"] in {"welcome", "presence", "backlog"}, f"expected {message_type}, got {message}"


def drain(ws: ClientConnection, quiet: float = TIMEOUT / 10) -> list[dict[str, Any]]:
    messages = []
    while True:
        try:
            messages.append(json.loads(ws.recv(timeout=quiet)))
        except TimeoutError:
            return messages


def http_post(stack: Stack, path: str, body: Any, token: str | None) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{stack.http_url}{path}",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
