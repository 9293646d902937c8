"""Each server process measures how long its garbage collections stop it (reference_app/gcpauses.py)."""

from __future__ import annotations

import gc
import time

import pytest
from django.test import AsyncClient

from reference_app import gcpauses
from reference_app.gcpauses import LOGGED_MS, GcPauses


def test_a_collection_is_counted_and_timed_per_generation() -> None:
    record = GcPauses()
    gc.callbacks.append(record.callback)
    try:
        gc.collect(2)
        gc.collect(0)
    finally:
        gc.callbacks.remove(record.callback)
    assert record.counts[2] >= 1 and record.counts[0] >= 1
    assert 0 < record.longest_ms[2] <= record.total_ms[2]
    assert record.as_dict()["gen2"]["collections"] == record.counts[2]


def test_a_long_collection_is_written_to_stderr_with_its_wall_clock_end(capfd: pytest.CaptureFixture[str]) -> None:
    record = GcPauses()
    record.callback("start", {"generation": 2})
    time.sleep(LOGGED_MS * 1.2 / 1000)
    record.callback("stop", {"generation": 2, "collected": 7})
    record.callback("start", {"generation": 0})
    record.callback("stop", {"generation": 0, "collected": 0})  # short: counted, not written
    err = capfd.readouterr().err
    assert err.count("reference_app.gc") == 1, err
    assert "WARNING reference_app.gc" in err and "gc generation 2 collection stopped the process for" in err
    assert "(collected 7, ended at " in err
    assert record.longest_ms[2] >= LOGGED_MS and record.counts == [1, 0, 1]


@pytest.mark.django_db(transaction=True)
async def test_healthz_reports_the_pauses_of_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # The process's record, without hooking this test process's own collections (their lines would reach the
    # terminal after pytest stops capturing).
    record = GcPauses()
    monkeypatch.setattr(gcpauses, "_pauses", record)
    record.callback("start", {"generation": 2})
    record.callback("stop", {"generation": 2, "collected": 0})
    body = (await AsyncClient().get("/healthz")).json()
    assert body["gc"]["gen2"]["collections"] == 1 and body["gc"]["gen0"]["collections"] == 0
