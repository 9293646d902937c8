"""The ``asgi`` conformance group: ASGI HTTP & WebSocket spec 2.5 server behaviour, seen through the probe app.

The server under test must serve ``harness.conformance.asgi_probe:app``. Every check names the spec sentence it
tests (django/asgiref ``specs/www.rst``, or ``docs/extensions.rst`` for the denial response) and returns a
``CheckResult`` with group "asgi". Verdicts use the wire group's vocabulary: FAILED for a broken "must", NON-STRICT
for a missed "should", INFORMATIONAL where the spec leaves the behaviour open, UNIMPLEMENTED for a feature of a later
spec version the server does not have, N/A when an optional feature is absent, KNOWN DEVIATION for a listed failure.

Each check is registered where it is defined, on its category's ``AsgiCheckTable``: ``scope.py`` A1, ``accept.py``
A2, ``data.py`` A3, ``close.py`` A4, ``denial.py`` A5; ``asgi_checks()`` is the tables in that order.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence

from harness.conformance.asgi_checks.accept import ACCEPT
from harness.conformance.asgi_checks.close import CLOSE
from harness.conformance.asgi_checks.context import AsgiCheck, AsgiContext, AsgiResult
from harness.conformance.asgi_checks.data import DATA
from harness.conformance.asgi_checks.denial import DENIAL
from harness.conformance.asgi_checks.deviations import KNOWN_DEVIATIONS
from harness.conformance.asgi_checks.scope import SCOPE
from harness.conformance.asgi_client import http_get
from harness.conformance.asgi_probe import IDENTITY, IDENTITY_PATH
from harness.conformance.blocking import blocking
from harness.conformance.handshake import parse_ws_url
from harness.conformance.model import (
    CheckResult,
    CloseVerdict,
    KnownDeviation,
    Verdict,
    apply_deviations,
    check_catalogue_order,
)

__all__ = [
    "KNOWN_DEVIATIONS",
    "AsgiCheck",
    "asgi_checks",
    "probe_absent",
    "probe_absent_async",
    "probe_absent_result",
    "run_asgi_checks",
    "run_asgi_checks_async",
]

_TABLES = (SCOPE, ACCEPT, DATA, CLOSE, DENIAL)
check_catalogue_order([check.id for table in _TABLES for check in table.checks], "asgi")


def asgi_checks() -> list[AsgiCheck]:
    """The whole group, in run order."""
    return [check for table in _TABLES for check in table.checks]


async def _run_one(check: AsgiCheck, ctx: AsgiContext) -> CheckResult:
    start = time.perf_counter()
    try:
        res = await asyncio.wait_for(check.run(ctx), 6 * ctx.timeout)
    except (OSError, TimeoutError, ValueError, KeyError, IndexError, TypeError) as exc:
        # A server that breaks the probe's conversation breaks the check, not the run.
        res = AsgiResult(Verdict.FAILED, [f"the check could not run: {exc!r}"])
    return CheckResult(
        id=check.id,
        group="asgi",
        category=check.category,
        source=check.source,
        behaviour=res.behaviour,
        behaviour_close=res.close,
        remote_close_code=res.close_code,
        duration_s=time.perf_counter() - start,
        wire_log=res.wire_log if res.behaviour == Verdict.FAILED else [],
        notes=[check.description, *res.notes],
    )


async def run_asgi_checks_async(
    url_base: str,
    *,
    unit: float = 1.0,
    ids: Sequence[str] | None = None,
    server: str | None = None,
    known_deviations: Sequence[KnownDeviation] | None = None,
    concurrency: int = 4,
) -> list[CheckResult]:
    """Run the ASGI group against ``url_base`` (``ws://host:port``), a server serving ``asgi_probe:app``.

    ``run_asgi_checks`` takes the same arguments and runs this in an event loop of its own.

    Args:
        unit: seconds per time unit; every wait is a multiple of it.
        ids: run only these check ids.
        server: a key of ``KNOWN_DEVIATIONS`` ("daphne", "uvicorn-sansio", ...) whose deviations apply.
        known_deviations: explicit deviations instead of the ``server`` entry.
        concurrency: checks in flight at once; shared probe sessions still run once.
    """
    base = parse_ws_url(url_base)
    ctx = AsgiContext(base, unit)
    checks = [c for c in asgi_checks() if ids is None or c.id in ids]
    deviations = known_deviations if known_deviations is not None else KNOWN_DEVIATIONS.get(server or "", ())
    gate = asyncio.Semaphore(concurrency)

    async def one(check: AsgiCheck) -> CheckResult:
        async with gate:
            return await _run_one(check, ctx)

    results = list(await asyncio.gather(*(one(c) for c in checks)))
    apply_deviations(results, deviations)
    return results


run_asgi_checks = blocking(run_asgi_checks_async)


async def probe_absent_async(url_base: str, *, unit: float = 1.0) -> str | None:
    """None when the probe app answers at ``url_base`` (``ws://host:port``), else what was found instead.

    Every check of the group judges the server through the probe's conversation, so against any other app each
    would fail for a reason that has nothing to do with the server: the group is run only where the probe is.
    """
    base = parse_ws_url(url_base)
    where = f"GET http://{base.host_header}{IDENTITY_PATH}"
    try:
        status, body = await http_get(base, IDENTITY_PATH, 2.0 * unit)
    except (OSError, TimeoutError) as exc:
        return f"{where}: no answer ({exc!r})"
    try:
        answer = json.loads(body) if status == 200 else None
    except ValueError:
        answer = None
    if answer == IDENTITY:
        return None
    shown = body[:80].decode("utf-8", "replace")
    return f"{where} answered {status or 'no HTTP status'} {shown!r}, not the probe's {json.dumps(IDENTITY)}"


probe_absent = blocking(probe_absent_async)


def probe_absent_result(absent: str) -> CheckResult:
    """The group where the probe is not (``absent``: what answered instead): one N/A that says how to run it."""
    return CheckResult(
        id="A0",
        group="asgi",
        category="probe",
        source="harness.conformance.asgi_probe:app (docs/conformance-asgi.md)",
        behaviour=Verdict.NOT_APPLICABLE,
        behaviour_close=CloseVerdict.NOT_APPLICABLE,
        remote_close_code=None,
        duration_s=0.0,
        notes=[
            "the ASGI checks judge a server through the probe app's conversation, and it does not answer here: "
            f"{absent}. To check this server's ASGI behaviour, serve the probe with it (e.g. python -m uvicorn "
            "harness.conformance.asgi_probe:app --port 9001) and run harness conform --target "
            "ws://127.0.0.1:9001/ --groups asgi"
        ],
    )
