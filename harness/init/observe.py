"""Watching a live app: a few sockets, a few messages with tokens, every frame that came back."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from harness.load.envelope import Envelope
from harness.load.token import encode_token
from harness.scenario.template import Template, per_send_values

__all__ = ["Frame", "Observation", "SocketLog", "observe"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame a socket received: its text (binary frames decoded as UTF-8 with replacement), and after which
    send (-1: before the first)."""

    text: str
    after_send: int


@dataclass(slots=True)
class SocketLog:
    """One socket: its name, URL, what went wrong opening it (or None), and every frame it received."""

    name: str
    url: str
    error: str | None = None
    frames: list[Frame] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Sent:
    """One message sent: by which socket, its token's sender and sequence number, the token and the text sent."""

    socket: str
    sender: str
    seq: int
    token: str
    text: str


@dataclass(slots=True)
class Observation:
    """What :func:`observe` saw: the run id of its tokens, the sockets, and the messages sent in order."""

    run_id: str
    sockets: list[SocketLog]
    sent: list[Sent] = field(default_factory=list)


async def _open(
    log: SocketLog, origin: str | None, timeout: float, cookies: Mapping[str, str]
) -> ClientConnection | None:
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else None
    try:
        return await asyncio.wait_for(
            connect(log.url, origin=origin, open_timeout=None, additional_headers=headers),  # type: ignore[arg-type]
            timeout,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        hint = (
            " (Channels' AllowedHostsOriginValidator refuses an Origin whose host is not in ALLOWED_HOSTS: give "
            "--origin, e.g. the app's own http://host:port)"
            if status == 403
            else ""
        )
        log.error = f"the server refused the WebSocket handshake with HTTP {status}{hint}"
    except (OSError, TimeoutError, WebSocketException) as exc:
        log.error = f"could not open the socket: {exc!r}"
    return None


async def _read(ws: ClientConnection, log: SocketLog, sends: list[Sent]) -> None:
    try:
        async for message in ws:
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            log.frames.append(Frame(text, len(sends) - 1))
    except WebSocketException as exc:
        if log.error is None:
            log.error = f"the socket closed: {exc!r}"


async def observe(
    sockets: list[tuple[str, str]],
    message: Template,
    senders: list[str],
    *,
    origin: str | None = None,
    cookies: Mapping[str, str] | None = None,
    settle_s: float = 0.5,
    gap_s: float = 0.5,
    wait_s: float = 2.0,
    timeout_s: float = 10.0,
) -> Observation:
    """Open ``sockets`` ((name, url) each), wait ``settle_s``, then let each socket named in ``senders`` send
    ``message`` in turn (``gap_s`` apart, its ``{token}`` filled), and record every frame until ``wait_s`` after the
    last send. The users of the message are ``u0``, ``u1``, … in the order of ``sockets``; all in room ``r0``.
    ``cookies`` (a login's) go on every upgrade."""
    run_id = f"init-{uuid.uuid4().hex[:8]}"
    logs = [SocketLog(name, url) for name, url in sockets]
    observation = Observation(run_id, logs)
    conns = await asyncio.gather(*(_open(log, origin, timeout_s, cookies or {}) for log in logs))
    readers = [asyncio.create_task(_read(ws, log, observation.sent)) for ws, log in zip(conns, logs, strict=True) if ws]
    try:
        if all(ws is not None for ws in conns):
            await asyncio.sleep(settle_s)
            for seq, name in enumerate(senders):
                index = [log.name for log in logs].index(name)
                ws = conns[index]
                assert ws is not None
                user = f"u{index}"
                now = time.monotonic_ns()
                token = encode_token(Envelope(run_id, user, seq, now, now))
                values = {"user": user, "room": "r0", "token": token, **per_send_values(seq)}
                text = message.fill(message.environment(os.environ)).render(values)
                observation.sent.append(Sent(name, user, seq, token, text))
                await ws.send(text)
                await asyncio.sleep(gap_s)
            await asyncio.sleep(max(0.0, wait_s - gap_s))
    finally:
        for ws in conns:
            if ws is not None:
                await ws.close()
        await asyncio.gather(*readers, return_exceptions=True)
    return observation
