"""The ``robustness`` group: malformed input sent to any app while others keep their sockets (``conform --target``).

The wire group asks whether a server answers a protocol violation as RFC 6455 says; this group asks what a user
running their own app needs first: after each malformed input, did the server stay up, and were the others
unaffected? Each case sends one malformed input on a socket of its own (every wire case whose input a server must
refuse, the malformed opening handshakes, and app-level payloads no app expects: not JSON, deep nesting, a megabyte
of text, NUL, binary), and then checks, against the same URL:

* every bystander socket, opened before the first case, is still open and answers a ping (a server that crashed,
  restarted or dropped its other clients fails this);
* a new socket can still be opened.

A case fails on either; what the server did with the malformed input itself is the wire group's business, not
judged here. A bystander that was dropped is replaced before the next case, so one failure is not charged to every
case after it; once the server answers nothing for three cases in a row, the rest are N/A, naming the case after
which it stopped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from harness.conformance.blocking import blocking
from harness.conformance.catalogue import wire_cases
from harness.conformance.handshake import parse_ws_url
from harness.conformance.model import Case, CheckResult, CloseVerdict, Verdict
from harness.conformance.runner import run_case

__all__ = ["APP_PAYLOADS", "robustness_cases", "run_robustness_checks", "run_robustness_checks_async"]

SOURCE: Final = "robustness: the server stays up and other clients are unaffected"
BYSTANDERS: Final = 2
#: Consecutive cases after which a server that answers nothing is given up on.
_DOWN_AFTER: Final = 3


@dataclass(frozen=True, slots=True)
class AppPayload:
    """An app-level malformed input: a whole message no app expects, sent as one frame."""

    id: str
    description: str
    data: str | bytes


APP_PAYLOADS: Final[tuple[AppPayload, ...]] = (
    AppPayload("R1.1", "text that is not JSON", "{not json"),
    AppPayload("R1.2", "a JSON array where apps expect an object", "[1, 2, 3]"),
    AppPayload("R1.3", "JSON null", "null"),
    AppPayload("R1.4", "a number beyond a double", "1e999"),
    AppPayload("R1.5", "an object with every value null", '{"type": null, "message": null, "action": null}'),
    AppPayload("R1.6", "10,000 nested arrays", "[" * 10_000 + "]" * 10_000),
    AppPayload("R1.7", "one megabyte of text in a message field", '{"message": "' + "x" * 1_000_000 + '"}'),
    AppPayload("R1.8", "a NUL and control characters", '{"message": "\\u0000\\u0001\\u001f"}'),
    AppPayload("R1.9", "an empty text message", ""),
    AppPayload("R1.10", "a binary message of arbitrary bytes", bytes(range(256)) * 4),
    AppPayload("R1.11", "a lone surrogate escaped in JSON", '{"message": "\\ud800"}'),
    AppPayload("R1.12", "a huge integer", '{"id": ' + "9" * 5000 + "}"),
)


def robustness_cases() -> list[Case]:
    """The wire cases whose input a server must refuse: it fails the connection, or refuses the handshake."""
    cases = []
    for case in wire_cases():
        if case.slow or case.deflate_offers:
            continue
        if case.handshake is not None:
            if case.handshake.expect in ("reject", "timeout"):
                cases.append(case)
        elif case.expect is not None and not case.expect.close.closed_by_client:
            cases.append(case)
    return cases


def same_origin(url: str) -> str:
    """The Origin a page of the target's own site would send: Channels' origin validators refuse a socket without
    one, so a case sent without it would be refused before it reached the app, and pass without testing anything."""
    target = parse_ws_url(url)
    return f"http://{target.host_header}"


class _Bystanders:
    """The sockets that must not notice the cases: kept open, pinged after each, replaced when dropped."""

    def __init__(self, url: str, unit: float) -> None:
        self.url = url
        self.unit = unit
        self.sockets: list[ClientConnection | None] = [None] * BYSTANDERS

    async def _open(self) -> ClientConnection | None:
        try:
            return await connect(self.url, origin=same_origin(self.url), open_timeout=2 * self.unit, max_size=None)  # type: ignore[arg-type]
        except (OSError, TimeoutError, WebSocketException):
            return None

    async def fill(self) -> None:
        for i, ws in enumerate(self.sockets):
            if ws is None:
                self.sockets[i] = await self._open()

    async def check(self) -> list[str]:
        """What is wrong after a case: dropped or silent bystanders, a refused new socket (empty: all well)."""
        problems = []
        for i, ws in enumerate(self.sockets):
            if ws is None:
                problems.append(f"bystander {i + 1} could not be (re)opened before the case")
                continue
            try:
                waiter = await ws.ping()
                await asyncio.wait_for(waiter, 2 * self.unit)
            except (OSError, TimeoutError, WebSocketException) as exc:
                problems.append(f"bystander {i + 1} was dropped or stopped answering pings ({type(exc).__name__})")
                await ws.close()
                self.sockets[i] = None
        fresh = await self._open()
        if fresh is None:
            problems.append("a new socket could not be opened: the server is down or refusing connections")
        else:
            await fresh.close()
        return problems

    async def close(self) -> None:
        for ws in self.sockets:
            if ws is not None:
                await ws.close()


async def _refused(url: str, unit: float) -> str | None:
    """Why a plain socket to ``url`` (with the site's own Origin) is refused, or None when it opens."""
    try:
        async with connect(url, origin=same_origin(url), open_timeout=2 * unit, max_size=None):  # type: ignore[arg-type]
            return None
    except InvalidStatus as exc:
        return f"HTTP {exc.response.status_code}"
    except (OSError, TimeoutError, WebSocketException) as exc:
        return f"{type(exc).__name__}: {exc}"


async def _send_payload(url: str, payload: AppPayload, unit: float) -> None:
    try:
        async with connect(url, origin=same_origin(url), open_timeout=2 * unit, max_size=None) as ws:  # type: ignore[arg-type]
            await ws.send(payload.data)
            # Give the app time to handle it (and to fail at it) before the others are checked.
            try:
                await asyncio.wait_for(ws.recv(), unit)
            except (TimeoutError, WebSocketException):
                pass
    except (OSError, TimeoutError, WebSocketException):
        pass  # the checks after it say whether that mattered


def _result(id_: str, category: str, description: str, behaviour: Verdict, notes: list[str], t0: float) -> CheckResult:
    return CheckResult(
        id=id_,
        group="robustness",
        category=category,
        source=SOURCE,
        behaviour=behaviour,
        behaviour_close=CloseVerdict.NOT_APPLICABLE,
        remote_close_code=None,
        duration_s=time.monotonic() - t0,
        notes=[description, *notes],
    )


async def run_robustness_checks_async(
    url: str,
    *,
    unit: float = 1.0,
    cases: Sequence[Case] | None = None,
    payloads: Sequence[AppPayload] = APP_PAYLOADS,
    progress: Callable[[str], None] | None = None,
) -> list[CheckResult]:
    """Run the group against ``url`` (a ``ws://`` URL the app serves), one case after another."""
    target = dataclasses.replace(parse_ws_url(url), headers=(("Origin", same_origin(url)),))
    bystanders = _Bystanders(url, unit)
    refused = await _refused(url, unit)
    if refused is not None:
        # Every case would be refused at the handshake and pass without reaching the app: say so instead.
        t0 = time.monotonic()
        note = f"not run: {url} refused a plain socket ({refused}); give a URL whose socket the app accepts"
        return [_result("R0", "preflight", "a socket to the target opens", Verdict.NOT_APPLICABLE, [note], t0)]
    steps: list[tuple[str, str, str, Awaitable[object]]] = [
        (c.id, f"wire {c.category}", c.description, run_case(c, target, unit=unit))
        for c in (robustness_cases() if cases is None else cases)
    ]
    steps += [(p.id, "app payload", p.description, _send_payload(url, p, unit)) for p in payloads]
    results: list[CheckResult] = []
    down = 0
    stopped_after: str | None = None
    try:
        for n, (id_, category, description, run) in enumerate(steps):
            t0 = time.monotonic()
            if stopped_after is not None:
                # Never awaited: close it, so that Python does not warn about a coroutine left behind.
                getattr(run, "close", lambda: None)()
                note = f"not run: the server answered nothing since case {stopped_after}"
                results.append(_result(id_, category, description, Verdict.NOT_APPLICABLE, [note], t0))
                continue
            await bystanders.fill()
            await run
            problems = await bystanders.check()
            verdict = Verdict.FAILED if problems else Verdict.OK
            results.append(_result(id_, category, description, verdict, problems, t0))
            down = down + 1 if any("new socket could not be opened" in p for p in problems) else 0
            if down >= _DOWN_AFTER:
                stopped_after = steps[n - _DOWN_AFTER + 1][0]
            if progress is not None and (n + 1) % 50 == 0:
                progress(f"robustness: {n + 1} of {len(steps)}")
    finally:
        await bystanders.close()
    return results


run_robustness_checks = blocking(run_robustness_checks_async)
