"""Channels security over the wire: the Origin matrix (P1) and the session/token authentication stack (P2).

In-process tests (``WebsocketCommunicator``) only see ``(False, code)`` for a refused socket; here every check looks
at the real HTTP status of the opening handshake: 403 for a refusal before accept, 101 for an accepted socket.
Where Channels' documentation is silent (scheme, port, case, repeated headers) the observed status is recorded as
INFORMATIONAL rather than judged.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake

from harness.conformance.app_client import (
    SAME_ORIGIN,
    AppTarget,
    handshake_status,
    login,
    logout,
    open_socket,
)
from harness.conformance.model import CheckResult, CloseVerdict, Verdict

__all__ = ["AppTarget", "OriginProbe", "origin_probes", "run_security_checks"]

SRC_ORIGIN = "Channels docs: OriginValidator / AllowedHostsOriginValidator (channels/security/websocket.py)"
SRC_HOSTS = "Django docs: ALLOWED_HOSTS; Channels docs: AllowedHostsOriginValidator"
SRC_RFC6454 = "RFC 6454 §7.3 (at most one Origin header); Channels docs: OriginValidator"
SRC_PROTO = "docs/protocols.md (top: Origin, session, unknown path → HTTP 403)"
SRC_AUTH = "Channels docs: AuthMiddlewareStack; docs/protocols.md (anonymous → HTTP 403)"
SRC_DJANGO_AUTH = "Django docs: LoginView / LogoutView, session invalidation on logout"
SRC_KIOSK = "docs/protocols.md#timeclock-kiosk--wsterminalterminal_id"


@dataclass(frozen=True)
class OriginProbe:
    """One handshake of the Origin matrix: the Origin header values to send and the status the spec asks for."""

    id: str
    description: str
    #: Origin header values, in order; empty tuple: no Origin header at all.
    origins: tuple[str, ...]
    #: 403 or 101; None where the documentation does not say (the result is INFORMATIONAL).
    expected: int | None
    source: str


def _hosts(target: AppTarget) -> tuple[str, int, str]:
    host, port = target.host_port
    shown = f"[{host}]" if ":" in host else host
    # A subdomain only makes sense under a name, never under an IP literal.
    name = next((h for h in target.allowed_hosts if not h.startswith("[") and not h.replace(".", "").isdigit()), host)
    return shown, port, name


def origin_probes(target: AppTarget) -> list[OriginProbe]:
    host, port, name = _hosts(target)
    other_port = port + 1 if port < 65535 else port - 1
    probes = [
        OriginProbe("P1.1", "no Origin header", (), 403, SRC_ORIGIN),
        OriginProbe("P1.2", "empty Origin header", ("",), 403, SRC_ORIGIN),
        OriginProbe("P1.3", 'opaque origin "null" (sandboxed iframe, file://)', ("null",), 403, SRC_ORIGIN),
        OriginProbe("P1.4", "foreign host", ("http://evil.example",), 403, SRC_HOSTS),
        OriginProbe(
            "P1.5",
            "suffix trick: allowed host as a prefix label",
            (f"http://{host}.evil.example:{port}",),
            403,
            SRC_HOSTS,
        ),
        OriginProbe(
            "P1.6", "userinfo trick: allowed host before '@'", (f"http://{host}@evil.example",), 403, SRC_HOSTS
        ),
        OriginProbe(
            "P1.7",
            f"subdomain of the allowed name {name!r} (no leading dot in ALLOWED_HOSTS)",
            (f"http://sub.{name}:{port}",),
            403,
            SRC_HOSTS,
        ),
        OriginProbe("P1.8", "allowed host, exact origin of the page", (SAME_ORIGIN,), 101, SRC_PROTO),
        OriginProbe("P1.9", "scheme mismatch (https)", (f"https://{host}:{port}",), None, SRC_ORIGIN),
        OriginProbe("P1.10", "port mismatch", (f"http://{host}:{other_port}",), None, SRC_ORIGIN),
        OriginProbe("P1.11", "allowed host without a port", (f"http://{host}",), None, SRC_ORIGIN),
        OriginProbe("P1.12", "allowed name in upper case", (f"http://{name.upper()}:{port}",), None, SRC_ORIGIN),
        OriginProbe(
            "P1.13",
            "two Origin headers: foreign first, allowed last",
            ("http://evil.example", SAME_ORIGIN),
            None,
            SRC_RFC6454,
        ),
        OriginProbe(
            "P1.14",
            "two Origin headers: allowed first, foreign last",
            (SAME_ORIGIN, "http://evil.example"),
            None,
            SRC_RFC6454,
        ),
    ]
    for offset, allowed in enumerate(h for h in target.allowed_hosts if h not in {host, target.host_port[0]}):
        probes.append(
            OriginProbe(
                f"P1.{16 + offset}", f"other allowed host {allowed}", (f"http://{allowed}:{port}",), 101, SRC_HOSTS
            )
        )
    return probes


def _result(
    check_id: str,
    category: str,
    source: str,
    behaviour: Verdict,
    started: float,
    notes: list[str],
    log: list[str] | None = None,
) -> CheckResult:
    return CheckResult(
        id=check_id,
        group="security",
        category=category,
        source=source,
        behaviour=behaviour,
        behaviour_close=CloseVerdict.NOT_APPLICABLE,
        remote_close_code=None,
        duration_s=time.monotonic() - started,
        wire_log=log or [],
        notes=notes,
    )


def _status_check(
    check_id: str,
    category: str,
    source: str,
    description: str,
    expected: int | None,
    probe: Callable[[], int],
) -> CheckResult:
    started = time.monotonic()
    try:
        status = probe()
    except (OSError, InvalidHandshake) as exc:
        return _result(check_id, category, source, Verdict.FAILED, started, [f"{description}: {exc!r}"])
    if expected is None:
        return _result(check_id, category, source, Verdict.INFORMATIONAL, started, [f"{description}: HTTP {status}"])
    if status == expected:
        verdict = Verdict.OK
    elif expected >= 400 and 400 <= status < 500:
        # Refused all the same, by the server's own handshake parser rather than the app's validator.
        verdict = Verdict.NON_STRICT
    else:
        verdict = Verdict.FAILED
    return _result(
        check_id, category, source, verdict, started, [f"{description}: expected HTTP {expected}, got HTTP {status}"]
    )


def _origin_checks(target: AppTarget, path: str, session: str) -> list[CheckResult]:
    results = []
    for probe in origin_probes(target):
        headers = [("Origin", target.http_url if o == SAME_ORIGIN else o) for o in probe.origins]

        def run(headers: list[tuple[str, str]] = headers) -> int:
            return handshake_status(target, path, origin=None, session=session, headers=headers)

        shown = ", ".join(repr(value) for _, value in headers) or "none"
        results.append(
            _status_check(
                probe.id, "origin", probe.source, f"{probe.description} (Origin: {shown})", probe.expected, run
            )
        )
    started = time.monotonic()
    status = handshake_status(target, "/ws/no-such-endpoint/", session=session)
    results.append(
        _result(
            "P1.15",
            "origin",
            SRC_PROTO,
            Verdict.OK if status == 403 else Verdict.FAILED,
            started,
            [f"unknown path with allowed Origin and a valid session: expected HTTP 403, got HTTP {status}"],
        )
    )
    return results


def _welcome_user(target: AppTarget, path: str, session: str) -> str | None:
    try:
        with open_socket(target, path, session=session) as ws:
            welcome = ws.wait_for("welcome")
    except (OSError, InvalidHandshake, ConnectionClosed):
        return None
    return None if welcome is None else str(welcome.get("user"))


def _session_checks(target: AppTarget, chat: str) -> list[CheckResult]:
    users = target.users
    first = users[0]
    results = [
        _status_check(
            "P2.1", "auth", SRC_AUTH, "anonymous chat handshake", 403, lambda: handshake_status(target, chat)
        ),
        _status_check(
            "P2.2",
            "auth",
            SRC_AUTH,
            "anonymous notifications handshake",
            403,
            lambda: handshake_status(target, "/ws/notifications/"),
        ),
    ]
    started = time.monotonic()
    seen = [_welcome_user(target, chat, first["session"]) for _ in range(2)]
    results.append(
        _result(
            "P2.3",
            "auth",
            SRC_AUTH,
            Verdict.OK if seen == [first["username"]] * 2 else Verdict.FAILED,
            started,
            [f"session of {first['username']} on two consecutive sockets: welcome.user {seen}"],
        )
    )
    garbage = secrets.token_hex(16)
    results.append(
        _status_check(
            "P2.4",
            "auth",
            SRC_AUTH,
            "session cookie that names no session",
            403,
            lambda: handshake_status(target, chat, session=garbage),
        )
    )
    results.append(
        _status_check(
            "P2.5",
            "auth",
            SRC_AUTH,
            "session cookie with characters a cookie cannot carry",
            403,
            lambda: handshake_status(target, chat, session="x';DROP--%00"),
        )
    )
    results.extend(_login_logout_checks(target, chat))
    return results


def _login_logout_checks(target: AppTarget, chat: str) -> list[CheckResult]:
    # The last demo user, so the other checks' sessions survive this user's password-hash upgrade on login.
    user = target.users[-1]
    results: list[CheckResult] = []
    started = time.monotonic()
    session, csrf = login(target, user["username"], user["password"])
    if session is None or csrf is None:
        results.append(
            _result("P2.6", "auth", SRC_DJANGO_AUTH, Verdict.FAILED, started, ["login form set no session cookie"])
        )
        return results
    who = _welcome_user(target, chat, session)
    results.append(
        _result(
            "P2.6",
            "auth",
            SRC_DJANGO_AUTH,
            Verdict.OK if who == user["username"] else Verdict.FAILED,
            started,
            [f"logged in through /accounts/login/; the new session cookie opens the socket as {who!r}"],
        )
    )
    started = time.monotonic()
    premade = handshake_status(target, chat, session=user["session"])
    results.append(
        _result(
            "P2.7",
            "auth",
            "Django docs: password upgrade on login; session verification (HASH_SESSION_KEY)",
            Verdict.INFORMATIONAL,
            started,
            [f"the user's pre-made session from the credentials file after a form login: HTTP {premade}"],
        )
    )
    started = time.monotonic()
    notes = []
    still_served: bool | None = None
    status = 0
    try:
        with open_socket(target, chat, session=session) as ws:
            ws.wait_for("welcome")
            status = logout(target, session, csrf)
            notes.append(f"POST /accounts/logout/: HTTP {status}")
            ws.drain()
            ws.send_json({"type": "ping", "id": "after-logout"})
            still_served = ws.wait_for("pong", id="after-logout") is not None
    except ConnectionClosed as exc:
        still_served = False
        notes.append(f"socket closed: {exc!r}")
    results.append(
        _result(
            "P2.8",
            "auth",
            "Channels docs: AuthMiddlewareStack (scope['user'] is read at connect)",
            Verdict.INFORMATIONAL,
            started,
            [*notes, f"socket opened before the logout still served: {still_served}"],
        )
    )
    results.append(
        _status_check(
            "P2.9",
            "auth",
            SRC_DJANGO_AUTH,
            f"reconnect with the logged-out session (logout answered HTTP {status})",
            403,
            lambda: handshake_status(target, chat, session=session),
        )
    )
    return results


def _kiosk_checks(target: AppTarget) -> list[CheckResult]:
    terminals: list[dict[str, Any]] = list(target.credentials["terminals"])
    first, second = terminals[0], terminals[1]
    path = f"/ws/terminal/{first['id']}/"
    unknown_id = max(int(t["id"]) for t in terminals) + 1000
    user_session = target.users[0]["session"]
    cases: list[tuple[str, str, int, Callable[[], int]]] = [
        ("P2.10", "kiosk without a token", 403, lambda: handshake_status(target, path)),
        ("P2.11", "kiosk with a wrong token", 403, lambda: handshake_status(target, f"{path}?token=wrong")),
        (
            "P2.12",
            "kiosk with another terminal's token",
            403,
            lambda: handshake_status(target, f"{path}?token={second['token']}"),
        ),
        (
            "P2.13",
            "unknown terminal id with a valid token",
            403,
            lambda: handshake_status(target, f"/ws/terminal/{unknown_id}/?token={first['token']}"),
        ),
        (
            "P2.14",
            "kiosk with a user session but no token",
            403,
            lambda: handshake_status(target, path, session=user_session),
        ),
        (
            "P2.15",
            "kiosk token in the X-Terminal-Token header",
            101,
            lambda: handshake_status(target, path, headers=[("X-Terminal-Token", first["token"])]),
        ),
        ("P2.16", "kiosk token in ?token=", 101, lambda: handshake_status(target, f"{path}?token={first['token']}")),
    ]
    return [_status_check(cid, "kiosk-auth", SRC_KIOSK, text, want, probe) for cid, text, want, probe in cases]


def run_security_checks(target: AppTarget) -> list[CheckResult]:
    """P1 (Origin matrix) and P2 (sessions, login/logout, kiosk tokens) against a running app."""
    room = target.credentials["rooms"][0]["slug"]
    chat = f"/ws/chat/{room}/"
    results = _origin_checks(target, chat, target.users[0]["session"])
    results.extend(_session_checks(target, chat))
    results.extend(_kiosk_checks(target))
    return results
