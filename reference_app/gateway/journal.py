"""The gateway's punch journal: what it must not forget when it is killed [D] (docs/eks.md#punch-journal).

A punch lives only in the gateway between the reader's ``RL`` and the worker's acknowledgement; the EKS reader keeps
no history [F], so a gateway that dies holding a punch in memory loses it for good. The journal is an append-only
file of JSON lines, written (and by default fsynced) before a punch is queued:

* ``{"op": "punch", "event": {...}}``: a punch the worker has not yet confirmed; it also says that the punch's key
  is in its reader;
* ``{"op": "ack", "event_id": "...", "outcome": "..."}``: the worker confirmed it (stored, or a replay it ignored);
* ``{"op": "key", "reader": 3, "serial": "...", "present": false}``: a reader's last key changed without a punch
  (removed, or a bounce re-inserted it).

Opening the journal replays it: the punches without an ack are sent again with their own event ids (the worker
stores each event id once), and each reader's last key is restored, so a key still in its reader after the restart
is recognised as the same insert instead of punching twice. A last line cut short by a kill is dropped (its write
never completed, so nothing was queued from it); any other line that does not parse stops the gateway with the
file and line named, because skipping it could lose a punch. The file is rewritten, compacted to the live records,
once dead ones dominate.

The state and the line format are pure (``JournalState``); ``PunchJournal`` adds the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from reference_app.timeclock.events import InvalidEvent, PunchEvent

__all__ = ["JournalError", "JournalState", "PunchJournal", "ReaderKey"]

#: Compact when the file holds this many more lines than live records (and at least twice as many).
_COMPACT_SLACK = 1000


class JournalError(RuntimeError):
    """The journal cannot be read without risking a lost punch."""


@dataclass(frozen=True, slots=True)
class ReaderKey:
    """A reader's last key as the gateway knew it."""

    serial: str
    present: bool


@dataclass
class JournalState:
    """The live content of a journal: unacknowledged punches in journal order and each reader's last key."""

    pending: dict[str, PunchEvent] = field(default_factory=dict)
    keys: dict[int, ReaderKey] = field(default_factory=dict)

    def apply(self, record: dict[str, Any]) -> None:
        """Apply one decoded line; ValueError (with the reason) when it is not a journal record."""
        op = record.get("op")
        if op == "punch":
            try:
                event = PunchEvent.parse(record.get("event") or {})
            except InvalidEvent as exc:
                raise ValueError(f"punch record: {exc}") from None
            self.pending[event.event_id] = event
            if isinstance(event.reader, int):
                self.keys[event.reader] = ReaderKey(event.key_serial, True)
        elif op == "ack":
            event_id = record.get("event_id")
            if not isinstance(event_id, str):
                raise ValueError(f"ack record: event_id must be a string, got {event_id!r}")
            self.pending.pop(event_id, None)
        elif op == "key":
            reader, serial, present = record.get("reader"), record.get("serial"), record.get("present")
            if isinstance(reader, bool) or not isinstance(reader, int):
                raise ValueError(f"key record: reader must be a terminal id, got {reader!r}")
            if not isinstance(serial, str) or not isinstance(present, bool):
                raise ValueError(f"key record: expected a serial string and present true/false, got {record!r}")
            self.keys[reader] = ReaderKey(serial, present)
        else:
            raise ValueError(f"unknown op {op!r} (expected punch, ack or key)")

    @property
    def live(self) -> int:
        return len(self.pending) + len(self.keys)

    def records(self) -> list[dict[str, Any]]:
        """The records that rebuild this state: what a compacted journal holds."""
        punches: list[dict[str, Any]] = [
            {"op": "punch", "event": event.as_message()} for event in self.pending.values()
        ]
        # Keys last: a punch record marks its key present, and the key may have left its reader since.
        return punches + [
            {"op": "key", "reader": reader, "serial": key.serial, "present": key.present}
            for reader, key in sorted(self.keys.items())
        ]

    @classmethod
    def parse(cls, text: str, source: str) -> tuple[JournalState, int, bool]:
        """The state of a journal's text, its number of complete lines, and whether a cut-short last line was
        dropped; JournalError names ``source`` and the line of anything else that does not parse."""
        state = cls()
        lines = text.split("\n")
        # Text ending in a newline splits into a last empty string; anything else there is a line cut short.
        torn = lines.pop() != ""
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError(f"expected a JSON object, got {type(record).__name__}")
                state.apply(record)
            except ValueError as exc:
                raise JournalError(
                    f"{source}, line {number}: {exc}; the gateway will not start on a journal it cannot read, "
                    "because skipping a line could lose a punch (move the file away to start empty)"
                ) from None
        return state, len(lines), torn


class PunchJournal:
    """The journal file of one gateway process; every write is on disk before the method returns.

    Args:
        fsync: also fsync each write, so a power loss keeps it too (a killed process keeps its writes without it).
    """

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        self._file: IO[str] | None = None
        self._lines = 0
        self.state = JournalState()
        #: Whether the last line was cut short (by a kill mid-write) and dropped when the journal was opened.
        self.dropped_torn_line = False

    def open(self) -> JournalState:
        """Read what an earlier process left, compact it, and keep the file open for appending."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        except (OSError, UnicodeDecodeError) as exc:
            raise JournalError(f"cannot read the punch journal {self.path}: {exc}") from None
        self.state, self._lines, self.dropped_torn_line = JournalState.parse(text, str(self.path))
        self._rewrite()
        return self.state

    def punched(self, event: PunchEvent) -> None:
        self._append({"op": "punch", "event": event.as_message()})

    def acked(self, event_id: str, outcome: str) -> None:
        if event_id in self.state.pending:
            self._append({"op": "ack", "event_id": event_id, "outcome": outcome})

    def key_changed(self, reader: int, serial: str, present: bool) -> None:
        if self.state.keys.get(reader) != ReaderKey(serial, present):
            self._append({"op": "key", "reader": reader, "serial": serial, "present": present})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _append(self, record: dict[str, Any]) -> None:
        assert self._file is not None, "open() the journal first"
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        # Only what is on disk is state: a failed write raises before the gateway counts on it.
        self.state.apply(record)
        self._lines += 1
        if self._lines > max(2 * self.state.live, self.state.live + _COMPACT_SLACK):
            self._rewrite()

    def _rewrite(self) -> None:
        """Replace the file by the live records, atomically: a kill leaves either the old file or the new one."""
        self.close()
        records = self.state.records()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self._lines = len(records)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
