"""The exactly-once audit of punches: every insert the EKS emulator logged against the punches the database holds.

Jepsen-style, after a full drain: the emulator's event log (``eks-events.jsonl``, one JSON object per key insert or
remove, written by the emulator itself) is the history of what happened at the readers; the punch table is what the
system made of it. Each logged insert of a key known to the timeclock is matched, by (terminal, key serial), with
the punches stored for it:

* ``stored_once``: one punch, stored within ``late_s`` of the insert;
* ``recovered_late``: one punch, stored later than that (it needed a re-send, the journal, a reconnect's re-read);
* ``lost``: no punch, though a client was connected when the key went in (``pushed``) and when it came out (or it
  never came out): the system had every chance to read it;
* ``cut_off``: no punch; the insert was announced to a client, but no client was connected any more when the key
  came out (the gateway died, or lost the connection, between the ``Ek 01`` and its read, and was not back before
  the key left). An EKS reader keeps no history [F], so no gateway can recover such an insert;
* ``unseen``: no punch, and no client was connected when the key went in: likewise unrecoverable.

``cut_off`` and ``unseen`` are not recorded punches and are never hidden: each is counted and named, and a gateway
that stays away too long shows there; they are apart from ``lost`` because only a reader with a memory could save
them.
* ``duplicated``: the punches beyond the first of an insert;
* ``unexpected``: punches that match no logged insert.

The audit is pure (records in, figures out); :func:`audit_files` repeats it from the two files a run keeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["InsertRecord", "PunchAudit", "PunchRecord", "audit_files", "audit_punches", "read_inserts", "read_punches"]

#: How many ids of each failing outcome the audit names (the files hold them all).
EXAMPLES = 10


@dataclass(frozen=True, slots=True)
class InsertRecord:
    """One key insert as the emulator logged it."""

    device_id: int
    serial: str
    pushed: bool
    wall_time_ns: int
    event_id: str
    #: Whether a client was connected when the key came out (None: it was still in when the log ended).
    removal_pushed: bool | None = None


@dataclass(frozen=True, slots=True)
class PunchRecord:
    """One stored punch."""

    punch_id: int
    terminal_id: int
    serial: str
    event_id: str
    recorded_at_ns: int


@dataclass
class PunchAudit:
    inserts: int
    stored_once: int
    recovered_late: int
    lost: int
    cut_off: int
    unseen: int
    duplicated: int
    unexpected: int
    #: The threshold between stored_once and recovered_late, seconds after the insert.
    late_s: float
    #: The longest an insert waited for its (first) punch, seconds; None when nothing was stored.
    max_store_delay_s: float | None
    lost_examples: list[str] = field(default_factory=list)
    cut_off_examples: list[str] = field(default_factory=list)
    duplicated_examples: list[str] = field(default_factory=list)
    unexpected_examples: list[str] = field(default_factory=list)
    unseen_examples: list[str] = field(default_factory=list)
    #: Each audited insert's wall-clock time (ns), outcome and extra punches, for per-window counts; not serialised.
    insert_outcomes: list[tuple[int, str, int]] = field(default_factory=list, repr=False)

    def counts_between(self, start_ns: int, end_ns: int | None) -> dict[str, int]:
        """The outcomes of the inserts made from ``start_ns`` up to ``end_ns`` (None: the end of the run)."""
        counts = dict.fromkeys(("stored_once", "recovered_late", "lost", "cut_off", "unseen", "duplicated"), 0)
        for at, outcome, extra in self.insert_outcomes:
            if at >= start_ns and (end_ns is None or at < end_ns):
                counts[outcome] += 1
                counts["duplicated"] += extra
        return counts

    @property
    def exactly_once(self) -> bool:
        """No insert the system could see was lost, none punched twice, nothing made up."""
        return self.lost == 0 and self.duplicated == 0 and self.unexpected == 0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["insert_outcomes"]
        return {**data, "exactly_once": self.exactly_once}

    def sentence(self) -> str:
        verdict = "exactly once" if self.exactly_once else "NOT exactly once"
        delay = "" if self.max_store_delay_s is None else f"; longest insert -> stored {self.max_store_delay_s:.2f} s"
        return (
            f"punch audit ({verdict}): {self.inserts:,} inserts: {self.stored_once:,} stored once, "
            f"{self.recovered_late:,} stored late (> {self.late_s:g} s), {self.lost:,} lost, {self.duplicated:,} "
            f"duplicate punches, {self.unexpected:,} unexpected; not recorded and unrecoverable: {self.cut_off:,} cut "
            f"off (no client left when the key came out), {self.unseen:,} unseen (none when it went in){delay}"
        )


def audit_punches(
    inserts: Iterable[InsertRecord],
    punches: Iterable[PunchRecord],
    terminal_of_device: Mapping[int, int],
    known_serials: set[str],
    *,
    late_s: float = 2.0,
) -> PunchAudit:
    """Match ``inserts`` against ``punches``.

    Args:
        terminal_of_device: the terminal id of each emulated reader.
        known_serials: the serials of keys the timeclock knows; an insert of any other key (a fault's random key)
            makes no punch and is not audited.
        late_s: a punch stored later than this after its insert counts as recovered late.
    """
    by_event: dict[tuple[int, str], list[PunchRecord]] = {}
    for punch in punches:
        by_event.setdefault((punch.terminal_id, punch.serial), []).append(punch)
    audited: dict[tuple[int, str], InsertRecord] = {}
    for insert in inserts:
        terminal = terminal_of_device.get(insert.device_id)
        if terminal is None or insert.serial not in known_serials:
            continue
        key = (terminal, insert.serial)
        # A schedule uses a key once per reader; the insert that counts is the first (a re-insert by a fault's
        # bounce, or a reboot that keeps the key, is the same key still in as far as a punch goes).
        audited.setdefault(key, insert)
    once = late = lost = cut_off = unseen = duplicated = 0
    lost_ids: list[str] = []
    cut_off_ids: list[str] = []
    unseen_ids: list[str] = []
    duplicated_ids: list[str] = []
    delays: list[float] = []
    outcomes: list[tuple[int, str, int]] = []
    for key, insert in audited.items():
        stored = sorted(by_event.get(key, ()), key=lambda p: p.recorded_at_ns)
        if not stored:
            if insert.pushed and insert.removal_pushed is False:
                cut_off += 1
                cut_off_ids.append(insert.event_id)
                outcomes.append((insert.wall_time_ns, "cut_off", 0))
            elif insert.pushed:
                lost += 1
                lost_ids.append(insert.event_id)
                outcomes.append((insert.wall_time_ns, "lost", 0))
            else:
                unseen += 1
                unseen_ids.append(insert.event_id)
                outcomes.append((insert.wall_time_ns, "unseen", 0))
            continue
        delay = (stored[0].recorded_at_ns - insert.wall_time_ns) / 1e9
        delays.append(delay)
        if delay > late_s:
            late += 1
        else:
            once += 1
        outcomes.append((insert.wall_time_ns, "recovered_late" if delay > late_s else "stored_once", len(stored) - 1))
        if len(stored) > 1:
            duplicated += len(stored) - 1
            duplicated_ids.extend(p.event_id for p in stored[1:])
    unexpected = [p for key, found in by_event.items() if key not in audited for p in found]
    return PunchAudit(
        inserts=len(audited),
        stored_once=once,
        recovered_late=late,
        lost=lost,
        cut_off=cut_off,
        unseen=unseen,
        duplicated=duplicated,
        unexpected=len(unexpected),
        late_s=late_s,
        max_store_delay_s=round(max(delays), 3) if delays else None,
        lost_examples=lost_ids[:EXAMPLES],
        cut_off_examples=cut_off_ids[:EXAMPLES],
        duplicated_examples=duplicated_ids[:EXAMPLES],
        unexpected_examples=[p.event_id for p in unexpected[:EXAMPLES]],
        unseen_examples=unseen_ids[:EXAMPLES],
        insert_outcomes=outcomes,
    )


def _lines(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}, line {number}: not JSON ({exc})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}, line {number}: expected a JSON object")
            yield number, record


def read_inserts(path: Path) -> list[InsertRecord]:
    """The inserts of an emulator event log (``--events-log``), each with whether its key's removal was pushed;
    ValueError names the line of a bad record."""
    out: list[InsertRecord] = []
    # The insert still in each reader (index into out): a reader holds one key, so the next remove is its own.
    holding: dict[int, int] = {}
    for number, record in _lines(path):
        action = record.get("action")
        try:
            device = int(record["device_id"])
            if action == "insert":
                holding[device] = len(out)
                out.append(
                    InsertRecord(
                        device,
                        str(record["key_id"]),
                        bool(record["pushed"]),
                        int(record["wall_time_ns"]),
                        str(record["event_id"]),
                    )
                )
            elif action == "remove" and device in holding:
                index = holding.pop(device)
                out[index] = replace(out[index], removal_pushed=bool(record["pushed"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}, line {number}: not an emulator key event ({exc!r})") from None
    return out


def _ns(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return int(moment.timestamp() * 1_000_000) * 1000


def punch_lines(rows: Iterable[Sequence[Any]]) -> list[str]:
    """The punch dump a run keeps (``punches.jsonl``) from rows of (id, terminal_id, key_serial, event_id,
    recorded_at ISO 8601)."""
    return [
        json.dumps({"id": r[0], "terminal_id": r[1], "key_serial": r[2], "event_id": r[3], "recorded_at": r[4]})
        for r in rows
    ]


def read_punches(path: Path) -> list[PunchRecord]:
    """The punches of a run's dump (``punches.jsonl``); ValueError names the line of a bad record."""
    out = []
    for number, record in _lines(path):
        try:
            out.append(
                PunchRecord(
                    int(record["id"]),
                    int(record["terminal_id"]),
                    str(record["key_serial"]),
                    str(record["event_id"]),
                    _ns(str(record["recorded_at"])),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}, line {number}: not a punch ({exc})") from None
    return out


def audit_files(directory: Path, *, late_s: float = 2.0) -> PunchAudit:
    """Repeat a run's audit from what it kept in ``directory``: ``eks-events.jsonl``, ``punches.jsonl`` and
    ``audit-context.json`` (the terminal of each reader and the serials the timeclock knows)."""
    context = json.loads((directory / "audit-context.json").read_text())
    return audit_punches(
        read_inserts(directory / "eks-events.jsonl"),
        read_punches(directory / "punches.jsonl"),
        {int(device): int(terminal) for device, terminal in context["terminal_of_device"].items()},
        set(context["known_serials"]),
        late_s=late_s,
    )
