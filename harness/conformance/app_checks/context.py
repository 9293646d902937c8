"""What every app check shares: the protocol's sources, the schemas, the run that records results, and what a check
body returns."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from harness.conformance.app_client import AppTarget
from harness.conformance.model import CheckResult, CloseVerdict, Verdict

__all__ = [
    "DEFAULT_SCHEMA_DIR",
    "PER_SENDER",
    "SENDERS",
    "SRC_CHAT",
    "SRC_COMMON",
    "SRC_EVENTS",
    "SRC_KIOSK",
    "SRC_NOTIFY",
    "SRC_PUBLISH",
    "SRC_SCHEMA",
    "AppOutcome",
    "AppRun",
    "SchemaSet",
    "expect",
]

DEFAULT_SCHEMA_DIR = Path(__file__).resolve().parents[3] / "docs" / "schemas"

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
class AppOutcome:
    """What a check body reports: a verdict (True OK, False FAILED, None N/A) and why."""

    ok: bool | None
    notes: list[str]
    close_code: int | None = None


class AppRun:
    """One run of the app checks: the target, the schemas, the demo users and rooms, a tag that keeps this run's ids
    apart, and the results ``check`` records."""

    def __init__(self, target: AppTarget, schemas: SchemaSet) -> None:
        self.target = target
        self.schemas = schemas
        self.results: list[CheckResult] = []
        self.users = target.users
        self.rooms = [r["slug"] for r in target.credentials["rooms"]]
        self.tag = secrets.token_hex(3)

    def check(self, check_id: str, category: str, source: str, body: Callable[[], AppOutcome]) -> None:
        started = time.monotonic()
        try:
            outcome = body()
        except (OSError, InvalidHandshake, ConnectionClosed, AssertionError, KeyError, ValueError) as exc:
            # A check that cannot even run its traffic is a failure of the app, not of the harness.
            outcome = AppOutcome(False, [f"{type(exc).__name__}: {exc}"])
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


def expect(condition: bool, note: str, failures: list[str]) -> None:
    """Add ``note`` to ``failures`` unless ``condition`` holds."""
    if not condition:
        failures.append(note)
