"""Authorization fuzz (conformance group ``authz``): can user A obtain user B's notifications, or terminal 1's
kiosk another terminal's punches? (docs/reliability.md#authorization-fuzz)

Thousands of seeded attempts by an attacker who holds A's session and terminal 1's token, each a WebSocket handshake
(and, where the socket is accepted, one message), over families of tricks:

* ``notifications.query`` / ``.path`` / ``.header``: B's id, username or group name in the query string, the path,
  or headers a proxy might trust (``X-User-Id``, ``X-Forwarded-User`` …);
* ``notifications.payload``: messages on A's own socket that name B or B's group (``subscribe``, ``join``, ``ack``
  of B's notification ids …);
* ``notifications.cookie``: B's session cookie replayed after B logged out, alone or beside A's;
* ``kiosk.cross`` / ``.token`` / ``.path`` / ``.payload``: terminal 1's token, or guesses derived from it, on the
  path of terminal 2; path tricks; messages on terminal 1's socket naming terminal 2 or its group;
* ``chat.group``: chat rooms named like the private groups (``notify.user.<B>``, ``timeclock.terminal.<2>``).

After each batch, a notification with a fresh marker is published to B and a punch with a fresh event id is stored
for terminal 2 (through the app's own service APIs). A leak is any attacker socket that receives either marker, is
welcomed as B or as terminal 2, or is told that one of B's notification ids was acknowledged. B's own socket and
terminal 2's own kiosk are the controls: each must receive its marker every batch, or the batch proves nothing and
the check says so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TypeVar
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from harness.conformance.app_client import AppTarget, login, logout, post_json
from harness.conformance.model import CheckResult, CloseVerdict, Verdict

__all__ = ["FAMILIES", "Attempt", "AuthzReport", "attempts", "run_authz_fuzz"]

SOURCE: Final = (
    "docs/protocols.md (notifications: the group is derived from the authenticated user only; kiosk: the terminal's "
    "own token); OWASP WSTG-ATHZ-02 (bypassing authorization schema)"
)
FAMILIES: Final = (
    "notifications.query",
    "notifications.path",
    "notifications.header",
    "notifications.payload",
    "notifications.cookie",
    "kiosk.cross",
    "kiosk.token",
    "kiosk.path",
    "kiosk.payload",
    "chat.group",
)
T = TypeVar("T")
_TOKEN_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#: Handshakes in flight at once: enough to go fast, few enough for a 2-core machine running the server too.
_CONCURRENCY: Final = 16
_BATCH: Final = 250


@dataclass(frozen=True)
class Attempt:
    """One handshake of the attacker, and the message it sends if the socket is accepted."""

    family: str
    path: str
    #: Which cookie to send: "a" (the attacker's session), "b_dead" (B's, after B logged out), "both", or None.
    session: str | None
    headers: tuple[tuple[str, str], ...] = ()
    message: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return json.dumps([self.family, self.path, self.session, self.headers, self.message], sort_keys=True)


@dataclass(frozen=True)
class _Parties:
    a_id: int
    a_name: str
    b_id: int
    b_name: str
    t1: int
    t1_token: str
    t2: int
    b_notification_ids: tuple[int, ...] = ()


def _case(rng: random.Random, text: str) -> str:
    return "".join(c.upper() if rng.random() < 0.3 else c for c in text)


def _generators(p: _Parties) -> dict[str, Callable[[random.Random, int], Attempt]]:
    b_values = [str(p.b_id), p.b_name, f"notify.user.{p.b_id}", f"{p.a_id},{p.b_id}", f"{p.b_id}%00", f" {p.b_id}"]
    b_keys = ["user", "user_id", "uid", "id", "username", "group", "as", "impersonate", "for", "channel"]
    t2_groups = [f"timeclock.terminal.{p.t2}", f"timeclock.terminal.{p.t2}*", str(p.t2)]

    def query(rng: random.Random, n: int) -> Attempt:
        key, value = b_keys[n % len(b_keys)], b_values[(n // len(b_keys)) % len(b_values)]
        extra = rng.choice(["", f"&{key}={p.a_id}", f"&{rng.choice(b_keys)}={quote(p.b_name)}"])
        first = f"{key}={p.a_id}&" if rng.random() < 0.3 else ""
        return Attempt("notifications.query", f"/ws/notifications/?{first}{key}={quote(value)}{extra}", "a")

    def path(rng: random.Random, n: int) -> Attempt:
        tail = _nth(
            n,
            [
                f"{p.b_id}/",
                f"{p.b_name}/",
                f"../notifications/?user={p.b_id}",
                f"%2e%2e/{p.b_id}/",
                f"notify.user.{p.b_id}/",
                f"/{p.b_id}",
                f";user={p.b_id}",
                f"?/{p.b_id}",
            ],
        )
        return Attempt("notifications.path", f"/ws/notifications/{tail}", "a")

    def header(rng: random.Random, n: int) -> Attempt:
        name = _nth(
            n, ["X-User-Id", "X-Forwarded-User", "X-Remote-User", "Remote-User", "X-Auth-User", "X-Impersonate"]
        )
        value = rng.choice([str(p.b_id), p.b_name, _case(rng, p.b_name)])
        session = rng.choice(["a", None])
        return Attempt("notifications.header", "/ws/notifications/", session, ((name, value),))

    def payload(rng: random.Random, n: int) -> Attempt:
        ids = list(p.b_notification_ids[-5:]) or [p.b_id]
        messages: list[dict[str, Any]] = [
            {"type": "subscribe", "user": p.b_id},
            {"type": "join", "group": f"notify.user.{p.b_id}"},
            {"type": f"notify.user.{p.b_id}"},
            {"type": "ack", "ids": ids},
            {"type": "notification", "user": p.b_id},
            {"type": "group_add", "group": f"notify.user.{p.b_id}", "channel": "x"},
            {"type": "ping", "client": f"notify.user.{p.b_id}"},
            {"type": "websocket.receive", "user": p.b_name},
        ]
        return Attempt("notifications.payload", "/ws/notifications/", "a", message=_nth(n, messages))

    def cookie(rng: random.Random, n: int) -> Attempt:
        session = _nth(n, ["b_dead", "both"])
        suffix = _nth(n // 2, ["", f"?user={p.b_id}"])
        return Attempt("notifications.cookie", f"/ws/notifications/{suffix}", session)

    def cross(rng: random.Random, n: int) -> Attempt:
        if n % 2 == 0:
            return Attempt("kiosk.cross", f"/ws/terminal/{p.t2}/?token={p.t1_token}", None)
        return Attempt("kiosk.cross", f"/ws/terminal/{p.t2}/", None, (("X-Terminal-Token", p.t1_token),))

    def token(rng: random.Random, n: int) -> Attempt:
        guess = _nth(
            n,
            [
                "",
                "null",
                "*",
                p.t1_token.upper(),
                p.t1_token + " ",
                p.t1_token[:-1],
                quote(p.t1_token + "&token="),
                f"{p.t1_token}&terminal={p.t2}",
                str(p.t2),
                "".join(rng.choice(_TOKEN_ALPHABET) for _ in range(len(p.t1_token))),
            ],
        )
        return Attempt("kiosk.token", f"/ws/terminal/{p.t2}/?token={quote(guess)}", None)

    def kpath(rng: random.Random, n: int) -> Attempt:
        tail = _nth(
            n,
            [
                f"0{p.t2}/?token={p.t1_token}",
                f"{p.t1}/../{p.t2}/?token={p.t1_token}",
                f"{p.t1}/?token={p.t1_token}&terminal={p.t2}",
                f"{p.t1}/?token={p.t1_token}&group=timeclock.terminal.{p.t2}",
                f"{p.t2}%2F/?token={p.t1_token}",
                f"+{p.t2}/?token={p.t1_token}",
            ],
        )
        return Attempt("kiosk.path", f"/ws/terminal/{tail}", None)

    def kpayload(rng: random.Random, n: int) -> Attempt:
        messages: list[dict[str, Any]] = [
            {"type": "subscribe", "terminal": p.t2},
            {"type": "join", "group": rng.choice(t2_groups)},
            {"type": "kiosk.event", "terminal": p.t2},
            {"type": "ping", "client": f"timeclock.terminal.{p.t2}"},
        ]
        return Attempt("kiosk.payload", f"/ws/terminal/{p.t1}/?token={p.t1_token}", None, message=_nth(n, messages))

    def chat(rng: random.Random, n: int) -> Attempt:
        room = _nth(
            n,
            [f"notify.user.{p.b_id}", f"timeclock.terminal.{p.t2}", f"notify-user-{p.b_id}", "chat.room", "..", "%2e"],
        )
        return Attempt("chat.group", f"/ws/chat/{room}/", "a")

    return {
        "notifications.query": query,
        "notifications.path": path,
        "notifications.header": header,
        "notifications.payload": payload,
        "notifications.cookie": cookie,
        "kiosk.cross": cross,
        "kiosk.token": token,
        "kiosk.path": kpath,
        "kiosk.payload": kpayload,
        "chat.group": chat,
    }


def _nth(n: int, variants: Sequence[T]) -> T:
    return variants[n % len(variants)]


def attempts(parties: _Parties, count: int, rng: random.Random) -> list[Attempt]:
    """``count`` attempts, the families taking turns, and each family's variants in turn (the seed decorates them:
    case, extra parameters, random tokens)."""
    generators = _generators(parties)
    return [generators[FAMILIES[i % len(FAMILIES)]](rng, i // len(FAMILIES)) for i in range(count)]


@dataclass
class _FamilyCount:
    attempts: int = 0
    distinct: set[str] = field(default_factory=set)
    refused: int = 0
    closed: int = 0
    opened: int = 0
    leaks: list[str] = field(default_factory=list)


@dataclass
class AuthzReport:
    families: dict[str, _FamilyCount] = field(default_factory=dict)
    batches: int = 0
    #: Batches whose controls did not receive their markers: their attempts prove nothing.
    blind_batches: list[str] = field(default_factory=list)

    @property
    def leaks(self) -> int:
        return sum(len(f.leaks) for f in self.families.values())


@dataclass
class _Open:
    attempt: Attempt
    ws: ClientConnection
    received: list[dict[str, Any]] = field(default_factory=list)


def _ws(target: AppTarget, path: str) -> str:
    return f"{target.ws_url}{path}"


async def _reader(socket: _Open) -> None:
    try:
        async for raw in socket.ws:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if isinstance(message, dict):
                socket.received.append(message)
    except ConnectionClosed:
        pass


class _Fuzzer:
    def __init__(self, target: AppTarget, parties: _Parties, sessions: dict[str, str | None], employee_serial: str):
        self.target = target
        self.parties = parties
        self.sessions = sessions
        self.serial = employee_serial
        self.report = AuthzReport({f: _FamilyCount() for f in FAMILIES})
        #: Every marker published so far: a backlog replayed to the wrong socket carries older ones.
        self.markers: set[str] = set()

    def _headers(self, attempt: Attempt) -> list[tuple[str, str]]:
        headers = [("Origin", self.target.http_url), *attempt.headers]
        name = self.target.cookie_name
        if attempt.session == "a":
            headers.append(("Cookie", f"{name}={self.sessions['a']}"))
        elif attempt.session == "b_dead":
            headers.append(("Cookie", f"{name}={self.sessions['b_dead']}"))
        elif attempt.session == "both":
            headers.append(("Cookie", f"{name}={self.sessions['a']}; {name}={self.sessions['b_dead']}"))
        return headers

    async def _open(self, attempt: Attempt, slots: asyncio.Semaphore) -> _Open | None:
        count = self.report.families[attempt.family]
        count.attempts += 1
        count.distinct.add(attempt.key)
        async with slots:
            try:
                ws = await connect(
                    _ws(self.target, attempt.path),
                    additional_headers=self._headers(attempt),
                    open_timeout=self.target.timeout,
                    max_size=None,
                )
            except InvalidStatus:
                count.refused += 1
                return None
            except (OSError, TimeoutError, InvalidHandshake):
                count.refused += 1
                return None
        socket = _Open(attempt, ws)
        try:
            welcome = json.loads(await asyncio.wait_for(ws.recv(), self.target.timeout))
        except (TimeoutError, ConnectionClosed, ValueError):
            count.closed += 1
            await ws.close()
            return None
        count.opened += 1
        socket.received.append(welcome if isinstance(welcome, dict) else {})
        if attempt.message is not None:
            try:
                await ws.send(json.dumps(attempt.message))
            except ConnectionClosed:
                pass
        return socket

    async def _control(self, path: str, session: str | None) -> _Open:
        headers = [("Origin", self.target.http_url)]
        if session is not None:
            headers.append(("Cookie", f"{self.target.cookie_name}={session}"))
        ws = await connect(_ws(self.target, path), additional_headers=headers, open_timeout=self.target.timeout)
        socket = _Open(Attempt("control", path, None), ws)
        await asyncio.wait_for(ws.recv(), self.target.timeout)
        return socket

    async def _markers(self, batch: int) -> tuple[str, str]:
        marker = f"authz-{batch}-{secrets.token_hex(6)}"
        event_id = f"authz-{batch}-{secrets.token_hex(6)}"
        token = self.target.service_token
        reply = await asyncio.to_thread(
            post_json, self.target, "/api/notifications/", {"user": self.parties.b_id, "title": marker}, token
        )
        if reply.status != 201:
            raise RuntimeError(f"publishing to B failed: HTTP {reply.status} {reply.body[:200]!r}")
        created = json.loads(reply.body)["notifications"]
        self.parties = dataclasses.replace(
            self.parties, b_notification_ids=(*self.parties.b_notification_ids, created[0]["id"])
        )
        self.markers |= {marker, event_id}
        body = {
            "reader": self.parties.t2,
            "key_serial": self.serial,
            "event_id": event_id,
            "inserted_at": datetime.now(UTC).isoformat(),
        }
        reply = await asyncio.to_thread(post_json, self.target, "/api/timeclock/events/", body, token)
        if reply.status != 202:
            raise RuntimeError(f"storing a punch for terminal {self.parties.t2} failed: HTTP {reply.status}")
        return marker, event_id

    def _leak(self, socket: _Open) -> str | None:
        p = self.parties
        for message in socket.received:
            text = json.dumps(message)
            if any(marker in text for marker in self.markers):
                return f"{socket.attempt.path}: received {message.get('type')!r} meant for B or terminal {p.t2}"
            if message.get("type") == "welcome" and (
                message.get("user") in (p.b_name, p.b_id) or (message.get("terminal") or {}).get("id") == p.t2
            ):
                return f"{socket.attempt.path}: welcomed as {message.get('user') or message.get('terminal')}"
            acked = set(message.get("ids") or []) if message.get("type") == "acked" else set()
            if acked & set(p.b_notification_ids):
                return f"{socket.attempt.path}: acknowledged B's notification(s) {sorted(acked)}"
        return None

    async def run(self, plan: list[Attempt]) -> AuthzReport:
        slots = asyncio.Semaphore(_CONCURRENCY)
        b_control = await self._control("/ws/notifications/", self.sessions["b"])
        t2_control = await self._control(f"/ws/terminal/{self.parties.t2}/?token={self.sessions['t2_token']}", None)
        controls = [b_control, t2_control]
        control_tasks = [asyncio.create_task(_reader(c)) for c in controls]
        try:
            for start in range(0, len(plan), _BATCH):
                await self._batch(plan[start : start + _BATCH], slots, b_control, t2_control)
        finally:
            for task in control_tasks:
                task.cancel()
            await asyncio.gather(*control_tasks, return_exceptions=True)
            await asyncio.gather(*(c.ws.close() for c in controls), return_exceptions=True)
        return self.report

    async def _batch(self, batch: list[Attempt], slots: asyncio.Semaphore, b_control: _Open, t2_control: _Open) -> None:
        self.report.batches += 1
        opened = [s for s in await asyncio.gather(*(self._open(a, slots) for a in batch)) if s is not None]
        readers = [asyncio.create_task(_reader(s)) for s in opened]
        try:
            # Let the messages the attempts sent be handled before the markers go out.
            await asyncio.sleep(0.2)
            marker, event_id = await self._markers(self.report.batches)
            deadline = time.monotonic() + 10 * self.target.timeout
            seen = False
            while time.monotonic() < deadline:
                b_seen = any(marker in json.dumps(m) for m in b_control.received)
                t2_seen = any(event_id in json.dumps(m) for m in t2_control.received)
                if b_seen and t2_seen:
                    seen = True
                    break
                await asyncio.sleep(0.05)
            # A leaked copy would travel the same layer as the controls' own: a moment more covers its delay.
            await asyncio.sleep(0.3)
            if not seen:
                self.report.blind_batches.append(
                    f"batch {self.report.batches}: B's socket or terminal {self.parties.t2}'s kiosk did not receive "
                    "its marker"
                )
            for socket in opened:
                leak = self._leak(socket)
                if leak is not None:
                    self.report.families[socket.attempt.family].leaks.append(leak)
        finally:
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            await asyncio.gather(*(s.ws.close() for s in opened), return_exceptions=True)


def _setup(target: AppTarget) -> tuple[_Parties, dict[str, str | None], str]:
    """The attacker A, the victim B (whose second session is logged out to be replayed), terminals 1 and 2."""
    users = target.users
    terminals = sorted(target.credentials["terminals"], key=lambda t: t["id"])
    if len(users) < 2 or len(terminals) < 2:
        raise ValueError("the authorization fuzz needs two demo users and two terminals in the credentials")
    a, b = users[0], users[1]
    t1, t2 = terminals[0], terminals[1]
    # B logs in through the form twice: the first login may rehash B's password, which ends the session the demo
    # data prepared, so B's own (control) socket uses the first new session; the second is logged out, to replay.
    live, _ = login(target, b["username"], b["password"])
    dead, csrf = login(target, b["username"], b["password"])
    if live is None or dead is None or csrf is None:
        raise ValueError(f"user {b['username']} could not log in through /accounts/login/ with the credentials file")
    if logout(target, dead, csrf) not in (200, 302):
        raise ValueError(f"user {b['username']} could not log out through /accounts/logout/")
    parties = _Parties(a["id"], a["username"], b["id"], b["username"], t1["id"], t1["token"], t2["id"])
    sessions: dict[str, str | None] = {"a": a["session"], "b": live, "b_dead": dead, "t2_token": t2["token"]}
    serial = target.credentials["employees"][0]["key_serial"]
    return parties, sessions, str(serial)


def run_authz_fuzz(target: AppTarget, *, count: int = 10_000, seed: int = 1) -> list[CheckResult]:
    """``count`` attempts against ``target``; one check per family (FAILED on any leak, INFORMATIONAL when the
    controls went blind) and one for the whole run."""
    started = time.monotonic()
    parties, sessions, serial = _setup(target)
    plan = attempts(parties, count, random.Random(seed))
    fuzzer = _Fuzzer(target, parties, sessions, serial)
    report = asyncio.run(fuzzer.run(plan))
    results = []
    for family, counted in report.families.items():
        behaviour = Verdict.FAILED if counted.leaks else Verdict.OK
        notes = [
            f"{counted.attempts} attempts ({len(counted.distinct)} distinct): {counted.refused} refused at the "
            f"handshake, {counted.closed} closed before a welcome, {counted.opened} opened; "
            f"{len(counted.leaks)} leaks",
            *counted.leaks[:10],
        ]
        results.append(_result(f"authz.{family}", behaviour, started, notes))
    blind = report.blind_batches
    summary = (
        f"{sum(f.attempts for f in report.families.values())} attempts in {report.batches} batches, "
        f"{report.leaks} leaks; controls (B's socket, terminal {parties.t2}'s kiosk) received every marker"
        if not blind
        else f"{len(blind)} of {report.batches} batches blind: their attempts prove nothing"
    )
    verdict = Verdict.FAILED if report.leaks else (Verdict.INFORMATIONAL if blind else Verdict.OK)
    results.append(_result("authz.summary", verdict, started, [summary, *blind[:10]]))
    return results


def _result(check_id: str, behaviour: Verdict, started: float, notes: list[str]) -> CheckResult:
    return CheckResult(
        id=check_id,
        group="authz",
        category="authorization fuzz",
        source=SOURCE,
        behaviour=behaviour,
        behaviour_close=CloseVerdict.NOT_APPLICABLE,
        remote_close_code=None,
        duration_s=time.monotonic() - started,
        notes=notes,
    )
