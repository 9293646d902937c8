"""The exactly-once audit: each outcome of an insert, from records and from the files a run keeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.measure.punch_audit import InsertRecord, PunchRecord, audit_files, audit_punches, punch_lines

S = [f"00A1B2C3D4E5F6{i:02X}" for i in range(8)]
T0 = 1_800_000_000_000_000_000
TERMINALS = {0: 11, 1: 12}


def _insert(
    device: int, serial: str, *, pushed: bool = True, at_s: float = 0.0, removal_pushed: bool | None = True
) -> InsertRecord:
    return InsertRecord(device, serial, pushed, T0 + round(at_s * 1e9), f"ins-{device}-{serial[-2:]}", removal_pushed)


def _punch(n: int, terminal: int, serial: str, after_s: float) -> PunchRecord:
    return PunchRecord(n, terminal, serial, f"eks-{terminal}-{serial}-{n}", T0 + round(after_s * 1e9))


def test_each_outcome_of_an_insert_is_counted_apart() -> None:
    inserts = [
        _insert(0, S[0]),  # stored once
        _insert(0, S[1]),  # stored late
        _insert(0, S[2]),  # lost: announced, never stored, a client still there when it came out
        _insert(0, S[7], removal_pushed=False),  # cut off: announced, but nobody left when it came out
        _insert(1, S[3], pushed=False),  # unseen: nobody connected
        _insert(1, S[4]),  # punched twice
        _insert(1, "FFFFFFFFFFFFFFFF"),  # a fault's random key: not audited
        _insert(5, S[5]),  # a reader outside the run: not audited
    ]
    punches = [
        _punch(1, 11, S[0], 0.05),
        _punch(2, 11, S[1], 7.5),
        _punch(3, 12, S[4], 0.05),
        _punch(4, 12, S[4], 6.0),
        _punch(5, 12, S[6], 0.05),  # no insert of that key at that terminal
    ]
    audit = audit_punches(inserts, punches, TERMINALS, set(S), late_s=2.0)
    assert (audit.inserts, audit.stored_once, audit.recovered_late, audit.lost, audit.unseen) == (6, 2, 1, 1, 1)
    assert audit.cut_off == 1 and audit.cut_off_examples == ["ins-0-07"]
    assert (audit.duplicated, audit.unexpected) == (1, 1)
    assert audit.lost_examples == ["ins-0-02"] and audit.unseen_examples == ["ins-1-03"]
    assert audit.duplicated_examples == [f"eks-12-{S[4]}-4"] and audit.unexpected_examples == [f"eks-12-{S[6]}-5"]
    assert audit.max_store_delay_s == 7.5
    assert not audit.exactly_once
    assert "NOT exactly once" in audit.sentence() and "1 lost, 1 duplicate punches" in audit.sentence()
    assert "1 cut off (no client left when the key came out), 1 unseen" in audit.sentence()


def test_an_insert_cut_off_from_every_client_is_not_a_loss_of_the_system() -> None:
    audit = audit_punches([_insert(0, S[0], removal_pushed=False)], [], TERMINALS, set(S))
    assert audit.exactly_once and (audit.lost, audit.cut_off) == (0, 1)


def test_a_clean_history_is_exactly_once() -> None:
    audit = audit_punches(
        [_insert(0, S[0]), _insert(1, S[1])], [_punch(1, 11, S[0], 0.1), _punch(2, 12, S[1], 0.2)], TERMINALS, set(S)
    )
    assert audit.exactly_once and audit.stored_once == 2 and audit.lost == audit.duplicated == audit.unexpected == 0


def test_a_key_inserted_again_by_a_reboot_is_one_insert() -> None:
    # A reboot that keeps the key logs a second insert of it; one punch is what the timeclock owes.
    audit = audit_punches([_insert(0, S[0]), _insert(0, S[0], at_s=3)], [_punch(1, 11, S[0], 0.1)], TERMINALS, set(S))
    assert audit.inserts == 1 and audit.exactly_once


def test_the_audit_repeats_from_the_files_a_run_keeps(tmp_path: Path) -> None:
    events = [
        {"event_id": "a", "seq": 1, "action": "insert", "device_id": 0, "key_id": S[0], "source": "api",
         "pushed": True, "monotonic_ns": 1, "wall_time_ns": T0},
        {"event_id": "b", "seq": 2, "action": "remove", "device_id": 0, "key_id": S[0], "source": "api",
         "pushed": True, "monotonic_ns": 2, "wall_time_ns": T0 + 10**9},
        {"event_id": "c", "seq": 3, "action": "insert", "device_id": 1, "key_id": S[1], "source": "api",
         "pushed": True, "monotonic_ns": 3, "wall_time_ns": T0},
        {"event_id": "d", "seq": 4, "action": "insert", "device_id": 2, "key_id": S[2], "source": "api",
         "pushed": True, "monotonic_ns": 4, "wall_time_ns": T0},
        {"event_id": "e", "seq": 5, "action": "remove", "device_id": 2, "key_id": S[2], "source": "api",
         "pushed": False, "monotonic_ns": 5, "wall_time_ns": T0},
    ]  # fmt: skip
    (tmp_path / "eks-events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    # recorded_at as the run writes it from SQLite (UTC text given its offset): 0.5 s after the insert.
    (tmp_path / "punches.jsonl").write_text(
        "\n".join(punch_lines([(1, 11, S[0], "eks-x", "2027-01-15T08:00:00.500000+00:00")])) + "\n"
    )
    (tmp_path / "audit-context.json").write_text(
        json.dumps({"terminal_of_device": {"0": 11, "1": 12, "2": 13}, "known_serials": S})
    )
    audit = audit_files(tmp_path)
    # c was still in when the log ended (a gateway was there to read it): lost; d left with nobody there: cut off.
    assert (audit.inserts, audit.stored_once, audit.lost, audit.lost_examples) == (3, 1, 1, ["c"])
    assert audit.cut_off_examples == ["d"]
    assert audit.max_store_delay_s == 0.5


def test_a_damaged_file_is_named_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "eks-events.jsonl").write_text('{"action": "insert"}\n')
    (tmp_path / "punches.jsonl").write_text("")
    (tmp_path / "audit-context.json").write_text(json.dumps({"terminal_of_device": {}, "known_serials": []}))
    with pytest.raises(ValueError, match=r"eks-events.jsonl, line 1: not an emulator key event"):
        audit_files(tmp_path)


def test_outcomes_are_counted_by_when_the_insert_was_made() -> None:
    inserts = [
        _insert(0, S[0], at_s=1),  # stored late, in the first span
        _insert(0, S[1], at_s=5),  # lost, in the second
        _insert(1, S[2], at_s=6, pushed=False),  # unseen, in the second
        _insert(1, S[3], at_s=9),  # stored twice, after the second span began
    ]
    punches = [_punch(1, 11, S[0], 4.0), _punch(2, 12, S[3], 9.1), _punch(3, 12, S[3], 9.5)]
    audit = audit_punches(inserts, punches, TERMINALS, set(S))
    s = 1_000_000_000
    first = audit.counts_between(T0, T0 + 4 * s)
    second = audit.counts_between(T0 + 4 * s, None)
    assert (first["recovered_late"], first["lost"], first["unseen"]) == (1, 0, 0)
    assert (second["lost"], second["unseen"], second["stored_once"], second["duplicated"]) == (1, 1, 1, 1)
    assert "insert_outcomes" not in audit.as_dict()
