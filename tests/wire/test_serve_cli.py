"""``harness serve`` end to end: start, use every socket kind across processes, Ctrl-C, nothing left behind."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from websockets.sync.client import connect

from tests.conftest import TIMEOUT
from tests.wire.client import drain

pytestmark = pytest.mark.wire


def read_until_ready(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("ready"):
            return "".join(lines)
    process.kill()
    raise AssertionError(
        "harness serve did not become ready:\n" + "".join(lines) + (process.stderr.read() if process.stderr else "")
    )


def ws(base: str, path: str, origin: str, cookie: str | None = None) -> Any:
    headers = {"Origin": origin, **({"Cookie": cookie} if cookie else {})}
    return connect(f"{base}{path}", additional_headers=headers, open_timeout=TIMEOUT)


def post(url: str, body: dict[str, Any], token: str) -> int:
    import urllib.request

    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return int(response.status)


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
def test_serve_redis_two_workers_then_ctrl_c_leaves_nothing(server: str, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "serve",
            "--server",
            server,
            "--layer",
            "redis",
            "--workers",
            "2",
            "--port",
            "0",
            "--run-dir",
            str(tmp_path),
            "--users",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = read_until_ready(process, 12 * TIMEOUT)
        http = re.search(r"http:\s+(http://\S+?)/ ", banner)
        assert http is not None, banner
        origin = http.group(1)
        base = origin.replace("http://", "ws://")
        creds = json.loads(Path(re.search(r"credentials: (\S+)", banner).group(1)).read_text())  # type: ignore[union-attr]
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
        names = " ".join(" ".join(p.cmdline()) for p in tree[1:])
        assert "redis-server" in names and "runworker" in names

        users, room = creds["users"], creds["rooms"][0]["slug"]
        cookie = lambda u: f"sessionid={u['session']}"  # noqa: E731
        # Open chat sockets until two of them sit on different server processes.
        sockets: dict[int, Any] = {}
        opened = contextlib.ExitStack()
        for user in users:
            sock = opened.enter_context(ws(base, f"/ws/chat/{room}/", origin, cookie(user)))
            pid = json.loads(sock.recv(timeout=TIMEOUT))["server_pid"]
            sockets.setdefault(pid, (sock, user))
            if len(sockets) == 2:
                break
        assert len(sockets) == 2, "all connections landed on one server process"
        (a, ann), (b, _bob) = sockets.values()
        time.sleep(TIMEOUT / 10)
        drain(b)
        a.send(json.dumps({"type": "message", "text": "across processes"}))
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = json.loads(b.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if message["type"] == "message":
                assert (message["text"], message["user"]) == ("across processes", ann["username"])
                break

        with ws(base, "/ws/notifications/", origin, cookie(ann)) as listener:
            while json.loads(listener.recv(timeout=TIMEOUT))["type"] != "backlog":
                pass
            token = creds["service_tokens"][0]["token"]
            assert post(f"{origin}/api/notifications/", {"user": ann["id"], "title": "hi"}, token) == 201
            assert json.loads(listener.recv(timeout=TIMEOUT))["title"] == "hi"

        terminal, employee = creds["terminals"][0], creds["employees"][0]
        with ws(base, f"/ws/terminal/{terminal['id']}/?token={terminal['token']}", origin) as kiosk:
            assert json.loads(kiosk.recv(timeout=TIMEOUT))["type"] == "welcome"
            event = {
                "reader": terminal["id"],
                "key_serial": employee["key_serial"],
                "event_id": "cli-1",
                "inserted_at": time.time(),
            }
            assert post(f"{origin}/api/timeclock/events/", event, token) == 202
            punch = json.loads(kiosk.recv(timeout=TIMEOUT))
            assert (punch["type"], punch["event_id"]) == ("punch", "cli-1")
        opened.close()

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=6 * TIMEOUT) == 0
        deadline = time.monotonic() + 2 * TIMEOUT
        while any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in tree[1:]):
            assert time.monotonic() < deadline, [p.cmdline() for p in tree[1:] if p.is_running()]
            time.sleep(0.1)
    finally:
        if process.poll() is None:
            process.kill()
