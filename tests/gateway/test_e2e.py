"""Over the wire: 100 emulated readers -> gateway process -> worker -> database and 200 kiosk WebSockets."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.eks_shift_change import run_shift_change

pytestmark = pytest.mark.wire

READERS = 100


# Uvicorn with two gateway shards here; Daphne's side of the same path runs under faults in
# tests/faults/test_timeclock_chaos.py (each e2e test costs CI seconds, so each covers one server).
@pytest.mark.parametrize(("server", "gateways"), [pytest.param("uvicorn", 2, id="uvicorn-2-gateway-shards")])
def test_shift_change_of_100_readers_punches_each_insert_once(server: str, gateways: int, tmp_path: Path) -> None:
    result = run_shift_change(READERS, server, tmp_path, burst_s=5.0, seed=7, gateways=gateways)
    summary = "\n".join(result.lines())
    assert result.inserts == READERS, summary
    assert (result.punches_stored, result.lost, result.duplicates) == (READERS, 0, 0), summary
    assert result.kiosks_with_punch == READERS, summary
    assert result.gateway["connected"] == READERS, summary
    # Each shard holds its own share of the readers, none twice.
    assert [shard["connected"] for shard in result.gateway["shards"]] == [READERS // gateways] * gateways, summary
