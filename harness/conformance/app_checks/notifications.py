"""The notifications endpoint and the publish API (P4.20-P4.24): privacy, acknowledgements, the backlog, and the
errors of both."""

from __future__ import annotations

import json
from typing import Any

from harness.conformance.app_checks.context import SENDERS, SRC_NOTIFY, SRC_PUBLISH, AppOutcome, AppRun, expect
from harness.conformance.app_client import handshake_status, open_socket, post_json

__all__ = ["notification_checks"]

User = dict[str, Any]

#: Malformed acks: (check id, message, error code, field).
_ACK_ERRORS: list[tuple[str, dict[str, Any], str, str]] = [
    ("P4.23.1", {"type": "ack"}, "missing_field", "ids"),
    ("P4.23.2", {"type": "ack", "ids": []}, "invalid_field", "ids"),
    ("P4.23.3", {"type": "ack", "ids": [0]}, "invalid_field", "ids"),
    ("P4.23.4", {"type": "ack", "ids": ["1"]}, "invalid_field", "ids"),
    ("P4.23.5", {"type": "ack", "ids": [True]}, "invalid_field", "ids"),
    ("P4.23.6", {"type": "ack", "ids": list(range(1, 1002))}, "invalid_field", "ids"),
    ("P4.23.7", {"type": "ack", "ids": 3}, "invalid_field", "ids"),
]


def _publish(run: AppRun, user: User, title: str) -> int:
    body = {"user": user["id"], "title": title, "data": {"k": 1}}
    reply = post_json(run.target, "/api/notifications/", body, run.target.service_token)
    assert reply.status == 201, f"publish answered HTTP {reply.status}: {reply.body[:200]!r}"
    return int(reply.json()["notifications"][0]["id"])


def _private(run: AppRun, ann: User, bob: User, published: dict[str, int]) -> AppOutcome:
    target = run.target
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
        expect(codes == ["unknown_type", "unknown_field"], f"payload tricks answered {codes}", failures)
        published["bob"] = _publish(run, bob, f"for bob {run.tag}")
        got_b = b.wait_for("notification", id=published["bob"])
        expect(got_b is not None, "bob did not receive his notification", failures)
        published["ann"] = _publish(run, ann, f"for ann {run.tag}")
        got_a = a.wait_for("notification", id=published["ann"])
        expect(got_a is not None, "ann did not receive her notification", failures)
        seen_a = [m.get("id") for m in a.drain() if m.get("type") == "notification"]
        seen_b = [m.get("id") for m in b.drain() if m.get("type") == "notification"]
        expect(not seen_a and not seen_b, f"extra notifications: ann {seen_a}, bob {seen_b}", failures)
    status = handshake_status(target, f"/ws/notifications/{bob['id']}/", session=ann["session"])
    expect(status == 403, f"path with bob's id answered HTTP {status}", failures)
    return AppOutcome(not failures, ["query, path and payload tricks; each user gets only their own", *failures])


def _backlog_ids(run: AppRun, user: User) -> list[Any]:
    """The ids in the backlog a new notifications socket of ``user`` receives first."""
    with open_socket(run.target, "/ws/notifications/", session=user["session"]) as ws:
        backlog = ws.wait_for("backlog")
    return [item["id"] for item in (backlog or {}).get("items", [])]


def _ack(run: AppRun, ann: User, bob: User, published: dict[str, int]) -> AppOutcome:
    failures: list[str] = []
    if set(published) != {"ann", "bob"}:
        return AppOutcome(None, ["P4.20 published nothing to acknowledge"])
    with open_socket(run.target, "/ws/notifications/", session=ann["session"]) as a:
        a.wait_for("backlog")
        a.send_json({"type": "ack", "ids": [published["bob"]]})
        foreign = a.wait_for("acked")
        missing = 2**31 - 1
        a.send_json({"type": "ack", "ids": [published["ann"], missing]})
        own = a.wait_for("acked")
    expect(foreign == {"type": "acked", "ids": [], "unknown": [published["bob"]]}, f"bob's id: {foreign}", failures)
    expected_own = {"type": "acked", "ids": [published["ann"]], "unknown": [missing]}
    expect(own == expected_own, f"own and missing id: {own}", failures)
    expect(published["bob"] in _backlog_ids(run, bob), "ann's ack of bob's id marked it read", failures)
    expect(published["ann"] not in _backlog_ids(run, ann), "acknowledged notification still in ann's backlog", failures)
    return AppOutcome(not failures, ["another user's id is reported like a missing one and stays unread", *failures])


def _backlog(run: AppRun, cid: User) -> AppOutcome:
    ids = [_publish(run, cid, f"offline {n} {run.tag}") for n in range(3)]
    with open_socket(run.target, "/ws/notifications/", session=cid["session"]) as c:
        message = c.wait_for("backlog")
    assert message is not None, "no backlog"
    items = [item["id"] for item in message["items"]]
    ok = items[-3:] == ids and (message["truncated"] or message["unread_total"] == len(items))
    return AppOutcome(ok, [f"published {ids} offline; backlog {items[-5:]}, unread_total {message['unread_total']}"])


def _ack_error_checks(run: AppRun, cid: User) -> None:
    with open_socket(run.target, "/ws/notifications/", session=cid["session"]) as c:
        c.wait_for("backlog")
        for check_id, message, code, field in _ACK_ERRORS:

            def one(message: dict[str, Any] = message, code: str = code, field: str = field) -> AppOutcome:
                c.send_json({**message, "id": "e"})
                error = c.wait_for("error")
                got = (error or {}).get("code"), (error or {}).get("field"), (error or {}).get("ref")
                return AppOutcome(got == (code, field, "e"), [f"{json.dumps(message)[:60]} → {got}"])

            run.check(check_id, "errors", SRC_NOTIFY, one)


def _publish_errors(run: AppRun, ann: User) -> AppOutcome:
    token = run.target.service_token
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
        got = post_json(run.target, "/api/notifications/", body, tok).status
        expect(
            got == status,
            f"{json.dumps(body)[:50]} token={tok is not None}: HTTP {got}, expected {status}",
            failures,
        )
    return AppOutcome(not failures, [f"{len(cases)} malformed or unauthorised publishes", *failures])


def notification_checks(run: AppRun) -> None:
    ann, bob, cid = run.users[SENDERS + 2], run.users[SENDERS + 3], run.users[SENDERS + 4]
    # What P4.20 published, by user: P4.21 acknowledges it.
    published: dict[str, int] = {}
    run.check("P4.20", "notifications", SRC_NOTIFY, lambda: _private(run, ann, bob, published))
    run.check("P4.21", "notifications", SRC_NOTIFY, lambda: _ack(run, ann, bob, published))
    run.check("P4.22", "notifications", SRC_NOTIFY, lambda: _backlog(run, cid))
    _ack_error_checks(run, cid)
    run.check("P4.24", "notifications", SRC_PUBLISH, lambda: _publish_errors(run, ann))
