"""What every endpoint shares (P4.8, P4.10.x): ping/pong with every echo field, and the error replies to malformed
frames, after which the socket stays usable."""

from __future__ import annotations

import json
from typing import Any

from harness.conformance.app_checks.context import SENDERS, SRC_CHAT, SRC_COMMON, AppOutcome, AppRun, expect
from harness.conformance.app_client import open_socket

__all__ = ["CHAT_ERRORS", "error_checks", "pong_checks"]


def pong_checks(run: AppRun) -> None:
    def pong_everywhere() -> AppOutcome:
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
            expect(pong == {"type": "pong", **echo}, f"{path}: {pong}", failures)
        return AppOutcome(not failures, ["ping with every echo field on chat, notifications and kiosk", *failures])

    run.check("P4.8", "common", SRC_COMMON, pong_everywhere)


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


def error_checks(run: AppRun) -> None:
    target = run.target
    user = run.users[SENDERS + 1]
    path = f"/ws/chat/{run.rooms[1]}/"
    with open_socket(target, path, session=user["session"]) as ws:
        ws.wait_for("welcome")
        ws.drain()
        for check_id, frame, code, field, description in CHAT_ERRORS:

            def one(
                frame: str | bytes = frame, code: str = code, field: str | None = field, description: str = description
            ) -> AppOutcome:
                ws.send_raw(frame)
                error = ws.wait_for("error")
                failures: list[str] = []
                expect(error is not None, "no error reply", failures)
                if error is not None:
                    expect(error.get("code") == code, f"code {error.get('code')!r}, expected {code!r}", failures)
                    expect(error.get("field") == field, f"field {error.get('field')!r}, expected {field!r}", failures)
                    ref = _sent_id(frame)
                    if ref is not None:
                        expect(error.get("ref") == ref, f"ref {error.get('ref')!r}, expected {ref!r}", failures)
                extra = [m for m in ws.drain() if m.get("type") in {"message", "error"}]
                expect(not extra, f"unexpected follow-up {extra[:2]}", failures)
                return AppOutcome(not failures, [f"{description} → {code}", *failures])

            run.check(check_id, "errors", SRC_COMMON, one)

        def still_open() -> AppOutcome:
            ws.send_json({"type": "ping", "id": f"alive-{run.tag}", "seq": 1})
            pong = ws.wait_for("pong")
            expected = {"type": "pong", "id": f"alive-{run.tag}", "seq": 1}
            return AppOutcome(pong == expected, [f"after {len(CHAT_ERRORS)} refused frames: {pong}"])

        run.check("P4.10.14", "errors", SRC_COMMON, still_open)

        def too_large() -> AppOutcome:
            ws.send_json({"type": "message", "text": "x" * (65 * 1024)})
            error = ws.wait_for("error")
            code = ws.wait_closed()
            ok = error is not None and error.get("code") == "too_large" and code == 4009
            return AppOutcome(ok, [f"65 KiB frame: error {error and error.get('code')!r}, close {code}"], code)

        run.check("P4.10.15", "errors", SRC_COMMON, too_large)

    def unknown_room() -> AppOutcome:
        with open_socket(target, f"/ws/chat/no-such-room-{run.tag}/", session=user["session"]) as room:
            error = room.wait_for("error")
            code = room.wait_closed()
        ok = error is not None and error.get("code") == "unknown_room" and code == 4404
        return AppOutcome(ok, [f"error {error and error.get('code')!r}, close {code}"], code)

    run.check("P4.10.16", "errors", SRC_CHAT, unknown_room)
