from __future__ import annotations

from pathlib import Path

import pytest

from eks_emulator.key import KeyAction
from eks_emulator.workload import WorkloadEvent, WorkloadFileError, replay_csv, shift_change, steady


def _check_one_key_at_a_time(events: list[WorkloadEvent]) -> None:
    holding: dict[int, bytes | None] = {}
    for event in events:
        if event.action is KeyAction.INSERT:
            assert holding.get(event.device_id) is None, event
            holding[event.device_id] = event.serial
        else:
            assert holding.get(event.device_id) == event.serial, event
            holding[event.device_id] = None


def test_shift_change_clusters_around_boundaries_and_is_reproducible() -> None:
    events = shift_change(range(4), seed=3, boundaries_s=(100.0, 400.0), spread_s=5.0, keys_per_device=6)
    assert events == shift_change(range(4), seed=3, boundaries_s=(100.0, 400.0), spread_s=5.0, keys_per_device=6)
    assert events != shift_change(range(4), seed=4, boundaries_s=(100.0, 400.0), spread_s=5.0, keys_per_device=6)
    inserts = [e for e in events if e.action is KeyAction.INSERT]
    assert len(inserts) == 4 * 6 * 2
    # Queueing at a reader can push arrivals later, never earlier; all land near a boundary.
    assert all(70 < e.time_s < 180 or 370 < e.time_s < 480 for e in inserts)
    per_device = {(e.device_id, e.serial) for e in inserts}
    assert len(per_device) == 4 * 6  # each worker clocks in and out with the same key
    assert events == sorted(events)
    _check_one_key_at_a_time(events)


def test_devices_draw_independently_of_the_shard() -> None:
    whole = shift_change(range(6), seed=9)
    shard = shift_change(range(1, 6, 2), seed=9)
    assert [e for e in whole if e.device_id % 2 == 1] == shard


def test_steady_poisson_rate_and_dwell() -> None:
    events = steady(range(10), seed=1, rate_per_s=0.2, duration_s=500.0, dwell_s=(1.0, 2.0))
    inserts = [e for e in events if e.action is KeyAction.INSERT]
    # 10 readers x 0.2/s x 500 s = 1000 expected arrivals; queueing hardly matters at this rate.
    assert 850 < len(inserts) < 1150
    _check_one_key_at_a_time(events)
    assert events == steady(range(10), seed=1, rate_per_s=0.2, duration_s=500.0, dwell_s=(1.0, 2.0))


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        steady([0], seed=1, rate_per_s=0)
    with pytest.raises(ValueError):
        shift_change([0], seed=1, dwell_s=(3.0, 1.0))


def test_replay_csv(tmp_path: Path) -> None:
    path = tmp_path / "day.csv"
    path.write_text(
        "time_s,reader,key_serial_hex,action\n"
        "1.5,3,00a1b2c3d4e5f607\n"
        "# a comment\n"
        "\n"
        "4,0,0011223344556677,insert\n"
        "6,0,0011223344556677,REMOVE\n"
    )
    events = replay_csv(path, dwell_s=2.0)
    serial = bytes.fromhex("00a1b2c3d4e5f607")
    other = bytes.fromhex("0011223344556677")
    assert events == [
        WorkloadEvent(1.5, 3, KeyAction.INSERT, serial),
        WorkloadEvent(3.5, 3, KeyAction.REMOVE, serial),
        WorkloadEvent(4.0, 0, KeyAction.INSERT, other),
        WorkloadEvent(6.0, 0, KeyAction.REMOVE, other),
    ]


@pytest.mark.parametrize(
    ("row", "where", "message"),
    [
        ("x,1,0011223344556677", ":2:1:", "time_s"),
        ("-1,1,0011223344556677", ":2:1:", ">= 0"),
        ("1,one,0011223344556677", ":2:2:", "reader"),
        ("1,1,00112233", ":2:3:", "16 hex digits"),
        ("1,1,zz112233445566zz", ":2:3:", "not hex"),
        ("1,1,0011223344556677,push", ":2:4:", "insert or remove"),
        ("1,1", ":2:1:", "3 or 4 columns"),
    ],
)
def test_replay_errors_name_file_line_and_column(tmp_path: Path, row: str, where: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("0,0,0011223344556677\n" + row + "\n")
    with pytest.raises(WorkloadFileError) as info:
        replay_csv(path)
    assert str(info.value).startswith(str(path) + where)
    assert message in str(info.value)


def test_replay_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WorkloadFileError, match="cannot open"):
        replay_csv(tmp_path / "nope.csv")
