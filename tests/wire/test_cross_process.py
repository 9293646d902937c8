"""Two server processes sharing one Redis: a chat message sent through one reaches a client connected to the other."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stack import ASGI_APP, Stack, StackConfig
from harness.stack.network import free_port, http_get_json
from harness.stack.servers import ServerLaunch, server_spec
from tests.conftest import TIMEOUT
from tests.wire.client import open_socket, receive_type

pytestmark = pytest.mark.wire


@pytest.fixture(params=["redis", "redis-pubsub"])
def two_servers(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server
) -> Iterator[tuple[Stack, int, ServerLaunch]]:
    """A Daphne stack on the session's private Redis, plus a Uvicorn process of the same app on a second port."""
    config = StackConfig(server="daphne", layer=request.param, redis_url=redis_server.url, users=4, rooms=1)
    with Stack(config, tmp_path / "stack") as stack:
        port = free_port()
        extra = server_spec("uvicorn").launch(
            app=ASGI_APP, host="127.0.0.1", port=port, workers=1, env=stack.env, log_dir=tmp_path / "extra"
        )
        for process in extra.processes:
            process.start()
        try:
            deadline = time.monotonic() + 6 * TIMEOUT
            while True:
                try:
                    if http_get_json("127.0.0.1", port, "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, extra.processes[0].tail()
                time.sleep(0.1)
            yield stack, port, extra
        finally:
            for process in extra.processes:
                process.stop()


def test_chat_crosses_server_processes(two_servers: tuple[Stack, int, ServerLaunch]) -> None:
    stack, other_port, _ = two_servers
    ann, bob = stack.credentials()["users"][:2]
    room = f"/ws/chat/{stack.credentials()['rooms'][0]['slug']}/"
    with (
        open_socket(stack, room, user=ann) as a,
        open_socket(stack, room, user=bob, port=other_port) as b,
    ):
        pid_a = receive_type(a, "welcome")["server_pid"]
        pid_b = receive_type(b, "welcome")["server_pid"]
        assert pid_a != pid_b
        while receive_type(a, "presence")["user"] != bob["username"]:
            pass
        a.send(json.dumps({"type": "message", "text": "across", "id": "c1"}))
        got = receive_type(b, "message")
        assert (got["text"], got["user"], got["id"]) == ("across", ann["username"], "c1")
        b.send(json.dumps({"type": "message", "text": "and back"}))
        assert receive_type(a, "message")["text"] in {"across", "and back"}
