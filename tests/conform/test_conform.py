"""``harness conform``: the matrix runner's outputs (index.json, report.html, JUnit) and its exit code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from harness.conformance.matrix import ConformConfig, Record
from harness.conformance.report import differences, render_conformance_report, render_junit
from harness.stack.network import free_port
from harness.stack.processes import ManagedProcess

_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.wire


def record(check: str, behaviour: str, server: str = "daphne", deviation: str | None = None) -> Record:
    return Record(
        id=check,
        group="wire",
        category="1",
        source="Autobahn x; RFC 6455 §5",
        server=server,
        ws_impl="autobahn",
        layer="-",
        behaviour=behaviour,
        behaviour_close="OK",
        remote_close_code=1000,
        duration_s=0.01,
        notes=["a note"],
        wire_log=["> 81 00", "< 88 02 03 e8"],
        known_deviation=deviation,
    )


def document(records: list[Record]) -> dict:
    return {
        "created": "2026-11-22T00:00:00+00:00",
        "fingerprint": {"cpu_model": "test <cpu>", "git_commit": "abc"},
        "summary": {"wire: daphne/autobahn x -": {"OK": 1}},
        "checks": [r.to_json() for r in records],
    }


def test_junit_marks_failures_and_skips_known_deviations_and_not_applicable() -> None:
    records = [
        record("1.1.1", "FAILED"),
        record("1.1.2", "KNOWN DEVIATION", deviation="https://example.invalid/issue/1"),
        record("1.1.3", "N/A"),
        record("1.1.4", "OK"),
    ]
    root = ET.fromstring(render_junit(document(records)))
    (suite,) = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "2")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["1.1.1"].find("failure") is not None and "81 00" in (cases["1.1.1"].find("failure").text or "")
    assert "example.invalid/issue/1" in cases["1.1.2"].find("skipped").get("message", "")
    assert list(cases["1.1.4"]) == []


def test_report_shows_differences_and_escapes() -> None:
    records = [record("2.1", "OK"), record("2.1", "FAILED", server="uvicorn"), record("2.2", "OK")]
    assert [(g, c) for g, c, _ in differences(records)] == [("wire", "2.1")]
    page = render_conformance_report(document(records))
    assert "Where cells differ (1 checks)" in page and "test &lt;cpu&gt;" in page
    assert "FAILED: 1 check(s) failed" in page


def test_bad_configuration_is_named() -> None:
    with pytest.raises(ValueError, match="--target runs the wire, asgi, robustness groups only"):
        ConformConfig(groups=("layer",), target="ws://127.0.0.1:1/").check()
    with pytest.raises(ValueError, match="unknown group 'speed'"):
        ConformConfig(groups=("speed",)).check()
    with pytest.raises(ValueError, match="the robustness group runs against --target only"):
        ConformConfig(groups=("wire", "robustness")).check()


def test_cli_writes_index_report_and_junit(tmp_path: Path) -> None:
    out = tmp_path / "conf"
    # The layer group only: the CLI's outputs are the same for every group, and the wire group's 335 checks through
    # the CLI run in test_a_correct_server_without_the_probe_app_shows_no_false_failure (CI seconds).
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "conform", "--server", "uvicorn", "--ws-impl", "websockets-sansio",
         "--layer", "inmemory", "--groups", "layer", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    index = json.loads((out / "index.json").read_text())
    groups = {c["group"] for c in index["checks"]}
    assert groups == {"layer"}
    assert len(index["checks"]) >= 60
    assert all({"id", "group", "layer", "behaviour", "behaviour_close", "remote_close_code", "duration_s"} <= set(c)
               for c in index["checks"])  # fmt: skip
    assert ET.parse(out / "junit.xml").getroot().tag == "testsuites"
    assert "Verdicts per group and cell" in (out / "report.html").read_text()
    assert "layer: inmemory" in proc.stdout


@pytest.mark.wire
def test_a_correct_server_without_the_probe_app_shows_no_false_failure(tmp_path: Path) -> None:
    port = free_port()
    server = ManagedProcess(
        name="plain-echo",
        argv=[sys.executable, "-m", "tests.conform.plain_echo_server", str(port)],
        log_path=tmp_path / "plain-echo.log",
        cwd=_ROOT,
    ).start()
    try:
        server.wait_listening(port)
        out = tmp_path / "conf"
        proc = subprocess.run(
            [sys.executable, "-m", "harness", "conform", "--target", f"ws://127.0.0.1:{port}/", "--out", str(out)],
            capture_output=True, text=True, timeout=300, cwd=_ROOT,
        )  # fmt: skip
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "0 unexpected failure(s)" in proc.stdout
    checks = json.loads((out / "index.json").read_text())["checks"]
    (asgi,) = [c for c in checks if c["group"] == "asgi"]
    assert (asgi["id"], asgi["behaviour"]) == ("A0", "N/A")
    assert "harness.conformance.asgi_probe:app --port 9001" in asgi["notes"][0]
    # websockets answers a plain HTTP GET with an error status, whichever: not the probe's identity.
    assert re.search(f"GET http://127.0.0.1:{port}/harness-probe answered [45][0-9][0-9] ", asgi["notes"][0])
    assert len([c for c in checks if c["group"] == "wire"]) >= 300
    robustness = [c for c in checks if c["group"] == "robustness"]
    assert len(robustness) > 100 and {c["behaviour"] for c in robustness} == {"OK"}
