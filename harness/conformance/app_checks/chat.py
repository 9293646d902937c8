"""The chat endpoint under concurrent traffic in two rooms (P4.3-P4.7): fan-out, room isolation, per-sender order,
fields returned as sent, presence."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake

from harness.conformance.app_checks.context import (
    PER_SENDER,
    SENDERS,
    SRC_CHAT,
    SRC_COMMON,
    AppOutcome,
    AppRun,
    expect,
)
from harness.conformance.app_client import AppSocket, AppTarget, open_socket

__all__ = ["chat_checks"]

#: The ``client`` field every chat message carries, which must come back unchanged.
_RICH_CLIENT = {"nested": [1, 2.5, None, True], "text": "zählt ✓", "empty": {}}


@dataclass
class _ChatTraffic:
    """What the members of room A, and one member of room B, saw of the traffic; ``broken`` says why it stopped."""

    members: list[dict[str, Any]]
    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    outsider_seen: list[dict[str, Any]] = field(default_factory=list)
    leave_seen: dict[str, bool] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)


def _wait_joined(sockets: list[AppSocket], last_user: str) -> None:
    # The last member's join reaches a socket only after that socket is in the group, so all are members after this.
    for ws in sockets:
        assert ws.wait_for("presence", event="join", user=last_user) is not None, "join of the last member not seen"


def _chat_messages(ws: AppSocket, target: AppTarget) -> list[dict[str, Any]]:
    """The chat messages one member receives: all it should get, within the timeout, then whatever else came."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + target.timeout
    while len(got) < SENDERS * PER_SENDER and time.monotonic() < deadline:
        message = ws.recv(deadline - time.monotonic())
        if message is not None and message.get("type") == "message":
            got.append(message)
    got.extend(m for m in ws.drain() if m.get("type") == "message")
    return got


def _exchange(run: AppRun, seen: _ChatTraffic) -> None:
    """Each member of room A sends PER_SENDER messages while a member of room B sends one; then the first member
    leaves. What arrives is recorded in ``seen`` as it comes, so a failure part way keeps what came before it."""
    target, members = run.target, seen.members
    outsider = run.users[SENDERS]
    room_a, room_b = f"/ws/chat/{run.rooms[0]}/", f"/ws/chat/{run.rooms[1]}/"
    with open_socket(target, room_b, session=outsider["session"]) as other:
        other.wait_for("welcome")
        contexts = [open_socket(target, room_a, session=m["session"]) for m in members]
        try:
            sockets = [c.__enter__() for c in contexts]
            _wait_joined(sockets, members[-1]["username"])
            for seq in range(PER_SENDER):
                for ws, member in zip(sockets, members, strict=True):
                    ws.send_json(
                        {
                            "type": "message",
                            "text": f"{member['username']} #{seq}",
                            "id": f"{member['username']}-{seq}-{run.tag}",
                            "seq": seq,
                            "sent_at": seq + 0.25,
                            "client": _RICH_CLIENT,
                        }
                    )
            other.send_json({"type": "message", "text": "only room B", "id": f"b-{run.tag}"})
            for ws, member in zip(sockets, members, strict=True):
                seen.received[member["username"]] = _chat_messages(ws, target)
            seen.outsider_seen.extend(m for m in other.drain() if m.get("type") == "message")
            # The first member leaves; the others must see its leave.
            contexts[0].__exit__(None, None, None)
            contexts = contexts[1:]
            for ws, member in zip(sockets[1:], members[1:], strict=True):
                leave = ws.wait_for("presence", event="leave", user=members[0]["username"])
                seen.leave_seen[member["username"]] = leave is not None
        finally:
            for context in contexts:
                context.__exit__(None, None, None)


def _chat_traffic(run: AppRun) -> _ChatTraffic:
    seen = _ChatTraffic([run.users[i] for i in range(SENDERS)])
    try:
        _exchange(run, seen)
    except (OSError, InvalidHandshake, ConnectionClosed, AssertionError) as exc:
        seen.broken.append(f"chat traffic failed: {type(exc).__name__}: {exc}")
    return seen


def _fan_out(seen: _ChatTraffic) -> AppOutcome:
    failures: list[str] = []
    for name, got in seen.received.items():
        keys = Counter((m.get("user"), m.get("id")) for m in got)
        duplicates = [k for k, n in keys.items() if n > 1]
        expect(not duplicates, f"{name} received duplicates {duplicates[:3]}", failures)
        expect(
            len(got) == SENDERS * PER_SENDER,
            f"{name} received {len(got)} messages, expected {SENDERS * PER_SENDER}",
            failures,
        )
    notes = [f"{SENDERS} members × {PER_SENDER} messages each; every member must receive each message once"]
    ok = not failures and not seen.broken and len(seen.received) == SENDERS
    return AppOutcome(ok, notes + seen.broken + failures)


def _isolation(run: AppRun, seen: _ChatTraffic) -> AppOutcome:
    failures: list[str] = []
    leaked = [m for got in seen.received.values() for m in got if m.get("room") != run.rooms[0]]
    expect(not leaked, f"room-A members received other rooms' messages: {leaked[:2]}", failures)
    foreign = [m for m in seen.outsider_seen if m.get("room") != run.rooms[1]]
    expect(not foreign, f"room-B member received {len(foreign)} room-A messages", failures)
    own = [m for m in seen.outsider_seen if m.get("id") == f"b-{run.tag}"]
    expect(len(own) == 1, f"room-B member received its own message {len(own)} times", failures)
    return AppOutcome(not failures and not seen.broken, ["concurrent traffic in two rooms", *seen.broken, *failures])


def _order(seen: _ChatTraffic) -> AppOutcome:
    failures: list[str] = []
    for name, got in seen.received.items():
        for member in seen.members:
            seqs = [m.get("seq") for m in got if m.get("user") == member["username"]]
            expect(seqs == list(range(PER_SENDER)), f"{name} saw {member['username']} in order {seqs}", failures)
    ok = not failures and not seen.broken
    return AppOutcome(ok, ["per-sender seq must arrive 0..k-1 at every receiver", *seen.broken, *failures])


def _echo(seen: _ChatTraffic) -> AppOutcome:
    failures: list[str] = []
    for name, got in seen.received.items():
        for m in got:
            sender, _, rest = str(m.get("id")).partition("-")
            seq = int(rest.split("-")[0]) if rest else -1
            expected = {"seq": seq, "sent_at": seq + 0.25, "client": _RICH_CLIENT, "text": f"{sender} #{seq}"}
            bad = {k: m.get(k) for k, v in expected.items() if m.get(k) != v}
            expect(not bad, f"{name}: fields changed in {m.get('id')}: {bad}", failures)
    return AppOutcome(
        not failures and bool(seen.received), ["id, seq, sent_at, client and text returned as sent", *failures]
    )


def _presence(seen: _ChatTraffic) -> AppOutcome:
    ok = bool(seen.leave_seen) and all(seen.leave_seen.values())
    first = seen.members[0]["username"]
    notes = [f"join of the last member seen by every member, itself included; leave of {first}"]
    return AppOutcome(ok, [*notes, f"leave seen by: {seen.leave_seen}", *seen.broken])


def chat_checks(run: AppRun) -> None:
    seen = _chat_traffic(run)
    run.check("P4.3", "chat", SRC_CHAT, lambda: _fan_out(seen))
    run.check("P4.4", "chat", SRC_CHAT, lambda: _isolation(run, seen))
    run.check("P4.5", "chat", SRC_CHAT, lambda: _order(seen))
    run.check("P4.6", "chat", SRC_COMMON, lambda: _echo(seen))
    run.check("P4.7", "chat", SRC_CHAT, lambda: _presence(seen))
