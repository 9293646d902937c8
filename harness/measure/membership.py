"""Who was in which group when, for users that reconnect: what each receiver was owed, and what a fault window did.

A user that reconnects after its socket closes (``[load] reconnect``, as the reference app's pages do) is not a
member of its group while it is away, so ``[0, messages sent)`` no longer says what it should have received. In a
reconnecting run each generator process keeps a :class:`MembershipLog`: the wall-clock time of each message a
sender sent (its seq is its index: a reconnecting sender numbers only the messages it did send), and each socket's
stay in its group: when it began connecting, when it was joined (the handshake done and the user's own steps run),
and when it saw its socket close unasked, with the close code.

From the merged logs, :func:`stream_ranges` says, per (sender, receiver) stream, which seqs are **expected** (sent
while the receiver was joined, up to :data:`CUT_OFF_S` before it saw its socket close) and which are **optional**
(sent while it was still connecting, or in those last seconds: the server may or may not have delivered them before
the socket died; neither owed nor outside, and counted ``cut_off`` when they did not come). The same holds for what
the *sender* sent in the :data:`CUT_OFF_S` before it saw its own socket close: the server may have died before it
read them, so no one is owed them (an operation whose connection died before an answer is indeterminate). A message
sent while the receiver was away is not owed to it.

:func:`window_membership` reads what a fault window did to the rooms: sockets closed (by code) from its start to the
next window's, how soon the first closed, reconnects, sends the users could not make (no socket), the room messages
sent in that span (owed, lost, cut off, duplicated), how soon after the fault's end the first message was sent that
reached another member (or came back to an echo socket), and the **silent members**: receivers that were joined
while their room's messages were sent after the fault ended (before the next window) and received none of them.
That is the canary of each room: its own next
messages, the others' (a member alone in its group, an echo socket, is its own canary). (Messages are a window's
from :data:`IN_FLIGHT_S` before its start to as long before the next window's: those in flight when a fault began
are the ones it can lose.) A member whose group membership was lost while its socket stayed open (a Redis restart
that kept the socket) is one; a socket that closed is not (its client knows, and reconnects). A member silent for a
while that recovers before the next window (its membership re-joined) is not silent, but it is the slowest: the
window says how long after the fault's end the message was sent that the last of the checked members received first.

Imports neither locust nor gevent.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from harness.measure.accounting import AccountingDecodeError, DeliveryLedger
from harness.measure.ranges import contains, intersect, minus, union

__all__ = [
    "CUT_OFF_S",
    "IN_FLIGHT_S",
    "SILENT_LISTED_MAX",
    "MembershipLog",
    "Stay",
    "stream_ranges",
    "window_membership",
]

#: Seconds before a receiver saw its socket close during which what was sent to it may be lost with the socket (a
#: server killed mid-delivery): optional, not owed. Longer than a delivery takes unless the server is failing.
CUT_OFF_S: Final = 5.0
#: Seconds before a window's start from which the messages sent are its own: those in flight when it began are the
#: ones it can lose (a FLUSHALL 0.3 ms after a send took that message with it), not the previous window's.
IN_FLIGHT_S: Final = 1.0
#: Silent members a window lists by name (all are counted).
SILENT_LISTED_MAX: Final = 50
_NS: Final = 1_000_000_000


@dataclass(slots=True)
class Stay:
    """One socket's stay in a group (wall-clock ns): connecting from, joined at, closed at (None: it stayed until the
    end, or the user closed it) with the close code the client saw."""

    connecting_ns: int
    joined_ns: int
    left_ns: int | None = None
    code: int | None = None

    def to_list(self) -> list[int | None]:
        return [self.connecting_ns, self.joined_ns, self.left_ns, self.code]

    @classmethod
    def from_list(cls, data: Any) -> Stay:
        if not isinstance(data, list) or len(data) != 4:
            raise AccountingDecodeError(f"a stay must be [connecting_ns, joined_ns, left_ns, code], got {data!r:.80}")
        connecting, joined, left, code = data
        for name, value, optional in (
            ("connecting_ns", connecting, False),
            ("joined_ns", joined, False),
            ("left_ns", left, True),
            ("code", code, True),
        ):
            if value is None and optional:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise AccountingDecodeError(f"stay {name} must be a non-negative int, got {value!r}")
        if joined < connecting or (left is not None and left < joined):
            raise AccountingDecodeError(f"a stay must connect, join and leave in that order, got {data!r}")
        return cls(connecting, joined, left, code)


@dataclass
class MembershipLog:
    """Send times, stays and unavailable sends of one process's users, or of all of them merged."""

    #: (sender, group) -> wall-clock ns of each message sent, by seq.
    sends: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    #: (member, group) -> its stays, in order.
    stays: dict[tuple[str, str], list[Stay]] = field(default_factory=dict)
    #: sender -> wall-clock ns of each scheduled send it could not make (no socket open then).
    unavailable: dict[str, list[int]] = field(default_factory=dict)
    #: (sender, receiver) -> the seqs that arrived again after their first arrival, once per repeat.
    duplicates: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def next_seq(self, sender: str, group: str) -> int:
        """The seq of ``sender``'s next message to ``group``: the number it has sent."""
        return len(self.sends.get((sender, group), ()))

    def sent(self, sender: str, group: str, at_ns: int) -> None:
        self.sends.setdefault((sender, group), []).append(at_ns)

    def joined(self, member: str, group: str, connecting_ns: int, joined_ns: int) -> None:
        self.stays.setdefault((member, group), []).append(Stay(connecting_ns, max(joined_ns, connecting_ns)))

    def left(self, member: str, group: str, at_ns: int, code: int | None) -> None:
        """End ``member``'s open stay in ``group`` (nothing if it has none open)."""
        stays = self.stays.get((member, group))
        if stays and stays[-1].left_ns is None:
            stays[-1].left_ns = max(at_ns, stays[-1].joined_ns)
            stays[-1].code = code

    def could_not_send(self, sender: str, at_ns: int) -> None:
        self.unavailable.setdefault(sender, []).append(at_ns)

    def duplicated(self, sender: str, receiver: str, seq: int) -> None:
        self.duplicates.setdefault((sender, receiver), []).append(seq)

    def merge(self, other: MembershipLog) -> None:
        """Fold in another process's log (users are distinct per process; a key seen twice is joined in time)."""
        for key, times in other.sends.items():
            self.sends[key] = sorted(self.sends.get(key, []) + times)
        for key, stays in other.stays.items():
            self.stays[key] = sorted(self.stays.get(key, []) + stays, key=lambda s: s.connecting_ns)
        for sender, times in other.unavailable.items():
            self.unavailable[sender] = sorted(self.unavailable.get(sender, []) + times)
        for key, seqs in other.duplicates.items():
            self.duplicates[key] = sorted(self.duplicates.get(key, []) + seqs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sends": [[s, g, times] for (s, g), times in sorted(self.sends.items())],
            "stays": [[m, g, [stay.to_list() for stay in stays]] for (m, g), stays in sorted(self.stays.items())],
            "unavailable": {sender: times for sender, times in sorted(self.unavailable.items())},
            "duplicates": [[s, r, seqs] for (s, r), seqs in sorted(self.duplicates.items())],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MembershipLog:
        """Inverse of :meth:`to_dict`.

        Raises:
            AccountingDecodeError: if the dict is malformed.
        """
        log = cls()
        try:
            for sender, group, times in data["sends"]:
                log.sends[(str(sender), str(group))] = [_ns(t, "send time") for t in times]
            for member, group, stays in data["stays"]:
                log.stays[(str(member), str(group))] = [Stay.from_list(s) for s in stays]
            for sender, times in data["unavailable"].items():
                log.unavailable[str(sender)] = [_ns(t, "unavailable send time") for t in times]
            # Absent in logs written before duplicates were kept.
            for sender, receiver, seqs in data.get("duplicates", []):
                log.duplicates[(str(sender), str(receiver))] = [_ns(seq, "duplicated seq") for seq in seqs]
        except KeyError as exc:
            raise AccountingDecodeError(f"membership log is missing {exc}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, AccountingDecodeError):
                raise
            raise AccountingDecodeError(f"membership log is malformed: {exc}") from None
        return log

    def members(self) -> dict[str, list[str]]:
        """Group -> its members (every user that ever joined it)."""
        out: dict[str, list[str]] = {}
        for member, group in sorted(self.stays):
            out.setdefault(group, []).append(member)
        return out


def _ns(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AccountingDecodeError(f"{what} must be a non-negative int (ns), got {value!r}")
    return value


def _seqs(times: list[int], start_ns: int, end_ns: int | None) -> tuple[int, int]:
    """The seq range ``[first, end)`` of the messages sent in ``[start_ns, end_ns)`` (times in seq order)."""
    first = bisect.bisect_left(times, start_ns)
    end = len(times) if end_ns is None else bisect.bisect_left(times, end_ns)
    return first, max(first, end)


def _owed(stay: Stay, cut_off_ns: int) -> tuple[int, int | None]:
    """The span (ns) of a stay in which what is sent is owed."""
    if stay.left_ns is None:
        return stay.joined_ns, None
    return stay.joined_ns, max(stay.joined_ns, stay.left_ns - cut_off_ns)


def _cuts(stays: list[Stay], cut_off_ns: int) -> list[tuple[int, int]]:
    """The spans (ns) just before each close of a socket, in which what it sent or was sent may have died with it."""
    return [(s.left_ns - cut_off_ns, s.left_ns) for s in stays if s.left_ns is not None]


def stream_ranges(
    log: MembershipLog, *, others_only: Iterable[str] = (), cut_off_s: float = CUT_OFF_S
) -> Iterator[tuple[str, str, list[tuple[int, int]], list[tuple[int, int]], list[tuple[int, int]]]]:
    """``(sender, receiver, expected, optional, tolerated)`` seq ranges of every stream the log explains (module
    doc): tolerated are those sent while the receiver was away between two stays, which a server still delivering
    late may hand to its new socket.

    ``others_only``: groups whose senders do not receive their own messages.
    """
    skip_self = set(others_only)
    members = log.members()
    cut_off_ns = round(cut_off_s * _NS)
    for (sender, group), times in sorted(log.sends.items()):
        sent_dying = union([_seqs(times, lo, hi) for lo, hi in _cuts(log.stays.get((sender, group), []), cut_off_ns)])
        for receiver in members.get(group, ()):
            if receiver == sender and group in skip_self:
                continue
            expected: list[tuple[int, int]] = []
            optional: list[tuple[int, int]] = []
            stays = log.stays[(receiver, group)]
            away = [
                _seqs(times, before.left_ns, after.connecting_ns)
                for before, after in zip(stays, stays[1:], strict=False)
                if before.left_ns is not None
            ]
            for stay in stays:
                owed_from, owed_to = _owed(stay, cut_off_ns)
                optional.append(_seqs(times, stay.connecting_ns, stay.joined_ns))
                expected.append(_seqs(times, owed_from, owed_to))
                if owed_to is not None:
                    optional.append(_seqs(times, owed_to, stay.left_ns))
            owed = union(expected)
            yield (
                sender,
                receiver,
                minus(owed, sent_dying),
                union(optional + intersect(owed, sent_dying)),
                union(away),
            )


def _within(ns: int, start: int, until: int | None) -> bool:
    return ns >= start and (until is None or ns < until)


def window_membership(
    log: MembershipLog,
    ledger: DeliveryLedger,
    *,
    began_ns: int,
    ended_ns: int,
    until_ns: int | None,
    others_only: Iterable[str] = (),
    cut_off_s: float = CUT_OFF_S,
) -> dict[str, Any]:
    """What a fault window did to the rooms (module doc): closes and reconnects from ``began_ns`` to ``until_ns``
    (the next window's start; None: the run's end), the room messages sent in that span moved :data:`IN_FLIGHT_S`
    earlier (those in flight when a window began are its own), and the silent members after ``ended_ns``."""
    skip_self = set(others_only)
    in_flight_ns = round(IN_FLIGHT_S * _NS)
    sent_from = began_ns - in_flight_ns
    sent_until = None if until_ns is None else until_ns - in_flight_ns
    closes: dict[str, int] = {}
    first_close: int | None = None
    reconnects = 0
    for stays in log.stays.values():
        for i, stay in enumerate(stays):
            if stay.left_ns is not None and _within(stay.left_ns, began_ns, until_ns):
                code = str(stay.code)
                closes[code] = closes.get(code, 0) + 1
                first_close = stay.left_ns if first_close is None else min(first_close, stay.left_ns)
            if i > 0 and _within(stay.joined_ns, began_ns, until_ns):
                reconnects += 1
    members = log.members()
    messages = {"sent": 0, "owed": 0, "received": 0, "lost": 0, "cut_off": 0, "duplicated": 0}
    # Per receiver: messages owed to it that were sent after the fault's end, and how many of them it received.
    owed_after: dict[str, list[int]] = {}
    # Per receiver: the send time of the first message sent after the fault's end that it received.
    first_got: dict[str, int] = {}
    first_reached: int | None = None
    # What each stream owes and may get, as the merged ledger has it: one definition for both.
    ranges = {(s, r): (e, o) for s, r, e, o, _ in stream_ranges(log, others_only=skip_self, cut_off_s=cut_off_s)}
    for (sender, group), times in log.sends.items():
        first, end = _seqs(times, sent_from, sent_until)
        if first == end:
            continue
        messages["sent"] += end - first
        # A sender's own copy is its canary only where it is alone in its group (an echo socket): elsewhere the
        # others are what the room hears.
        alone = len(members.get(group, ())) == 1
        for receiver in members.get(group, ()):
            if (sender, receiver) not in ranges:
                continue
            expected, optional = ranges[(sender, receiver)]
            canary = alone or receiver != sender
            stream = ledger.stream(sender, receiver)
            for seq in range(first, end):
                owed = contains(expected, seq)
                if not owed and not contains(optional, seq):
                    continue
                at = times[seq]
                got = stream.holds(seq)
                if got and canary and at >= ended_ns:
                    first_reached = at if first_reached is None else min(first_reached, at)
                if not owed:
                    messages["cut_off"] += 0 if got else 1
                    continue
                messages["owed"] += 1
                messages["received" if got else "lost"] += 1
                if at >= ended_ns and canary:
                    tally = owed_after.setdefault(receiver, [0, 0])
                    tally[0] += 1
                    if got:
                        tally[1] += 1
                        first_got[receiver] = min(first_got.get(receiver, at), at)
    send_times = {sender: times for (sender, _), times in log.sends.items()}
    for (sender, _), seqs in log.duplicates.items():
        times = send_times.get(sender, [])
        messages["duplicated"] += sum(
            1 for seq in seqs if seq < len(times) and _within(times[seq], sent_from, sent_until)
        )
    silent = sorted(r for r, (owed, got) in owed_after.items() if got == 0)
    unavailable = sum(1 for times in log.unavailable.values() for at in times if _within(at, began_ns, until_ns))
    return {
        "socket_closes": closes,
        "first_close_after_s": None if first_close is None else round((first_close - began_ns) / _NS, 3),
        "reconnects": reconnects,
        "sends_unavailable": unavailable,
        "room_messages": messages,
        "first_room_message_after_s": None if first_reached is None else round((first_reached - ended_ns) / _NS, 3),
        "silent_members": len(silent),
        "silent_members_listed": silent[:SILENT_LISTED_MAX],
        "members_checked": len(owed_after),
        "slowest_member_after_s": None if not first_got else round((max(first_got.values()) - ended_ns) / _NS, 3),
    }
