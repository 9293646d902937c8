"""KioskUser (Locust kind ``kiosk``) on a real reference-app stack: every punch pushed to a terminal it holds is timed.

Punches are produced the way a reader without a gateway produces them: badge events posted to
``POST /api/timeclock/events/``, which the timeclock worker stores and pushes to the terminal's kiosk group.
"""

from __future__ import annotations

import csv
import http.client
import json
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from harness.load.generator import GeneratorResult, run_generator
from harness.stack import Stack, StackConfig
from tests.conftest import TIMEOUT

pytestmark = pytest.mark.wire

#: Kiosk users; the stack gets one terminal more, which no kiosk opens, so its punches must not be counted.
KIOSKS = 3
PUNCHES_PER_TERMINAL = 2
#: 16 hex digits (a valid serial) that demo data never issues: the worker pushes ``unknown_key`` for it.
UNKNOWN_SERIAL = "FFFFFFFFFFFFFFFF"


def _wait_for(condition: Callable[[], bool], what: str, generator: Future[GeneratorResult], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if generator.done():
            # A generator that ended early (crash, refused sockets) would otherwise only show as a timeout.
            run = generator.result()
            raise AssertionError(f"the generator ended before {what}; log {run.log_path}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout:.0f} s")
        time.sleep(0.05)


def _post_event(port: int, token: str, reader: int, serial: str, event_id: str) -> None:
    body = {
        "reader": reader,
        "key_serial": serial,
        "event_id": event_id,
        # Wall clock, as a reader stamps it: KioskUser times eks_insert_to_kiosk from this field.
        "inserted_at": datetime.now(UTC).isoformat(),
    }
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request("POST", "/api/timeclock/events/", body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        answer = response.read()
    finally:
        conn.close()
    assert response.status == 202, f"{event_id}: HTTP {response.status} {answer!r}"


def _stored_punches(db_path: Path) -> int:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM timeclock_punch").fetchone()
    return int(count)


def _locust_rows(run: GeneratorResult) -> dict[str, dict[str, Any]]:
    with open(f"{run.csv_prefix}_stats.csv", newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def test_kiosk_users_time_every_punch_pushed_to_their_terminals(tmp_path: Path) -> None:
    config = StackConfig(server="uvicorn", layer="redis", users=2, rooms=1, employees=10, terminals=KIOSKS + 1)
    with Stack(config, tmp_path / "stack") as stack, ThreadPoolExecutor(max_workers=1) as pool:
        creds = stack.credentials()
        terminals = creds["terminals"]
        # KioskUser i opens terminals[i % len(terminals)], and a local runner numbers its users 0, 1, ...
        opened, unopened = terminals[:KIOSKS], terminals[KIOSKS]
        serials = iter(e["key_serial"] for e in creds["employees"])
        assert UNKNOWN_SERIAL not in {e["key_serial"] for e in creds["employees"]}
        token = creds["service_tokens"][0]["token"]
        assert stack.redis_url is not None
        layer = redis.Redis.from_url(stack.redis_url)

        generator = pool.submit(
            run_generator,
            stack.ws_url,
            "kiosk",
            users=KIOSKS,
            spawn_rate=50,
            # Kiosks send nothing; the run time (7 s) only has to outlast the posting below by a few seconds.
            duration_s=4.0,
            rate_per_user=1.0,
            credentials=stack.credentials_path,
            out_dir=tmp_path / "generator",
            warmup_s=1.0,
            grace_s=1.0,
        )
        # A punch pushed to a group before its kiosk joined is gone, so wait until every opened terminal's group
        # (channels_redis keeps it as the sorted set asgi:group:<name>) has its one member.
        _wait_for(
            lambda: all(layer.zcard(f"asgi:group:timeclock.terminal.{t['id']}") == 1 for t in opened),
            "every kiosk joined its terminal's group",
            generator,
            6 * TIMEOUT,
        )

        # The unknown key goes first: the one worker takes events in order, so once the last punch is stored,
        # every event before it has been handled and pushed.
        _post_event(stack.port, token, opened[0]["id"], UNKNOWN_SERIAL, "unknown-0")
        for terminal in [*opened, unopened]:
            for k in range(PUNCHES_PER_TERMINAL):
                _post_event(stack.port, token, terminal["id"], next(serials), f"t{terminal['id']}-{k}")
        produced = PUNCHES_PER_TERMINAL * (KIOSKS + 1)
        _wait_for(
            lambda: _stored_punches(stack.run_dir / "db.sqlite3") == produced,
            f"all {produced} punches stored",
            generator,
            2 * TIMEOUT,
        )
        assert not generator.done(), "the kiosks must still be connected when the last punch is pushed"
        run = generator.result()

    expected_punches = PUNCHES_PER_TERMINAL * KIOSKS
    kiosk = run.summaries["eks_insert_to_kiosk"]
    # One sample per punch of an opened terminal plus the unknown key; the unopened terminal's punches reach no one.
    assert kiosk["count"] == expected_punches + 1, kiosk
    # Stamped just before the POST, on this host's clock: never negative, and well under one time unit.
    assert kiosk["negative"] == 0 and kiosk["min"] > 0, kiosk
    assert kiosk["max"] < TIMEOUT * 1e6, kiosk
    assert sum(run.result["connect_failures"].values()) == 0, run.result["connect_failures"]
    assert run.result["unexpected_closes"] == {}
    rows = _locust_rows(run)
    assert int(rows["connect"]["Request Count"]) == KIOSKS
    assert int(rows["punch"]["Request Count"]) == expected_punches
    assert int(rows["unknown_key"]["Request Count"]) == 1
    assert all(int(row["Failure Count"]) == 0 for row in rows.values()), rows
    assert run.returncode == 0, run.log_path
