"""A small over-the-network client for the reference app: handshakes, JSON sockets and the HTTP side (login, APIs).

It never imports the app, so the security and app checks can run against any deployment given by URL and a
credentials file in the format ``python -m reference_app demo_data --out`` writes.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

__all__ = [
    "AppSocket",
    "AppTarget",
    "HttpReply",
    "Received",
    "SAME_ORIGIN",
    "handshake_status",
    "http_request",
    "login",
    "logout",
    "open_socket",
    "post_json",
]

#: Sentinel for "send the target's own origin" (what a browser on the app's page sends).
SAME_ORIGIN = "<same-origin>"

_CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass(frozen=True)
class Received:
    """One JSON message a check received, with the endpoint of its socket (for schema lookup)."""

    endpoint: str
    message: Any


@dataclass
class AppTarget:
    """Where the app runs and the demo credentials to use; ``received`` collects every JSON message seen."""

    http_url: str
    ws_url: str
    credentials: Mapping[str, Any]
    timeout: float = 5.0
    #: Host names the deployment's ALLOWED_HOSTS is known to hold (a Stack's: localhost, 127.0.0.1, [::1]).
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "[::1]")
    received: list[Received] = field(default_factory=list)

    @classmethod
    def from_credentials_file(cls, http_url: str, path: Path, *, timeout: float = 5.0) -> AppTarget:
        parts = urlsplit(http_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return cls(http_url.rstrip("/"), f"{scheme}://{parts.netloc}", json.loads(path.read_text()), timeout)

    @property
    def cookie_name(self) -> str:
        return str(self.credentials.get("session_cookie_name", "sessionid"))

    @property
    def users(self) -> list[dict[str, Any]]:
        return list(self.credentials["users"])

    @property
    def service_token(self) -> str:
        return str(self.credentials["service_tokens"][0]["token"])

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.http_url)
        assert parts.hostname is not None
        return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _headers(
    target: AppTarget, origin: str | None, session: str | None, extra: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    if origin is not None:
        headers.append(("Origin", target.http_url if origin == SAME_ORIGIN else origin))
    if session is not None:
        headers.append(("Cookie", f"{target.cookie_name}={session}"))
    headers.extend(extra)
    return headers


def _endpoint(path: str) -> str:
    if path.startswith("/ws/chat/"):
        return "chat"
    if path.startswith("/ws/notifications/"):
        return "notifications"
    if path.startswith("/ws/terminal/"):
        return "kiosk"
    return "unknown"


class AppSocket:
    """A JSON socket that records what it receives into the target's ``received`` list."""

    def __init__(self, target: AppTarget, ws: ClientConnection, endpoint: str) -> None:
        self.target = target
        self.ws = ws
        self.endpoint = endpoint
        self.close_code: int | None = None

    def send_json(self, message: Any) -> None:
        self.ws.send(json.dumps(message))

    def send_raw(self, frame: str | bytes) -> None:
        self.ws.send(frame)

    def recv(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message, or None on timeout. A close is remembered in ``close_code`` and raises."""
        try:
            raw = self.ws.recv(timeout=self.target.timeout if timeout is None else timeout)
        except TimeoutError:
            return None
        except ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd is not None else None
            raise
        message = json.loads(raw)
        self.target.received.append(Received(self.endpoint, message))
        return message if isinstance(message, dict) else {"type": None, "value": message}

    def wait_for(self, message_type: str, timeout: float | None = None, **match: Any) -> dict[str, Any] | None:
        """The first message of ``message_type`` whose fields equal ``match``; others are skipped."""
        deadline = time.monotonic() + (self.target.timeout if timeout is None else timeout)
        while (left := deadline - time.monotonic()) > 0:
            message = self.recv(left)
            if message is None:
                return None
            if message.get("type") == message_type and all(message.get(k) == v for k, v in match.items()):
                return message
        return None

    def drain(self, quiet: float | None = None) -> list[dict[str, Any]]:
        """Everything until the socket stays quiet for ``quiet`` seconds."""
        wait = self.target.timeout / 10 if quiet is None else quiet
        messages: list[dict[str, Any]] = []
        while (message := self.recv(wait)) is not None:
            messages.append(message)
        return messages

    def wait_closed(self, timeout: float | None = None) -> int | None:
        """Read until the server closes; the close code, or None when it stayed open."""
        deadline = time.monotonic() + (self.target.timeout if timeout is None else timeout)
        try:
            while (left := deadline - time.monotonic()) > 0:
                self.recv(left)
        except ConnectionClosed:
            return self.close_code
        return None


@contextmanager
def open_socket(
    target: AppTarget,
    path: str,
    *,
    origin: str | None = SAME_ORIGIN,
    session: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> Iterator[AppSocket]:
    url = f"{target.ws_url}{path}"
    with connect(
        url,
        additional_headers=_headers(target, origin, session, headers),
        open_timeout=target.timeout,
        close_timeout=target.timeout,
        max_size=None,
    ) as ws:
        yield AppSocket(target, ws, _endpoint(path))


def handshake_status(
    target: AppTarget,
    path: str,
    *,
    origin: str | None = SAME_ORIGIN,
    session: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> int:
    """101 when the server accepted the upgrade, else the HTTP status it answered with."""
    try:
        with open_socket(target, path, origin=origin, session=session, headers=headers):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        for name, value in self.headers:
            if name.lower() == "set-cookie":
                jar.load(value)
        return {key: morsel.value for key, morsel in jar.items()}

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def http_request(
    target: AppTarget,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    cookies: Mapping[str, str] | None = None,
) -> HttpReply:
    """One request without following redirects, so a login's Set-Cookie stays visible."""
    host, port = target.host_port
    connection_type = http.client.HTTPSConnection if target.http_url.startswith("https") else http.client.HTTPConnection
    conn = connection_type(host, port, timeout=target.timeout)
    all_headers = dict(headers or {})
    if cookies:
        all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    try:
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        return HttpReply(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


def post_json(target: AppTarget, path: str, body: Any, token: str | None) -> HttpReply:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return http_request(target, "POST", path, body=json.dumps(body).encode(), headers=headers)


def _form(fields: Mapping[str, str]) -> bytes:
    return urlencode(fields).encode()


def login(target: AppTarget, username: str, password: str) -> tuple[str | None, str | None]:
    """Log in through the login form as a browser would: (session cookie, CSRF cookie), None where not set."""
    page = http_request(target, "GET", "/accounts/login/")
    csrf_cookie = page.cookies().get("csrftoken")
    found = _CSRF_INPUT.search(page.body)
    if csrf_cookie is None or found is None:
        return None, None
    reply = http_request(
        target,
        "POST",
        "/accounts/login/",
        body=_form({"csrfmiddlewaretoken": found.group(1).decode(), "username": username, "password": password}),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Referer": f"{target.http_url}/accounts/login/"},
        cookies={"csrftoken": csrf_cookie},
    )
    cookies = reply.cookies()
    # Django rotates the CSRF token on login; a later logout must use the new one.
    return cookies.get(target.cookie_name), cookies.get("csrftoken", csrf_cookie)


def logout(target: AppTarget, session: str, csrf_cookie: str) -> int:
    """POST the logout view with the session and CSRF cookie (Django 5 refuses a GET logout)."""
    reply = http_request(
        target,
        "POST",
        "/accounts/logout/",
        body=_form({"csrfmiddlewaretoken": csrf_cookie}),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Referer": f"{target.http_url}/"},
        cookies={target.cookie_name: session, "csrftoken": csrf_cookie},
    )
    return reply.status
