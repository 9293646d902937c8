"""The reference app's own protocol over the wire (P4): schemas, fan-out, isolation, order, privacy, errors, kiosk.

Every JSON message any check receives is kept and validated at the end against ``docs/schemas/server`` (P4.1.x), so
a field the protocol does not document fails even in a check about something else. The checks need at least seven
demo users, two rooms, two terminals and one employee; each uses its own users, so their traffic does not mix.

One module per section: ``common.py`` (P4.8 ping/pong, P4.10.x errors), ``chat.py`` (P4.3-P4.7),
``notifications.py`` (P4.20-P4.24), ``kiosk.py`` (P4.30-P4.35), ``schema.py`` (P4.1.x, P4.2); ``context.py`` holds
the run, the schemas and what a check body returns.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

from harness.conformance.app_checks.chat import chat_checks
from harness.conformance.app_checks.common import error_checks, pong_checks
from harness.conformance.app_checks.context import DEFAULT_SCHEMA_DIR, SENDERS, AppRun, SchemaSet
from harness.conformance.app_checks.kiosk import kiosk_checks
from harness.conformance.app_checks.notifications import notification_checks
from harness.conformance.app_checks.schema import schema_checks
from harness.conformance.app_client import AppTarget
from harness.conformance.model import CheckResult

__all__ = ["DEFAULT_SCHEMA_DIR", "SECTIONS", "SchemaSet", "run_app_checks"]

SECTIONS = ("common", "chat", "errors", "notifications", "kiosk", "schema")

_STEPS: dict[str, Callable[[AppRun], None]] = {
    "common": pong_checks,
    "chat": chat_checks,
    "errors": error_checks,
    "notifications": notification_checks,
    "kiosk": kiosk_checks,
    "schema": schema_checks,
}


def run_app_checks(
    target: AppTarget, schema_dir: Path = DEFAULT_SCHEMA_DIR, sections: Collection[str] = SECTIONS
) -> list[CheckResult]:
    """The P4 checks of ``sections``; the schema checks (P4.1.x) run last, over every message the others received."""
    # The last user is left to the security checks: a form login upgrades its password hash, ending its sessions.
    if len(target.users) < SENDERS + 6 or len(target.credentials["rooms"]) < 2:
        raise ValueError(f"the app checks need at least {SENDERS + 6} demo users and 2 rooms")
    run = AppRun(target, SchemaSet(schema_dir))
    target.received.clear()
    for name in SECTIONS:
        if name in sections:
            _STEPS[name](run)
    return sorted(run.results, key=lambda r: tuple(int(part) for part in r.id[1:].split(".")))
