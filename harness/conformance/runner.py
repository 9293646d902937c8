"""Drive the wire cases against a WebSocket echo endpoint and judge them as Autobahn's fuzzing client does.

One TCP connection per case (``wire_connection``), opened with the raw handshake of ``handshake``. Legal and illegal
frames alike come from our own writer (``frames.encode_frame``), so the driver never depends on a library that would
refuse to send them; server frames are parsed by ``frames.FrameReader``. All waits are multiples of one time
``unit`` (seconds) so slow machines can scale it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Collection, Sequence

from harness.conformance.blocking import blocking
from harness.conformance.catalogue import wire_cases
from harness.conformance.datasets import slice_payload
from harness.conformance.deflate import DeflateParams, parse_deflate_response
from harness.conformance.frames import Opcode
from harness.conformance.handshake import (
    Target,
    accept_for,
    handshake_request,
    open_tcp,
    parse_http_head,
    parse_ws_url,
    read_head,
    request_key,
)
from harness.conformance.model import (
    Case,
    CheckResult,
    CloseVerdict,
    EchoRounds,
    Expect,
    HandshakeProbe,
    KnownDeviation,
    Observation,
    SendBatch,
    SendFrame,
    SendMessage,
    SendRaw,
    Sleep,
    Step,
    Verdict,
    WaitServerPing,
    apply_deviations,
)
from harness.conformance.wire_connection import ConnectionState, WireConnection, frame_bytes, message_frames
from harness.conformance.wire_log import WireLog

__all__ = ["run_case", "run_wire_checks", "run_wire_checks_async", "select_cases"]

#: How long a server may take to fail the connection or finish closing, in units (Autobahn's killAfter(1)).
_CLOSE_WAIT_UNITS = 2.0


async def _run_step(conn: WireConnection, step: Step, unit: float, deadline: float) -> None:
    if isinstance(step, SendFrame):
        conn.note_frame_sent(step)
        await conn.write(frame_bytes(step), step.chop)
    elif isinstance(step, SendBatch):
        for frame in step.frames:
            conn.note_frame_sent(frame)
        await conn.write(b"".join(frame_bytes(f) for f in step.frames), step.chop)
    elif isinstance(step, SendMessage):
        for data in message_frames(step.opcode, step.payload, step.fragment_size, compressed=False):
            await conn.write(data, step.chop)
    elif isinstance(step, SendRaw):
        await conn.write(step.data, step.chop)
    elif isinstance(step, Sleep):
        # Sleep, but wake up early if the server closes: the fail-fast cases measure exactly that.
        await conn.wait_for(lambda: conn.closing, step.units * unit)
    elif isinstance(step, WaitServerPing):
        started = time.monotonic()
        try:
            await asyncio.wait_for(conn.server_pinged.wait(), step.units * unit)
            conn.state.notes.append(f"the server pinged after {time.monotonic() - started:.1f}s")
        except TimeoutError:
            conn.state.notes.append(f"no server ping within {step.units * unit:.1f}s")
    else:
        await _echo_rounds(conn, step, deadline)


async def _echo_rounds(conn: WireConnection, step: EchoRounds, deadline: float) -> None:
    queue: asyncio.Queue[Observation] = asyncio.Queue()
    conn.rounds = queue
    matched = 0
    opcode = Opcode.BINARY if step.binary else Opcode.TEXT
    kind = "binary" if step.binary else "text"
    try:
        for i in range(step.count):
            if conn.closing:
                break
            payload = slice_payload(step.dataset, i, step.size)
            wire_payload = conn.deflater.compress(payload) if conn.deflater else payload
            frames = message_frames(opcode, wire_payload, step.fragment_size, compressed=conn.deflater is not None)
            await conn.write(b"".join(frames))
            try:
                got = await asyncio.wait_for(queue.get(), max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                conn.state.notes.append(f"echo {i + 1} of {step.count} did not arrive in time")
                break
            if got.kind != kind or got.payload != payload:
                conn.state.notes.append(f"echo {i + 1} differs: sent {kind} {len(payload)}B, got {got}")
                break
            matched += 1
    finally:
        conn.rounds = None
        conn.state.observations.append(Observation("rounds", str(matched).encode()))


def _judge(expect: Expect, state: ConnectionState) -> tuple[Verdict, CloseVerdict, list[str]]:
    """Autobahn's rules (case.py ``onConnectionLost``), plus one of ours.

    A server that never fails a connection it must fail is FAILED even when it echoed nothing; Autobahn would
    only fail the close verdict.
    """
    notes: list[str] = []
    obs = tuple(state.observations)
    closed_by_client = state.first_closer == "client"
    clean = state.server_close_received and state.client_close_sent
    if expect.informational:
        got = ", ".join(str(o) for o in obs[:6]) or "nothing"
        closer = state.first_closer or "nobody"
        notes.append(f"received {got}; closing started by {closer}; server close code {state.server_close_code}")
        return Verdict.INFORMATIONAL, CloseVerdict.INFORMATIONAL, notes
    if expect.close.closed_by_client != closed_by_client:
        close = CloseVerdict.FAILED
        notes.append("the connection was ended by the wrong endpoint")
    elif expect.close.require_clean and not clean:
        close = CloseVerdict.UNCLEAN
        notes.append("no closing handshake: the connection dropped without an exchange of close frames")
    elif state.server_close_code is not None and state.server_close_code not in expect.close.codes:
        close = CloseVerdict.WRONG_CODE
        codes = "/".join(str(c) for c in expect.close.codes)
        notes.append(f"close code {state.server_close_code}, expected {codes} or none")
    elif state.dropped_by_client:
        close = CloseVerdict.FAILED_BY_CLIENT
        notes.append("the client had to drop TCP; the server should close it after the closing handshake")
    else:
        close = CloseVerdict.OK
    if obs == expect.ok:
        behaviour = Verdict.OK
        if expect.fail_fast_step is not None and (
            state.steps_done_at_server_close is None or state.steps_done_at_server_close > expect.fail_fast_step
        ):
            behaviour = Verdict.NON_STRICT
            notes.append("the server failed the connection only after the whole message arrived, not fast")
    elif obs in expect.non_strict:
        behaviour = Verdict.NON_STRICT
    else:
        behaviour = Verdict.FAILED
        got = ", ".join(str(o) for o in obs[:6]) or "nothing"
        want = ", ".join(str(o) for o in expect.ok[:6]) or "nothing"
        notes.append(f"received {got}; expected {want}")
    if not expect.close.closed_by_client and state.first_closer != "server":
        behaviour = Verdict.FAILED
        notes.append("the server did not fail the connection although the traffic was invalid")
    if expect.wrong_code_fails and close is CloseVerdict.WRONG_CODE:
        behaviour = Verdict.FAILED
    return behaviour, close, notes


async def _run_frames_case(case: Case, target: Target, unit: float, log: WireLog) -> CheckResult:
    assert case.expect is not None
    t0 = time.monotonic()
    deadline = t0 + case.timeout_units * unit

    def result(behaviour: Verdict, close: CloseVerdict, code: int | None, notes: list[str]) -> CheckResult:
        return _case_result(case, t0, behaviour, close, code, notes)

    reader, writer = await open_tcp(target, 2 * unit)
    key = base64.b64encode(os.urandom(16)).decode()
    extra = [("Sec-WebSocket-Extensions", ", ".join(o.header_value() for o in case.deflate_offers))]
    request = handshake_request(target, key, extra if case.deflate_offers else ())
    log.data(">", request)
    writer.write(request)
    got = await read_head(reader, log, 2 * unit)
    head = parse_http_head(got[0]) if got else None
    if got is None or head is None or head.status != 101 or head.get("sec-websocket-accept") != accept_for(key):
        writer.transport.abort()
        status = head.status if head else "no response"
        return result(Verdict.FAILED, CloseVerdict.FAILED, None, [f"opening handshake failed ({status})"])
    deflate: DeflateParams | None = None
    ext = parse_deflate_response(head.get("sec-websocket-extensions"))
    if isinstance(ext, str):
        writer.transport.abort()
        return result(Verdict.FAILED, CloseVerdict.FAILED, None, [f"bad permessage-deflate answer: {ext}"])
    if ext is not None:
        if not case.deflate_offers:
            writer.transport.abort()
            return result(Verdict.FAILED, CloseVerdict.FAILED, None, ["server enabled an extension not offered"])
        deflate = ext
    conn = WireConnection(reader, writer, log, answer_pings=case.answer_pings, deflate=deflate)
    conn.start(got[1])
    try:
        if case.deflate_offers and deflate is None:
            conn.send_close(1000, b"")
            await conn.wait_for(lambda: conn.state.eof, _CLOSE_WAIT_UNITS * unit)
            return result(
                Verdict.UNIMPLEMENTED,
                CloseVerdict.NOT_APPLICABLE,
                conn.state.server_close_code,
                ["permessage-deflate was offered but not negotiated"],
            )
        try:
            for i, step in enumerate(case.steps):
                if conn.closing:
                    break
                await _run_step(conn, step, unit, deadline)
                conn.state.steps_done = i + 1
        except OSError as exc:
            conn.state.notes.append(f"write failed: {exc.__class__.__name__}")
        expect = case.expect
        remaining = max(deadline - time.monotonic(), 0.0)
        if expect.close.closed_by_client:
            ok = expect.ok
            await conn.wait_for(lambda: conn.closing or tuple(conn.state.observations) == ok, remaining)
            if not conn.state.client_close_sent and not conn.closing:
                conn.send_close(1000, b"")
        else:
            await conn.wait_for(lambda: conn.closing, min(remaining, _CLOSE_WAIT_UNITS * unit))
        if not await conn.wait_for(lambda: conn.state.eof, _CLOSE_WAIT_UNITS * unit):
            await conn.drop()
        state = conn.state
        behaviour, close, notes = _judge(expect, state)
        return result(behaviour, close, state.server_close_code, state.notes + notes)
    finally:
        await conn.stop()


async def _run_handshake_case(
    case: Case, probe: HandshakeProbe, target: Target, unit: float, log: WireLog
) -> CheckResult:
    t0 = time.monotonic()
    notes: list[str] = []
    reader, writer = await open_tcp(target, 2 * unit)
    request = probe.request.replace(b"{host}", target.host_header.encode()).replace(b"{path}", target.path.encode())
    log.data(">", request)
    writer.write(request)
    try:
        if probe.expect == "timeout":
            # The RFC sets no handshake deadline, so keeping a stalled client is a weakness, not a violation.
            behaviour = Verdict.NON_STRICT
            try:
                data = await asyncio.wait_for(reader.read(65536), case.timeout_units * unit)
                while data:
                    log.data("<", data)
                    data = await asyncio.wait_for(reader.read(65536), case.timeout_units * unit)
                behaviour = Verdict.OK
                notes.append(f"the server closed the stalled connection after {time.monotonic() - t0:.1f}s")
            except TimeoutError:
                notes.append(f"the server kept a stalled handshake open for {case.timeout_units * unit:.0f}s")
            except OSError:
                behaviour = Verdict.OK
            return _handshake_result(case, behaviour, t0, notes)
        got = await read_head(reader, log, case.timeout_units * unit)
        head = parse_http_head(got[0]) if got else None
        if head is None:
            if got is None:
                notes.append("no HTTP response: the server closed or timed out")
            behaviour = Verdict.NON_STRICT if probe.expect == "reject" else Verdict.FAILED
        elif probe.expect == "accept":
            key = request_key(probe.request)
            good = head.status == 101 and (key is None or head.get("sec-websocket-accept") == accept_for(key))
            behaviour = Verdict.OK if good else Verdict.FAILED
            if not good:
                notes.append(f"expected 101 with a valid Sec-WebSocket-Accept, got {head.status}")
        elif head.status == 101:
            behaviour = Verdict.NON_STRICT if probe.lenient_upgrade else Verdict.FAILED
            notes.append("the server upgraded a request it should reject")
        elif head.status in probe.statuses or (not probe.statuses and 400 <= head.status < 500):
            behaviour = Verdict.OK
        elif 400 <= head.status < 500:
            behaviour = Verdict.NON_STRICT
            notes.append(f"rejected with {head.status}; expected {'/'.join(map(str, probe.statuses))}")
        else:
            behaviour = Verdict.FAILED
            notes.append(f"status {head.status} for a client error")
        if head is not None and behaviour is not Verdict.FAILED:
            for name, value in probe.required_headers:
                present = head.get(name)
                if present is None or value.lower() not in present.lower():
                    behaviour = Verdict.NON_STRICT
                    notes.append(f"response lacks '{name}: {value}'")
        return _handshake_result(case, behaviour, t0, notes)
    finally:
        writer.transport.abort()


def _case_result(
    case: Case, t0: float, behaviour: Verdict, close: CloseVerdict, code: int | None, notes: list[str]
) -> CheckResult:
    """The result of ``case``, begun at ``t0`` (``time.monotonic()``)."""
    return CheckResult(
        case.id, case.group, case.category, case.source, behaviour, close, code, time.monotonic() - t0, notes=notes
    )


def _handshake_result(case: Case, behaviour: Verdict, t0: float, notes: list[str]) -> CheckResult:
    """A handshake probe has no closing handshake to judge."""
    return _case_result(case, t0, behaviour, CloseVerdict.NOT_APPLICABLE, None, notes)


async def run_case(case: Case, target: Target, *, unit: float = 1.0) -> CheckResult:
    """Run one case; never raises for server misbehaviour, which is what is being measured."""
    log = WireLog()
    t0 = time.monotonic()
    try:
        if case.handshake is not None:
            res = await asyncio.wait_for(
                _run_handshake_case(case, case.handshake, target, unit, log), (case.timeout_units + 5) * unit
            )
        else:
            res = await asyncio.wait_for(_run_frames_case(case, target, unit, log), (case.timeout_units + 5) * unit)
    except TimeoutError:
        res = _case_result(
            case, t0, Verdict.FAILED, CloseVerdict.FAILED, None, ["the case did not finish in its time budget"]
        )
    except OSError as exc:
        res = _case_result(
            case,
            t0,
            Verdict.FAILED,
            CloseVerdict.FAILED,
            None,
            [f"cannot talk to {target.host_header}: {exc}; is the server running?"],
        )
    bad_close = res.behaviour_close in (CloseVerdict.FAILED, CloseVerdict.UNCLEAN, CloseVerdict.WRONG_CODE)
    if res.behaviour is Verdict.FAILED or bad_close:
        res.wire_log = log.lines()
    return res


def select_cases(
    *,
    categories: Collection[str] | None = None,
    ids: Collection[str] | None = None,
    include_slow: bool = False,
    max_message_size: int | None = None,
) -> list[Case]:
    """Filter the catalogue. ``categories`` match the category's first word ("1", "6", "handshake");
    ``ids`` match whole ids or id prefixes ending at a dot ("6.4" selects 6.4.1-6.4.4)."""
    chosen = []
    for case in wire_cases(max_message_size=max_message_size):
        if case.slow and not include_slow:
            continue
        if categories is not None and case.category.split(" ", 1)[0] not in categories:
            continue
        if ids is not None and not any(case.id == i or case.id.startswith(i + ".") for i in ids):
            continue
        chosen.append(case)
    return chosen


async def run_wire_checks_async(
    url: str,
    *,
    categories: Collection[str] | None = None,
    ids: Collection[str] | None = None,
    include_slow: bool = False,
    unit: float = 1.0,
    concurrency: int = 4,
    known_deviations: Sequence[KnownDeviation] = (),
    max_message_size: int | None = None,
) -> list[CheckResult]:
    """Run the wire group against a WebSocket echo endpoint (``ws://host:port/path``).

    ``run_wire_checks`` takes the same arguments and runs this in an event loop of its own.

    Args:
        url: the endpoint; it must echo text and binary messages back unchanged.
        categories: category first words to run ("1" ... "13", "handshake", "limits", "keepalive").
        ids: case ids or id prefixes to run.
        include_slow: also run the opt-in slow set (9.x, big 12.x/13.x, limit sweeps, keepalive waits).
        unit: the time unit in seconds every wait is scaled from.
        concurrency: cases run at once, each on its own connection.
        known_deviations: expected failures to report as KNOWN DEVIATION with their upstream link.
        max_message_size: the server's configured message limit, enabling the boundary checks.

    Returns:
        One ``CheckResult`` per case, in catalogue order.
    """
    target = parse_ws_url(url)
    cases = select_cases(categories=categories, ids=ids, include_slow=include_slow, max_message_size=max_message_size)
    limit = asyncio.Semaphore(concurrency)

    async def one(case: Case) -> CheckResult:
        async with limit:
            return await run_case(case, target, unit=unit)

    results = list(await asyncio.gather(*(one(c) for c in cases)))
    apply_deviations(results, known_deviations)
    return results


run_wire_checks = blocking(run_wire_checks_async)
