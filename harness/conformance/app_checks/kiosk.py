"""The timeclock kiosk and the event API (P4.30-P4.35): one punch per event, replays, unknown keys, isolation
between terminals, and the errors of both."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from harness.conformance.app_checks.context import SRC_EVENTS, SRC_KIOSK, AppOutcome, AppRun, expect
from harness.conformance.app_client import AppSocket, open_socket, post_json

__all__ = ["kiosk_checks"]


@dataclass
class _Kiosk:
    """The run's two terminals, the employee whose key is used, and the punches seen so far."""

    run: AppRun
    first: dict[str, Any]
    second: dict[str, Any]
    employee: dict[str, Any]
    unknown_serial: str
    event_ids: list[str]
    punches: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, run: AppRun) -> _Kiosk:
        credentials = run.target.credentials
        serials = {e["key_serial"].upper() for e in credentials["employees"]}
        unknown = next(s for s in ("FFFFFFFFFFFFFFFF", "FEEDFACECAFEBEEF", "0000000000000001") if s not in serials)
        first, second = credentials["terminals"][0], credentials["terminals"][1]
        event_ids = [f"conf-{run.tag}-{n}" for n in range(3)]
        return cls(run, first, second, credentials["employees"][-1], unknown, event_ids)

    def event(self, event_id: str, serial: str | None = None) -> int:
        """Post a key insertion at the first terminal's reader; the event API's HTTP status."""
        body = {
            "reader": self.first["id"],
            "key_serial": self.employee["key_serial"] if serial is None else serial,
            "event_id": event_id,
            "inserted_at": time.time(),
        }
        return post_json(self.run.target, "/api/timeclock/events/", body, self.run.target.service_token).status


def _once(k: _Kiosk, kiosk: AppSocket) -> AppOutcome:
    status = k.event(k.event_ids[0])
    punch = kiosk.wait_for("punch", event_id=k.event_ids[0])
    if punch is not None:
        k.punches.append(punch)
    ok = status == 202 and punch is not None and punch["employee"]["number"] == k.employee["number"]
    return AppOutcome(ok, [f"event API HTTP {status}; punch {punch and punch.get('direction')!r}"])


def _replay(k: _Kiosk, kiosk: AppSocket) -> AppOutcome:
    statuses = [k.event(k.event_ids[0]), k.event(k.event_ids[1])]
    nxt = kiosk.wait_for("punch", event_id=k.event_ids[1])
    extra = [m for m in kiosk.drain() if m.get("type") == "punch"]
    failures: list[str] = []
    expect(statuses == [202, 202], f"event API answered {statuses}", failures)
    expect(nxt is not None and not extra, f"after a replay: next {nxt is not None}, extra {extra}", failures)
    if nxt is not None and k.punches:
        flipped = {k.punches[0]["direction"], nxt["direction"]} == {"in", "out"}
        expect(flipped, f"directions {k.punches[0]['direction']} then {nxt['direction']}", failures)
    return AppOutcome(not failures, ["a replayed event id punches nothing; the next event flips direction", *failures])


def _unknown_key(k: _Kiosk, kiosk: AppSocket) -> AppOutcome:
    status = k.event(k.event_ids[2], k.unknown_serial)
    message = kiosk.wait_for("unknown_key", event_id=k.event_ids[2])
    extra = [m for m in kiosk.drain() if m.get("type") == "punch"]
    ok = status == 202 and message is not None and message["key_serial"] == k.unknown_serial and not extra
    return AppOutcome(ok, [f"unknown key {k.unknown_serial}: {message and message.get('type')!r}, punches {extra}"])


def _isolation(k: _Kiosk, other: AppSocket) -> AppOutcome:
    leaked = [m for m in other.drain() if m.get("type") in {"punch", "unknown_key"}]
    return AppOutcome(not leaked, [f"kiosk of terminal {k.second['id']} received {len(leaked)} foreign events"])


def _kiosk_errors(kiosk: AppSocket) -> AppOutcome:
    kiosk.send_json({"type": "message", "text": "hi", "id": "k1"})
    error = kiosk.wait_for("error")
    kiosk.send_json({"type": "ping", "id": "k2", "client": [1]})
    pong = kiosk.wait_for("pong")
    ok = (error or {}).get("code") == "unknown_type" and pong == {"type": "pong", "id": "k2", "client": [1]}
    return AppOutcome(ok, [f"message on a kiosk → {(error or {}).get('code')!r}; ping → {pong}"])


def _event_api_errors(k: _Kiosk) -> AppOutcome:
    token = k.run.target.service_token
    good = {
        "reader": k.first["id"],
        "key_serial": k.employee["key_serial"],
        "event_id": f"x-{k.run.tag}",
        "inserted_at": 1,
    }
    cases: list[tuple[dict[str, Any], str | None, int, str | None]] = [
        (good, None, 401, None),
        ({**good, "key_serial": "XYZ"}, token, 400, "key_serial"),
        ({**good, "event_id": "bad id!"}, token, 400, "event_id"),
        ({**good, "inserted_at": "yesterday"}, token, 400, "inserted_at"),
    ]
    failures: list[str] = []
    for body, tok, status, field_name in cases:
        reply = post_json(k.run.target, "/api/timeclock/events/", body, tok)
        got_field = (reply.json() or {}).get("field") if reply.status == 400 else None
        expect(
            (reply.status, got_field) == (status, field_name),
            f"HTTP {reply.status} field {got_field!r}, expected {status} {field_name!r}",
            failures,
        )
    return AppOutcome(not failures, [f"{len(cases)} malformed or unauthorised events", *failures])


def kiosk_checks(run: AppRun) -> None:
    k = _Kiosk.of(run)
    target = run.target
    first, second = k.first, k.second
    with (
        open_socket(target, f"/ws/terminal/{first['id']}/?token={first['token']}") as kiosk,
        open_socket(target, f"/ws/terminal/{second['id']}/", headers=[("X-Terminal-Token", second["token"])]) as other,
    ):
        kiosk.wait_for("welcome")
        other.wait_for("welcome")
        run.check("P4.30", "kiosk", SRC_EVENTS, lambda: _once(k, kiosk))
        run.check("P4.31", "kiosk", SRC_KIOSK, lambda: _replay(k, kiosk))
        run.check("P4.32", "kiosk", SRC_KIOSK, lambda: _unknown_key(k, kiosk))
        run.check("P4.33", "kiosk", SRC_KIOSK, lambda: _isolation(k, other))
        run.check("P4.34", "kiosk", SRC_KIOSK, lambda: _kiosk_errors(kiosk))
    run.check("P4.35", "kiosk", SRC_EVENTS, lambda: _event_api_errors(k))
