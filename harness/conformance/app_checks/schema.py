"""The schema checks (P4.1.x, P4.2): every message the other checks received against the server schemas, and the
client schemas against the valid samples and the refused frames."""

from __future__ import annotations

import json
from typing import Any

from harness.conformance.app_checks.common import CHAT_ERRORS
from harness.conformance.app_checks.context import SRC_SCHEMA, AppOutcome, AppRun

__all__ = ["CLIENT_VALID", "schema_checks"]


#: Client messages the checks send as valid, and malformed ones the server refuses: both must agree with the schemas.
CLIENT_VALID: list[tuple[str, dict[str, Any]]] = [
    ("chat", {"type": "message", "text": "hi", "id": "m", "seq": 1, "sent_at": 0.5, "client": {"a": [1]}}),
    ("chat", {"type": "ping", "id": 1}),
    ("notifications", {"type": "ack", "ids": [1, 2]}),
    ("kiosk", {"type": "ping"}),
]


def schema_checks(run: AppRun) -> None:
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
        lambda: AppOutcome(not unmatched, [f"{len(run.target.received)} messages received", *unmatched[:5]]),
    )
    names = sorted((endpoint, t) for direction, endpoint, t in run.schemas.validators if direction == "server")
    for n, (endpoint, message_type) in enumerate(names, start=1):
        seen = by_schema.get((endpoint, message_type), [])

        def one(seen: list[tuple[str, Any]] = seen, name: str = f"server/{endpoint}.{message_type}.json") -> AppOutcome:
            if not seen:
                return AppOutcome(None, [f"{name}: no such message received"])
            bad = [(m, e) for ep, m in seen if (e := run.schemas.errors("server", ep, m))]
            notes = [f"{name}: {len(seen)} received, {len(bad)} invalid"]
            notes += [f"{json.dumps(m)[:100]}: {e[:2]}" for m, e in bad[:3]]
            return AppOutcome(not bad, notes)

        run.check(f"P4.1.{n}", "schema", SRC_SCHEMA, one)

    def client_side() -> AppOutcome:
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
        return AppOutcome(
            not failures, ["client schemas accept the valid samples and reject each refused frame", *failures]
        )

    run.check("P4.2", "schema", SRC_SCHEMA, client_side)
