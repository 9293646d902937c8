"""From what a live app did to what its scenario says: who receives a message, where its token travels.

Pure: an :class:`~harness.init.observe.Observation` in, an :class:`Inference` out (the ``[app.fanout]`` keys, the
fields the token came back in, one line of evidence per finding, and what could not be decided).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.init.observe import Observation
from harness.load.token import find_tokens
from harness.scenario.app import FanoutTo

__all__ = ["Inference", "infer", "token_fields"]


@dataclass(slots=True)
class Inference:
    """What the observation says, or why it says nothing (``fanout_to`` None).

    Attributes:
        fanout_to: ``room``, ``url`` or ``sender``; None when no socket received a token.
        include_sender: whether each sender received its own message.
        first_seen: whether a receiver got the same message more than once (an app that re-sends its state).
        fields: where the tokens came back, e.g. ``$.message``, most frequent first.
        evidence: one line per socket and message: who received what, where.
        problems: what could not be decided, each with what to do.
    """

    fanout_to: FanoutTo | None = None
    include_sender: bool = True
    first_seen: bool = False
    fields: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def token_fields(text: str, token_text: str) -> list[str]:
    """The JSON paths of the string values of ``text`` that hold ``token_text`` (``$`` for a whole text frame that
    is not JSON), case-insensitively as tokens are read."""
    try:
        doc = json.loads(text)
    except ValueError:
        return ["$ (a text frame, not JSON)"]
    return list(_paths(doc, "$", token_text.lower()))


def _paths(node: Any, at: str, needle: str) -> Iterator[str]:
    if isinstance(node, str):
        if needle in node.lower():
            yield at
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, f"{at}.{key}", needle)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, f"{at}[{i}]", needle)


def infer(observation: Observation, *, other_room: str | None = None) -> Inference:
    """Decide the fan-out from ``observation``.

    ``other_room``: the name of a socket connected to another room than the senders' (``--room``); when it
    received nothing while a socket of the senders' room did, the fan-out is ``room``.
    """
    result = Inference()
    failed = [log for log in observation.sockets if log.error]
    for log in failed:
        result.problems.append(f"socket {log.name} ({log.url}): {log.error}")
    if failed:
        return result
    tokens_of = {sent.seq: sent for sent in observation.sent}
    received: dict[str, Counter[int]] = {}
    fields: Counter[str] = Counter()
    for log in observation.sockets:
        counts: Counter[int] = Counter()
        for frame in log.frames:
            for envelope in find_tokens(frame.text, run_id=observation.run_id).envelopes:
                counts[envelope.seq] += 1
                sent = tokens_of.get(envelope.seq)
                if sent is not None:
                    fields.update(token_fields(frame.text, sent.token))
        received[log.name] = counts
        other = sum(1 for frame in log.frames if not find_tokens(frame.text, run_id=observation.run_id).envelopes)
        for seq, sent in tokens_of.items():
            n = counts[seq]
            result.evidence.append(
                f"socket {log.name}: message {seq + 1} (sent by {sent.socket}) "
                + ("not received" if not n else f"received {n} time{'s' if n > 1 else ''}")
            )
        if other:
            result.evidence.append(f"socket {log.name}: {other} frame{'s' if other > 1 else ''} without a token")
    result.fields = [name for name, _ in fields.most_common()]
    if not any(received[name] for name in received):
        samples = [f.text[:200] for log in observation.sockets for f in log.frames][:3]
        seen = "; ".join(repr(s) for s in samples) or "no frames at all"
        result.problems.append(
            "no socket received a token: the app does not relay the text that held {token}. Frames seen: "
            f'{seen}. Put {{token}} in the field the app relays (e.g. --send \'{{"message": "{{token}}"}}\')'
        )
        return result
    senders = {sent.socket for sent in observation.sent}
    result.first_seen = any(n > 1 for counts in received.values() for n in counts.values())
    self_copy = [sent.seq in received[sent.socket] for sent in observation.sent]
    result.include_sender = all(self_copy)
    if any(self_copy) and not all(self_copy):
        result.problems.append("some senders received their own message and some did not: include_sender is a guess")
    peers = [
        name
        for name in received
        if name != other_room and any(received[name][s.seq] for s in observation.sent if s.socket != name)
    ]
    if not peers:
        result.fanout_to = "sender"
        result.include_sender = True
        if not all(self_copy):
            result.problems.append("only some senders got their own message back and no one else got it")
        return result
    if other_room is not None:
        if any(received[other_room].values()):
            result.fanout_to = "url"
            result.problems.append(
                f"socket {other_room}, in another room, received the messages too: the room in the path does not "
                "separate messages, and a fan-out to every socket of the app cannot be described yet; the file "
                "says url, so deliveries to other paths will count as outside the expected"
            )
        else:
            result.fanout_to = "room"
    else:
        result.fanout_to = "url"
    listeners = [name for name in received if name not in senders and name != other_room]
    missed = [name for name in listeners if any(received[name][s.seq] == 0 for s in observation.sent)]
    if missed:
        result.problems.append(
            f"socket{'s' if len(missed) > 1 else ''} {', '.join(missed)} did not receive every message: the app "
            "may not reach every member, or needs longer than the wait (--wait)"
        )
    return result
