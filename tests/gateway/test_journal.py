"""The punch journal on its own: what a restarted gateway reads back (reference_app/gateway/journal.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reference_app.gateway.journal import JournalError, JournalState, PunchJournal, ReaderKey
from reference_app.timeclock.events import PunchEvent

AT = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def _event(n: int, reader: int = 1) -> PunchEvent:
    return PunchEvent(reader, f"00A1B2C3D4E5F6{n:02X}", f"eks-{reader}-{n}", AT)


def test_a_reopened_journal_holds_the_unacknowledged_punches_and_each_reader_s_last_key(tmp_path: Path) -> None:
    path = tmp_path / "gw.journal"
    journal = PunchJournal(path, fsync=False)
    journal.open()
    for n in range(3):
        journal.punched(_event(n, reader=n + 1))
    journal.acked("eks-2-1", "recorded")
    journal.key_changed(1, _event(0).key_serial, False)
    journal.close()

    state = PunchJournal(path).open()
    assert list(state.pending) == ["eks-1-0", "eks-3-2"]
    assert state.keys == {
        1: ReaderKey(_event(0).key_serial, False),
        2: ReaderKey(_event(1).key_serial, True),
        3: ReaderKey(_event(2).key_serial, True),
    }


def test_a_last_line_cut_short_by_a_kill_is_dropped_and_said(tmp_path: Path) -> None:
    path = tmp_path / "gw.journal"
    whole = json.dumps({"op": "punch", "event": _event(0).as_message()})
    path.write_text(whole + "\n" + whole[:30])
    journal = PunchJournal(path, fsync=False)
    state = journal.open()
    assert list(state.pending) == ["eks-1-0"]
    assert journal.dropped_torn_line
    # The rewrite left a whole file: opening it again drops nothing.
    again = PunchJournal(path, fsync=False)
    again.open()
    assert not again.dropped_torn_line


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 2: "),
        ('["a list"]', "line 2: expected a JSON object, got list"),
        ('{"op": "delete"}', "line 2: unknown op 'delete'"),
        ('{"op": "punch", "event": {"reader": 1}}', "line 2: punch record: key_serial"),
        ('{"op": "ack", "event_id": 7}', "line 2: ack record: event_id must be a string"),
        ('{"op": "key", "reader": true, "serial": "A", "present": true}', "line 2: key record: reader"),
    ],
)
def test_a_damaged_line_before_the_last_stops_the_gateway_naming_file_and_line(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "gw.journal"
    good = json.dumps({"op": "punch", "event": _event(0).as_message()})
    path.write_text(f"{good}\n{line}\n{good}\n")
    with pytest.raises(JournalError, match=rf"{path}, line 2") as caught:
        PunchJournal(path).open()
    assert message in str(caught.value)
    assert "move the file away" in str(caught.value)


def test_compaction_keeps_the_state_and_bounds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gw.journal"
    journal = PunchJournal(path, fsync=False)
    journal.open()
    for n in range(3000):
        event = _event(n % 200, reader=1 + n % 5)
        event = PunchEvent(event.reader, event.key_serial, f"e{n}", AT)
        journal.punched(event)
        if n % 100 != 0:
            journal.acked(event.event_id, "recorded")
    journal.close()
    lines = path.read_text().splitlines()
    # 30 unacknowledged punches and 5 readers live; without compaction the file would hold about 6,000 lines.
    assert len(lines) <= 35 + 1000 + 1
    state = PunchJournal(path).open()
    assert list(state.pending) == [f"e{n}" for n in range(0, 3000, 100)]
    assert set(state.keys) == {1, 2, 3, 4, 5}


def test_state_replays_records_without_a_file() -> None:
    state = JournalState()
    state.apply({"op": "punch", "event": _event(4).as_message()})
    state.apply({"op": "key", "reader": 1, "serial": _event(4).key_serial, "present": False})
    state.apply({"op": "ack", "event_id": "unknown", "outcome": "recorded"})
    assert list(state.pending) == ["eks-1-4"] and state.keys[1].present is False
    rebuilt = JournalState()
    for record in state.records():
        rebuilt.apply(record)
    assert rebuilt == state
