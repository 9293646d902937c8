from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from harness.measure.fingerprint import (
    CHECKED_KEYS,
    NOT_INSTALLED,
    TRACKED_PACKAGES,
    collect_fingerprint,
    git_state,
    package_versions,
    redis_server_version,
)

EXPECTED_KEYS = {
    "timestamp_utc",
    "python_version",
    "python_implementation",
    "python_executable",
    "packages",
    "redis_server",
    "cpu_model",
    "cpu_count",
    "cpu_affinity",
    "os",
    "kernel",
    "machine",
    "hostname",
    "git_commit",
    "git_dirty",
    "argv",
    "seed",
    "layer_settings",
}


def fake_binary(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "redis-server"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_fingerprint_keys_and_json_safety(tmp_path):
    redis = fake_binary(tmp_path, 'echo "Redis server v=7.2.4 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64"')
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    fp = collect_fingerprint(redis_server_bin=redis, seed=99, argv=["harness", "run", "--seed", "99"], now=when)
    d = json.loads(json.dumps(fp.to_dict()))
    assert set(d) == EXPECTED_KEYS
    assert set(d["packages"]) == set(TRACKED_PACKAGES)
    assert d["redis_server"] == "7.2.4"
    assert d["seed"] == 99 and d["argv"] == ["harness", "run", "--seed", "99"]
    assert d["timestamp_utc"] == "2026-01-02T03:04:05+00:00"
    assert d["cpu_count"] >= 1 and d["cpu_model"] and d["kernel"] and d["hostname"]
    assert set(fp.checked()) == set(CHECKED_KEYS)


def test_package_versions_reports_not_installed():
    versions = package_versions({"hdr": "hdrhistogram", "ghost": "no-such-distribution-for-harness-tests"})
    assert versions["hdr"] == "0.10.8"
    assert versions["ghost"] == NOT_INSTALLED


def test_redis_version_unavailable_cases(tmp_path):
    assert redis_server_version(None).startswith("not available")
    assert redis_server_version(tmp_path / "missing").startswith("not available")
    failing = fake_binary(tmp_path, "echo boom >&2; exit 3")
    assert "exited 3" in redis_server_version(failing)
    odd = tmp_path / "odd"
    odd.mkdir()
    assert redis_server_version(fake_binary(odd, "echo 'KeyDB 6.3'")) == "KeyDB 6.3"


def git(cwd, *args):
    subprocess.run(
        ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_git_state(tmp_path):
    assert git_state(tmp_path) == (None, None)
    git(tmp_path, "init", "-q")
    (tmp_path / "f.txt").write_text("a")
    git(tmp_path, "add", "f.txt")
    git(tmp_path, "commit", "-q", "-m", "x")
    commit, dirty = git_state(tmp_path)
    assert commit is not None and len(commit) == 40 and dirty is False
    (tmp_path / "f.txt").write_text("b")
    assert git_state(tmp_path) == (commit, True)


def test_modules_do_not_import_django_gevent_or_asyncio():
    code = (
        "import sys\n"
        "import harness.measure.latency, harness.load.envelope, harness.measure.accounting\n"
        "import harness.load.schedule, harness.measure.fingerprint\n"
        "harness.measure.fingerprint.collect_fingerprint()\n"
        "bad = sorted(m for m in ('django', 'channels', 'daphne', 'gevent', 'asyncio', 'reference_app')"
        " if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""
