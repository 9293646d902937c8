"""The reference app's own protocol over the wire (P4): schemas, fan-out, isolation, order, privacy, errors, kiosk.

Every JSON message any check receives is kept and validated at the end against ``docs/schemas/server`` (P4.1.x), so
a field the protocol does not document fails even in a check about something else. The checks need at least seven
demo users, two rooms, two terminals and one employee; each uses its own users, so their traffic does not mix.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from harness.conformance.app_client import AppSocket, AppTarget, handshake_status, open_socket, post_json
from harness.conformance.model import CheckResult, CloseVerdict, Verdict

__all__ = ["DEFAULT_SCHEMA_DIR", "SECTIONS", "SchemaSet", "run_app_checks"]

DEFAULT_SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "schemas"

SRC_COMMON = "docs/protocols.md#common-to-every-endpoint"
SRC_CHAT = "docs/protocols.md#chat--wschatroom"
SRC_NOTIFY = "docs/protocols.md#notifications--wsnotifications"
SRC_PUBLISH = "docs/protocols.md#publish-api--post-apinotifications"
SRC_KIOSK = "docs/protocols.md#timeclock-kiosk--wsterminalterminal_id"
SRC_EVENTS = "docs/protocols.md#event-api--post-apitimeclockevents"
SRC_SCHEMA = "docs/schemas/"

#: Senders and messages per sender of the fan-out check: each member must receive exactly SENDERS * PER_SENDER.
SENDERS = 3
PER_SENDER = 5


class SchemaSet:
    """The server→client and client→server schemas, looked up by (endpoint, type), endpoint-specific first."""

    def __init__(self, directory: Path = DEFAULT_SCHEMA_DIR) -> None:
        self.validators: dict[tuple[str, str, str], Draft202012Validator] = {}
        for path in sorted(directory.glob("*/*.json")):
            endpoint, _, message_type = path.stem.partition(".")
            schema = json.loads(path.read_text())
            Draft202012Validator.check_schema(schema)
            self.validators[(path.parent.name, endpoint, message_type)] = Draft202012Validator(schema)

    def validator(self, direction: str, endpoint: str, message_type: str) -> Draft202012Validator | None:
        return self.validators.get((direction, endpoint, message_type)) or self.validators.get(
            (direction, "common", message_type)
        )

    def errors(self, direction: str, endpoint: str, message: Any) -> list[str]:
        message_type = message.get("type") if isinstance(message, dict) else None
        validator = self.validator(direction, endpoint, str(message_type))
        if validator is None:
            return [f"no {direction} schema for type {message_type!r} on {endpoint}"]
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(message)
        ]


@dataclass
class _Outcome:
    """What a check body reports: a verdict (True OK, False FAILED, None N/A) and why."""

    ok: bool | None
    notes: list[str]
    close_code: int | None = None


class _Run:
    def __init__(self, target: AppTarget, schemas: SchemaSet) -> None:
        self.target = target
        self.schemas = schemas
        self.results: list[CheckResult] = []
        self.users = target.users
        self.rooms = [r["slug"] for r in target.credentials["rooms"]]
        self.tag = secrets.token_hex(3)

    def check(self, check_id: str, category: str, source: str, body: Callable[[], _Outcome]) -> None:
        started = time.monotonic()
        try:
            outcome = body()
        except (OSError, InvalidHandshake, ConnectionClosed, AssertionError, KeyError, ValueError) as exc:
            # A check that cannot even run its traffic is a failure of the app, not of the harness.
            outcome = _Outcome(False, [f"{type(exc).__name__}: {exc}"])
        behaviour = {True: Verdict.OK, False: Verdict.FAILED, None: Verdict.NOT_APPLICABLE}[outcome.ok]
        self.results.append(
            CheckResult(
                id=check_id,
                group="app",
                category=category,
                source=source,
                behaviour=behaviour,
                behaviour_close=CloseVerdict.NOT_APPLICABLE if outcome.close_code is None else CloseVerdict.OK,
                remote_close_code=outcome.close_code,
                duration_s=time.monotonic() - started,
                notes=outcome.notes,
            )
        )


def _expect(condition: bool, note: str, failures: list[str]) -> None:
    if not condition:
        failures.append(note)


def _wait_joined(sockets: list[AppSocket], last_user: str) -> None:
    # The last member's join reaches a socket only after that socket is in the group, so all are members after this.
    for ws in sockets:
        assert ws.wait_for("presence", event="join", user=last_user) is not None, "join of the last member not seen"


def _chat_checks(run: _Run) -> None:
    target = run.target
    members = [run.users[i] for i in range(SENDERS)]
    outsider = run.users[SENDERS]
    received: dict[str, list[dict[str, Any]]] = {}
    outsider_seen: list[dict[str, Any]] = []
    leave_seen: dict[str, bool] = {}
    rich_client = {"nested": [1, 2.5, None, True], "text": "zählt ✓", "empty": {}}

    def traffic() -> None:
        sockets: list[AppSocket] = []
        room_a, room_b = f"/ws/chat/{run.rooms[0]}/", f"/ws/chat/{run.rooms[1]}/"
        with open_socket(target, room_b, session=outsider["session"]) as other:
            other.wait_for("welcome")
            contexts = [open_socket(target, room_a, session=m["session"]) for m in members]
            try:
                sockets = [c.__enter__() for c in contexts]
                _wait_joined(sockets, members[-1]["username"])
                for seq in range(PER_SENDER):
                    for ws, member in zip(sockets, members, strict=True):
                        ws.send_json(
                            {
                                "type": "message",
                                "text": f"{member['username']} #{seq}",
                                "id": f"{member['username']}-{seq}-{run.tag}",
                                "seq": seq,
                                "sent_at": seq + 0.25,
                                "client": rich_client,
                            }
                        )
                other.send_json({"type": "message", "text": "only room B", "id": f"b-{run.tag}"})
                for ws, member in zip(sockets, members, strict=True):
                    got: list[dict[str, Any]] = []
                    deadline = time.monotonic() + target.timeout
                    while len(got) < SENDERS * PER_SENDER and time.monotonic() < deadline:
                        message = ws.recv(deadline - time.monotonic())
                        if message is not None and message.get("type") == "message":
                            got.append(message)
                    got.extend(m for m in ws.drain() if m.get("type") == "message")
                    received[member["username"]] = got
                outsider_seen.extend(m for m in other.drain() if m.get("type") == "message")
                # The first member leaves; the others must see its leave.
                contexts[0].__exit__(None, None, None)
                contexts = contexts[1:]
                for ws, member in zip(sockets[1:], members[1:], strict=True):
                    leave = ws.wait_for("presence", event="leave", user=members[0]["username"])
                    leave_seen[member["username"]] = leave is not None
            finally:
                for context in contexts:
                    context.__exit__(None, None, None)

    broken: list[str] = []
    try:
        traffic()
    except (OSError, InvalidHandshake, ConnectionClosed, AssertionError) as exc:
        broken.append(f"chat traffic failed: {type(exc).__name__}: {exc}")

    def fan_out() -> _Outcome:
        failures: list[str] = []
        for name, got in received.items():
            keys = Counter((m.get("user"), m.get("id")) for m in got)
            duplicates = [k for k, n in keys.items() if n > 1]
            _expect(not duplicates, f"{name} received duplicates {duplicates[:3]}", failures)
            _expect(
                len(got) == SENDERS * PER_SENDER,
                f"{name} received {len(got)} messages, expected {SENDERS * PER_SENDER}",
                failures,
            )
        notes = [f"{SENDERS} members × {PER_SENDER} messages each; every member must receive each message once"]
        return _Outcome(not failures and not broken and len(received) == SENDERS, notes + broken + failures)

    def isolation() -> _Outcome:
        failures: list[str] = []
        leaked = [m for got in received.values() for m in got if m.get("room") != run.rooms[0]]
        _expect(not leaked, f"room-A members received other rooms' messages: {leaked[:2]}", failures)
        foreign = [m for m in outsider_seen if m.get("room") != run.rooms[1]]
        _expect(not foreign, f"room-B member received {len(foreign)} room-A messages", failures)
        own = [m for m in outsider_seen if m.get("id") == f"b-{run.tag}"]
        _expect(len(own) == 1, f"room-B member received its own message {len(own)} times", failures)
        return _Outcome(not failures and not broken, ["concurrent traffic in two rooms", *broken, *failures])

    def order() -> _Outcome:
        failures: list[str] = []
        for name, got in received.items():
            for member in members:
                seqs = [m.get("seq") for m in got if m.get("user") == member["username"]]
                _expect(seqs == list(range(PER_SENDER)), f"{name} saw {member['username']} in order {seqs}", failures)
        ok = not failures and not broken
        return _Outcome(ok, ["per-sender seq must arrive 0..k-1 at every receiver", *broken, *failures])

    def echo() -> _Outcome:
        failures: list[str] = []
        for name, got in received.items():
            for m in got:
                sender, _, rest = str(m.get("id")).partition("-")
                seq = int(rest.split("-")[0]) if rest else -1
                expected = {"seq": seq, "sent_at": seq + 0.25, "client": rich_client, "text": f"{sender} #{seq}"}
                bad = {k: m.get(k) for k, v in expected.items() if m.get(k) != v}
                _expect(not bad, f"{name}: fields changed in {m.get('id')}: {bad}", failures)
        return _Outcome(
            not failures and bool(received), ["id, seq, sent_at, client and text returned as sent", *failures]
        )

    def presence() -> _Outcome:
        ok = bool(leave_seen) and all(leave_seen.values())
        notes = [f"join of the last member seen by every member, itself included; leave of {members[0]['username']}"]
        return _Outcome(ok, [*notes, f"leave seen by: {leave_seen}", *broken])

    run.check("P4.3", "chat", SRC_CHAT, fan_out)
    run.check("P4.4", "chat", SRC_CHAT, isolation)
    run.check("P4.5", "chat", SRC_CHAT, order)
    run.check("P4.6", "chat", SRC_COMMON, echo)
    run.check("P4.7", "chat", SRC_CHAT, presence)


#: Malformed chat frames: (check id, frame, error code, field or None, description).
CHAT_ERRORS: list[tuple[str, str | bytes, str, str | None, str]] = [
    ("P4.10.1", '{"type": "message", "text": ', "invalid_json", None, "truncated JSON"),
    ("P4.10.2", "[1, 2]", "not_an_object", None, "a JSON array"),
    ("P4.10.3", '"message"', "not_an_object", None, "a JSON string"),
    ("P4.10.4", '{"id": "r4", "text": "hi"}', "missing_field", "type", "no type"),
    ("P4.10.5", '{"type": 7, "id": "r5"}', "invalid_field", "type", "type is not a string"),
    ("P4.10.6", '{"type": "shout", "id": "r6"}', "unknown_type", "type", "type the endpoint does not accept"),
    ("P4.10.7", '{"type": "message", "id": "r7"}', "missing_field", "text", "message without text"),
    ("P4.10.8", '{"type": "message", "text": 5, "id": "r8"}', "invalid_field", "text", "text is a number"),
    ("P4.10.9", '{"type": "message", "text": "", "id": "r9"}', "invalid_field", "text", "empty text"),
    ("P4.10.10", '{"type": "message", "text": " \\n\\t", "id": "r10"}', "invalid_field", "text", "white space only"),
    (
        "P4.10.11",
        json.dumps({"type": "message", "text": "x" * 4001, "id": "r11"}),
        "invalid_field",
        "text",
        "text of 4001 characters",
    ),
    ("P4.10.12", '{"type": "message", "text": "hi", "room": "x", "id": "r12"}', "unknown_field", "room", "extra key"),
    ("P4.10.13", b"\x00\xffbinary", "binary_frame", None, "a binary frame"),
]


def _sent_id(frame: str | bytes) -> Any:
    """The ``id`` a frame carries, which the error must repeat as ``ref``; None when it has none."""
    try:
        sent = json.loads(frame)
    except ValueError:
        return None
    return sent.get("id") if isinstance(sent, dict) else None


def _error_checks(run: _Run) -> None:
    target = run.target
    user = run.users[SENDERS + 1]
    path = f"/ws/chat/{run.rooms[1]}/"
    with open_socket(target, path, session=user["session"]) as ws:
        ws.wait_for("welcome")
        ws.drain()
        for check_id, frame, code, field, description in CHAT_ERRORS:

            def one(
                frame: str | bytes = frame, code: str = code, field: str | None = field, description: str = description
            ) -> _Outcome:
                ws.send_raw(frame)
                error = ws.wait_for("error")
                failures: list[str] = []
                _expect(error is not None, "no error reply", failures)
                if error is not None:
                    _expect(error.get("code") == code, f"code {error.get('code')!r}, expected {code!r}", failures)
                    _expect(error.get("field") == field, f"field {error.get('field')!r}, expected {field!r}", failures)
                    ref = _sent_id(frame)
                    if ref is not None:
                        _expect(error.get("ref") == ref, f"ref {error.get('ref')!r}, expected {ref!r}", failures)
                extra = [m for m in ws.drain() if m.get("type") in {"message", "error"}]
                _expect(not extra, f"unexpected follow-up {extra[:2]}", failures)
                return _Outcome(not failures, [f"{description} → {code}", *failures])

            run.check(check_id, "errors", SRC_COMMON, one)

        def still_open() -> _Outcome:
            ws.send_json({"type": "ping", "id": f"alive-{run.tag}", "seq": 1})
            pong = ws.wait_for("pong")
            expected = {"type": "pong", "id": f"alive-{run.tag}", "seq": 1}
            return _Outcome(pong == expected, [f"after {len(CHAT_ERRORS)} refused frames: {pong}"])

        run.check("P4.10.14", "errors", SRC_COMMON, still_open)

        def too_large() -> _Outcome:
            ws.send_json({"type": "message", "text": "x" * (65 * 1024)})
            error = ws.wait_for("error")
            code = ws.wait_closed()
            ok = error is not None and error.get("code") == "too_large" and code == 4009
            return _Outcome(ok, [f"65 KiB frame: error {error and error.get('code')!r}, close {code}"], code)

        run.check("P4.10.15", "errors", SRC_COMMON, too_large)

    def unknown_room() -> _Outcome:
        with open_socket(target, f"/ws/chat/no-such-room-{run.tag}/", session=user["session"]) as room:
            error = room.wait_for("error")
            code = room.wait_closed()
        ok = error is not None and error.get("code") == "unknown_room" and code == 4404
        return _Outcome(ok, [f"error {error and error.get('code')!r}, close {code}"], code)

    run.check("P4.10.16", "errors", SRC_CHAT, unknown_room)


def _notification_checks(run: _Run) -> None:
    target = run.target
    ann, bob, cid = run.users[SENDERS + 2], run.users[SENDERS + 3], run.users[SENDERS + 4]
    token = target.service_token
    published: dict[str, int] = {}

    def publish(user: dict[str, Any], title: str) -> int:
        reply = post_json(target, "/api/notifications/", {"user": user["id"], "title": title, "data": {"k": 1}}, token)
        assert reply.status == 201, f"publish answered HTTP {reply.status}: {reply.body[:200]!r}"
        return int(reply.json()["notifications"][0]["id"])

    def private() -> _Outcome:
        failures: list[str] = []
        tricks = f"/ws/notifications/?user={bob['id']}&group=notify.user.{bob['id']}&user_id={bob['id']}"
        with (
            open_socket(target, tricks, session=ann["session"]) as a,
            open_socket(target, "/ws/notifications/", session=bob["session"]) as b,
        ):
            a.wait_for("backlog")
            b.wait_for("backlog")
            a.send_json({"type": "subscribe", "user": bob["id"], "id": "t1"})
            a.send_json({"type": "ack", "ids": [1], "user": bob["id"], "id": "t2"})
            codes = [e.get("code") for e in (a.wait_for("error"), a.wait_for("error")) if e]
            _expect(codes == ["unknown_type", "unknown_field"], f"payload tricks answered {codes}", failures)
            published["bob"] = publish(bob, f"for bob {run.tag}")
            got_b = b.wait_for("notification", id=published["bob"])
            _expect(got_b is not None, "bob did not receive his notification", failures)
            published["ann"] = publish(ann, f"for ann {run.tag}")
            got_a = a.wait_for("notification", id=published["ann"])
            _expect(got_a is not None, "ann did not receive her notification", failures)
            seen_a = [m.get("id") for m in a.drain() if m.get("type") == "notification"]
            seen_b = [m.get("id") for m in b.drain() if m.get("type") == "notification"]
            _expect(not seen_a and not seen_b, f"extra notifications: ann {seen_a}, bob {seen_b}", failures)
        status = handshake_status(target, f"/ws/notifications/{bob['id']}/", session=ann["session"])
        _expect(status == 403, f"path with bob's id answered HTTP {status}", failures)
        return _Outcome(not failures, ["query, path and payload tricks; each user gets only their own", *failures])

    run.check("P4.20", "notifications", SRC_NOTIFY, private)

    def ack() -> _Outcome:
        failures: list[str] = []
        if set(published) != {"ann", "bob"}:
            return _Outcome(None, ["P4.20 published nothing to acknowledge"])
        with open_socket(target, "/ws/notifications/", session=ann["session"]) as a:
            a.wait_for("backlog")
            a.send_json({"type": "ack", "ids": [published["bob"]]})
            foreign = a.wait_for("acked")
            missing = 2**31 - 1
            a.send_json({"type": "ack", "ids": [published["ann"], missing]})
            own = a.wait_for("acked")
        _expect(
            foreign == {"type": "acked", "ids": [], "unknown": [published["bob"]]}, f"bob's id: {foreign}", failures
        )
        expected_own = {"type": "acked", "ids": [published["ann"]], "unknown": [missing]}
        _expect(own == expected_own, f"own and missing id: {own}", failures)
        with open_socket(target, "/ws/notifications/", session=bob["session"]) as b:
            backlog = b.wait_for("backlog")
        ids = [item["id"] for item in (backlog or {}).get("items", [])]
        _expect(published["bob"] in ids, "ann's ack of bob's id marked it read", failures)
        with open_socket(target, "/ws/notifications/", session=ann["session"]) as a:
            backlog = a.wait_for("backlog")
        ids = [item["id"] for item in (backlog or {}).get("items", [])]
        _expect(published["ann"] not in ids, "acknowledged notification still in ann's backlog", failures)
        return _Outcome(not failures, ["another user's id is reported like a missing one and stays unread", *failures])

    run.check("P4.21", "notifications", SRC_NOTIFY, ack)

    def backlog() -> _Outcome:
        ids = [publish(cid, f"offline {n} {run.tag}") for n in range(3)]
        with open_socket(target, "/ws/notifications/", session=cid["session"]) as c:
            message = c.wait_for("backlog")
        assert message is not None, "no backlog"
        items = [item["id"] for item in message["items"]]
        ok = items[-3:] == ids and (message["truncated"] or message["unread_total"] == len(items))
        return _Outcome(ok, [f"published {ids} offline; backlog {items[-5:]}, unread_total {message['unread_total']}"])

    run.check("P4.22", "notifications", SRC_NOTIFY, backlog)

    ack_errors: list[tuple[str, dict[str, Any], str, str]] = [
        ("P4.23.1", {"type": "ack"}, "missing_field", "ids"),
        ("P4.23.2", {"type": "ack", "ids": []}, "invalid_field", "ids"),
        ("P4.23.3", {"type": "ack", "ids": [0]}, "invalid_field", "ids"),
        ("P4.23.4", {"type": "ack", "ids": ["1"]}, "invalid_field", "ids"),
        ("P4.23.5", {"type": "ack", "ids": [True]}, "invalid_field", "ids"),
        ("P4.23.6", {"type": "ack", "ids": list(range(1, 1002))}, "invalid_field", "ids"),
        ("P4.23.7", {"type": "ack", "ids": 3}, "invalid_field", "ids"),
    ]
    with open_socket(target, "/ws/notifications/", session=cid["session"]) as c:
        c.wait_for("backlog")
        for check_id, message, code, field in ack_errors:

            def one(message: dict[str, Any] = message, code: str = code, field: str = field) -> _Outcome:
                c.send_json({**message, "id": "e"})
                error = c.wait_for("error")
                got = (error or {}).get("code"), (error or {}).get("field"), (error or {}).get("ref")
                return _Outcome(got == (code, field, "e"), [f"{json.dumps(message)[:60]} → {got}"])

            run.check(check_id, "errors", SRC_NOTIFY, one)

    def publish_errors() -> _Outcome:
        cases: list[tuple[Any, str | None, int]] = [
            ({"user": ann["id"], "title": "x"}, None, 401),
            ({"user": ann["id"], "title": "x"}, "wrong-token", 401),
            ({"user": ann["id"]}, token, 400),
            ({"user": ann["id"], "role": "staff", "title": "x"}, token, 400),
            ({"user": ann["id"], "title": "x" * 201}, token, 400),
            ({"user": f"nobody-{run.tag}", "title": "x"}, token, 404),
            ([1, 2], token, 400),
        ]
        failures: list[str] = []
        for body, tok, status in cases:
            got = post_json(target, "/api/notifications/", body, tok).status
            _expect(
                got == status,
                f"{json.dumps(body)[:50]} token={tok is not None}: HTTP {got}, expected {status}",
                failures,
            )
        return _Outcome(not failures, [f"{len(cases)} malformed or unauthorised publishes", *failures])

    run.check("P4.24", "notifications", SRC_PUBLISH, publish_errors)


def _kiosk_checks(run: _Run) -> None:
    target = run.target
    terminals = target.credentials["terminals"]
    first, second = terminals[0], terminals[1]
    employee = target.credentials["employees"][-1]
    serials = {e["key_serial"].upper() for e in target.credentials["employees"]}
    unknown_serial = next(s for s in ("FFFFFFFFFFFFFFFF", "FEEDFACECAFEBEEF", "0000000000000001") if s not in serials)
    token = target.service_token
    event_ids = [f"conf-{run.tag}-{n}" for n in range(3)]

    def event(event_id: str, serial: str = employee["key_serial"]) -> int:
        body = {"reader": first["id"], "key_serial": serial, "event_id": event_id, "inserted_at": time.time()}
        return post_json(target, "/api/timeclock/events/", body, token).status

    with (
        open_socket(target, f"/ws/terminal/{first['id']}/?token={first['token']}") as kiosk,
        open_socket(target, f"/ws/terminal/{second['id']}/", headers=[("X-Terminal-Token", second["token"])]) as other,
    ):
        kiosk.wait_for("welcome")
        other.wait_for("welcome")
        punches: list[dict[str, Any]] = []

        def once() -> _Outcome:
            status = event(event_ids[0])
            punch = kiosk.wait_for("punch", event_id=event_ids[0])
            if punch is not None:
                punches.append(punch)
            ok = status == 202 and punch is not None and punch["employee"]["number"] == employee["number"]
            return _Outcome(ok, [f"event API HTTP {status}; punch {punch and punch.get('direction')!r}"])

        run.check("P4.30", "kiosk", SRC_EVENTS, once)

        def replay() -> _Outcome:
            statuses = [event(event_ids[0]), event(event_ids[1])]
            nxt = kiosk.wait_for("punch", event_id=event_ids[1])
            extra = [m for m in kiosk.drain() if m.get("type") == "punch"]
            failures: list[str] = []
            _expect(statuses == [202, 202], f"event API answered {statuses}", failures)
            _expect(nxt is not None and not extra, f"after a replay: next {nxt is not None}, extra {extra}", failures)
            if nxt is not None and punches:
                flipped = {punches[0]["direction"], nxt["direction"]} == {"in", "out"}
                _expect(flipped, f"directions {punches[0]['direction']} then {nxt['direction']}", failures)
            return _Outcome(
                not failures, ["a replayed event id punches nothing; the next event flips direction", *failures]
            )

        run.check("P4.31", "kiosk", SRC_KIOSK, replay)

        def unknown_key() -> _Outcome:
            status = event(event_ids[2], unknown_serial)
            message = kiosk.wait_for("unknown_key", event_id=event_ids[2])
            extra = [m for m in kiosk.drain() if m.get("type") == "punch"]
            ok = status == 202 and message is not None and message["key_serial"] == unknown_serial and not extra
            return _Outcome(ok, [f"unknown key {unknown_serial}: {message and message.get('type')!r}, punches {extra}"])

        run.check("P4.32", "kiosk", SRC_KIOSK, unknown_key)

        def isolation() -> _Outcome:
            leaked = [m for m in other.drain() if m.get("type") in {"punch", "unknown_key"}]
            return _Outcome(not leaked, [f"kiosk of terminal {second['id']} received {len(leaked)} foreign events"])

        run.check("P4.33", "kiosk", SRC_KIOSK, isolation)

        def kiosk_errors() -> _Outcome:
            kiosk.send_json({"type": "message", "text": "hi", "id": "k1"})
            error = kiosk.wait_for("error")
            kiosk.send_json({"type": "ping", "id": "k2", "client": [1]})
            pong = kiosk.wait_for("pong")
            ok = (error or {}).get("code") == "unknown_type" and pong == {"type": "pong", "id": "k2", "client": [1]}
            return _Outcome(ok, [f"message on a kiosk → {(error or {}).get('code')!r}; ping → {pong}"])

        run.check("P4.34", "kiosk", SRC_KIOSK, kiosk_errors)

    def event_api_errors() -> _Outcome:
        good = {
            "reader": first["id"],
            "key_serial": employee["key_serial"],
            "event_id": f"x-{run.tag}",
            "inserted_at": 1,
        }
        cases: list[tuple[dict[str, Any], str | None, int, str | None]] = [
            (good, None, 401, None),
            ({**good, "key_serial": "XYZ"}, token, 400, "key_serial"),
            ({**good, "event_id": "bad id!"}, token, 400, "event_id"),
            ({**good, "inserted_at": "yesterday"}, token, 400, "inserted_at"),
        ]
        failures: list[str] = []
        for body, tok, status, field in cases:
            reply = post_json(target, "/api/timeclock/events/", body, tok)
            got_field = (reply.json() or {}).get("field") if reply.status == 400 else None
            _expect(
                (reply.status, got_field) == (status, field),
                f"HTTP {reply.status} field {got_field!r}, expected {status} {field!r}",
                failures,
            )
        return _Outcome(not failures, [f"{len(cases)} malformed or unauthorised events", *failures])

    run.check("P4.35", "kiosk", SRC_EVENTS, event_api_errors)


def _pong_checks(run: _Run) -> None:
    def pong_everywhere() -> _Outcome:
        first = run.target.credentials["terminals"][0]
        user = run.users[0]
        paths = [
            (f"/ws/chat/{run.rooms[0]}/", user["session"], ()),
            ("/ws/notifications/", user["session"], ()),
            (f"/ws/terminal/{first['id']}/", None, (("X-Terminal-Token", first["token"]),)),
        ]
        echo = {"id": ["a", 1], "seq": None, "sent_at": 1e300, "client": {"ü": "ß"}}
        failures: list[str] = []
        for path, session, headers in paths:
            with open_socket(run.target, path, session=session, headers=headers) as ws:
                ws.send_json({"type": "ping", **echo})
                pong = ws.wait_for("pong")
            _expect(pong == {"type": "pong", **echo}, f"{path}: {pong}", failures)
        return _Outcome(not failures, ["ping with every echo field on chat, notifications and kiosk", *failures])

    run.check("P4.8", "common", SRC_COMMON, pong_everywhere)


#: Client messages the checks send as valid, and malformed ones the server refuses: both must agree with the schemas.
CLIENT_VALID: list[tuple[str, dict[str, Any]]] = [
    ("chat", {"type": "message", "text": "hi", "id": "m", "seq": 1, "sent_at": 0.5, "client": {"a": [1]}}),
    ("chat", {"type": "ping", "id": 1}),
    ("notifications", {"type": "ack", "ids": [1, 2]}),
    ("kiosk", {"type": "ping"}),
]


def _schema_checks(run: _Run) -> None:
    by_schema: dict[tuple[str, str], list[tuple[str, Any]]] = {}
    unmatched: list[str] = []
    for item in run.target.received:
        message_type = item.message.get("type") if isinstance(item.message, dict) else None
        key = (item.endpoint, str(message_type))
        if run.schemas.validator("server", *key) is None:
            unmatched.append(f"{key}: {json.dumps(item.message)[:80]}")
            continue
        if run.schemas.validators.get(("server", *key)) is None:
            key = ("common", str(message_type))
        by_schema.setdefault(key, []).append((item.endpoint, item.message))
    run.check(
        "P4.1.0",
        "schema",
        SRC_SCHEMA,
        lambda: _Outcome(not unmatched, [f"{len(run.target.received)} messages received", *unmatched[:5]]),
    )
    names = sorted((endpoint, t) for direction, endpoint, t in run.schemas.validators if direction == "server")
    for n, (endpoint, message_type) in enumerate(names, start=1):
        seen = by_schema.get((endpoint, message_type), [])

        def one(seen: list[tuple[str, Any]] = seen, name: str = f"server/{endpoint}.{message_type}.json") -> _Outcome:
            if not seen:
                return _Outcome(None, [f"{name}: no such message received"])
            bad = [(m, e) for ep, m in seen if (e := run.schemas.errors("server", ep, m))]
            notes = [f"{name}: {len(seen)} received, {len(bad)} invalid"]
            notes += [f"{json.dumps(m)[:100]}: {e[:2]}" for m, e in bad[:3]]
            return _Outcome(not bad, notes)

        run.check(f"P4.1.{n}", "schema", SRC_SCHEMA, one)

    def client_side() -> _Outcome:
        failures = [f"valid {m} fails: {e}" for ep, m in CLIENT_VALID if (e := run.schemas.errors("client", ep, m))]
        for _, frame, _, _, description in CHAT_ERRORS:
            if isinstance(frame, bytes):
                continue
            try:
                message = json.loads(frame)
            except ValueError:
                continue
            if isinstance(message, dict) and not run.schemas.errors("client", "chat", message):
                failures.append(f"refused frame ({description}) passes the client schema")
        return _Outcome(
            not failures, ["client schemas accept the valid samples and reject each refused frame", *failures]
        )

    run.check("P4.2", "schema", SRC_SCHEMA, client_side)


SECTIONS = ("common", "chat", "errors", "notifications", "kiosk", "schema")


def run_app_checks(
    target: AppTarget, schema_dir: Path = DEFAULT_SCHEMA_DIR, sections: Collection[str] = SECTIONS
) -> list[CheckResult]:
    """The P4 checks of ``sections``; the schema checks (P4.1.x) run last, over every message the others received."""
    # The last user is left to the security checks: a form login upgrades its password hash, ending its sessions.
    if len(target.users) < SENDERS + 6 or len(target.credentials["rooms"]) < 2:
        raise ValueError(f"the app checks need at least {SENDERS + 6} demo users and 2 rooms")
    run = _Run(target, SchemaSet(schema_dir))
    target.received.clear()
    steps: dict[str, Callable[[_Run], None]] = {
        "common": _pong_checks,
        "chat": _chat_checks,
        "errors": _error_checks,
        "notifications": _notification_checks,
        "kiosk": _kiosk_checks,
        "schema": _schema_checks,
    }
    for name in SECTIONS:
        if name in sections:
            steps[name](run)
    return sorted(run.results, key=lambda r: tuple(int(part) for part in r.id[1:].split(".")))
