"""harness.results: the document validates against result-v2.json (v1 files as v1); files are written once."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from harness.measure.latency import LatencyRecorder
from harness.report.files import update_latest, write_run
from harness.results import (
    READABLE_VERSIONS,
    ResultValidationError,
    cell_slug,
    default_out_dir,
    validate_result,
)
from tests.report.conftest import as_version_1


def test_document_from_synthetic_metric_sets_validates(make_result):
    doc = make_result(4)
    validate_result(json.loads(json.dumps(doc)))
    assert doc["schema_version"] == 2 and len(doc["cells"]) == 4
    cell = doc["cells"][0]
    assert set(cell["metrics"]) == {"fanout", "response_time"}
    fanout = cell["metrics"]["fanout"]
    assert {"count", "min", "mean", "p50", "p90", "p99", "p99_9", "p99_99", "max", "histogram"} <= set(fanout)
    assert LatencyRecorder.decode(fanout["histogram"]).count == fanout["count"] == 3_000
    assert [v["metric"] for v in cell["slo_verdicts"]] == ["fanout", "delivery.lost"]
    last = cell["timeseries"]["points"][-1]
    assert last["service_time_p99_us"] is None and last["response_time_p99_us"] is None


def test_lost_deliveries_become_a_failed_verdict(make_result):
    doc = make_result(1, lost=3)
    loss = doc["cells"][0]["slo_verdicts"][1]
    assert loss["pass"] is False and "3 of 6000 lost" in loss["sentence"]


def test_validation_names_the_path(make_result):
    doc = make_result(1)
    doc["cells"][0]["delivery"]["lost"] = -1
    doc["cells"][0]["metrics"]["fanout"]["unit"] = "ms"
    with pytest.raises(ResultValidationError) as info:
        validate_result(doc)
    assert "$.cells[0].delivery.lost" in str(info.value)
    assert "$.cells[0].metrics.fanout.unit" in str(info.value)


def test_write_run_writes_every_file_and_refuses_to_overwrite(make_result, tmp_path):
    doc = make_result(2, group_sizes=(1, 10))
    out = tmp_path / "reports" / "20260102T030405Z-chat-rooms"
    files = write_run(doc, out)
    written = json.loads(files.result.read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(doc))
    validate_result(written)
    text = files.result.read_text(encoding="utf-8")
    assert text.index('"cells"') < text.index('"config"') < text.index('"created"'), "keys are sorted"
    assert files.report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    names = sorted(p.name for p in files.hgrm)
    assert names == [
        "01-daphne-inmemory-w1.fanout.g1.hgrm",
        "01-daphne-inmemory-w1.fanout.g10.hgrm",
        "01-daphne-inmemory-w1.fanout.hgrm",
        "01-daphne-inmemory-w1.response_time.hgrm",
        "02-uvicorn-inmemory-w1.fanout.g1.hgrm",
        "02-uvicorn-inmemory-w1.fanout.g10.hgrm",
        "02-uvicorn-inmemory-w1.fanout.hgrm",
        "02-uvicorn-inmemory-w1.response_time.hgrm",
    ]
    for path in files.hgrm:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
        assert any(line.startswith("#[Max") for line in lines)
        assert lines[-1].startswith("#[OutOfRange = 0")
    assert (tmp_path / "reports" / "latest").resolve() == out.resolve()
    before = files.result.read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        write_run(doc, out)
    assert files.result.read_bytes() == before


def test_invalid_document_writes_nothing(make_result, tmp_path):
    doc = make_result(1)
    doc["schema_version"] = 3
    with pytest.raises(ResultValidationError):
        write_run(doc, tmp_path / "run")
    assert not (tmp_path / "run" / "result.json").exists()


def test_latest_moves_to_the_newest_run(tmp_path):
    root = tmp_path / "reports"
    first, second = root / "a-smoke", root / "b-smoke"
    first.mkdir(parents=True)
    second.mkdir()
    update_latest(first)
    latest = update_latest(second)
    assert latest.is_symlink() and latest.resolve() == second.resolve()
    assert [p.name for p in root.iterdir() if p.name.startswith(".latest")] == []


def test_latest_falls_back_to_a_text_pointer(tmp_path, monkeypatch):
    run = tmp_path / "reports" / "a-smoke"
    run.mkdir(parents=True)

    def no_symlinks(*args, **kwargs):
        raise OSError("symlinks not supported here")

    monkeypatch.setattr("harness.report.files.os.symlink", no_symlinks)
    latest = update_latest(run)
    assert not latest.is_symlink() and latest.read_text(encoding="utf-8") == "a-smoke\n"


def test_latest_refuses_to_replace_a_directory(tmp_path):
    run = tmp_path / "reports" / "a-smoke"
    run.mkdir(parents=True)
    (tmp_path / "reports" / "latest").mkdir()
    with pytest.raises(FileExistsError, match="is a directory"):
        update_latest(run)


def test_default_out_dir_and_slug():
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert default_out_dir("smoke", now=now).as_posix() == "reports/20260102T030405Z-smoke"
    assert cell_slug(0, {"server": "uvicorn-wsproto", "layer": "redis-pubsub", "workers": 2}) == (
        "01-uvicorn-wsproto-redis-pubsub-w2"
    )


def test_a_version_1_result_still_validates_as_version_1(make_result):
    doc = as_version_1(json.loads(json.dumps(make_result(1))))
    validate_result(doc, versions=READABLE_VERSIONS)
    with pytest.raises(ResultValidationError, match="schema_version 1; expected 2"):
        validate_result(doc)
    doc["schema_version"] = True
    with pytest.raises(ResultValidationError, match="schema_version True"):
        validate_result(doc, versions=READABLE_VERSIONS)
