"""The stack on PostgreSQL through DATABASE_URL (the machine's server; skipped where none answers)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stack import Stack, StackConfig
from tests.wire.client import http_post, open_socket, receive_type

pytestmark = pytest.mark.wire

ADMIN_URL = os.environ.get("HARNESS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def database_url() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {ADMIN_URL} ({exc}); set HARNESS_TEST_POSTGRES_URL")
    name = f"harness_test_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_punches_and_notifications_on_postgres(database_url: str, tmp_path: Path) -> None:
    config = StackConfig(server="uvicorn", layer="redis", workers=2, database_url=database_url, users=3, terminals=1)
    with Stack(config, tmp_path) as stack:
        creds = stack.credentials()
        token = creds["service_tokens"][0]["token"]
        terminal, employee, ann = creds["terminals"][0], creds["employees"][0], creds["users"][0]
        with open_socket(stack, f"/ws/terminal/{terminal['id']}/?token={terminal['token']}") as kiosk:
            receive_type(kiosk, "welcome")
            for n in range(3):
                event = {
                    "reader": terminal["id"],
                    "key_serial": employee["key_serial"],
                    "event_id": f"pg-{n}",
                    "inserted_at": 1.7e9 + n,
                }
                assert http_post(stack, "/api/timeclock/events/", event, token)[0] == 202
                assert http_post(stack, "/api/timeclock/events/", event, token)[0] == 202
            directions = [receive_type(kiosk, "punch")["direction"] for _ in range(3)]
            assert directions == ["in", "out", "in"]
        with open_socket(stack, "/ws/notifications/", user=ann) as listener:
            receive_type(listener, "backlog")
            assert http_post(stack, "/api/notifications/", {"user": ann["id"], "title": "pg"}, token)[0] == 201
            assert receive_type(listener, "notification")["title"] == "pg"
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT event_id, direction FROM timeclock_punch ORDER BY id").fetchall()
    # Each event was posted twice: the unique event id kept it to one punch.
    assert rows == [("pg-0", "in"), ("pg-1", "out"), ("pg-2", "in")]
