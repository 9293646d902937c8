"""Each kind of fault window against real processes: what begins and ends it (harness/faults/injectors.py)."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from eks_emulator.faults import FaultKind
from harness.faults.injectors import FaultTargets, Supervised, UnavailableFault, injector_for
from harness.run.cell import stack_fault_targets
from harness.scenario.faults import EKS_FAULTS, FaultSpec
from harness.stack import Stack, StackConfig
from harness.stack.network import http_get_json
from harness.stack.processes import ManagedProcess
from harness.stack.redis import RedisServer


def _command(port: int, line: bytes, timeout: float = 2.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(line)
        return sock.recv(64)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(log_dir=tmp_path) as server:
        yield server


def test_the_harness_knows_the_emulator_s_whole_fault_catalogue() -> None:
    assert set(EKS_FAULTS) == {kind.value for kind in FaultKind}


def test_redis_kill_loses_its_data_and_the_restart_serves_the_same_port(redis: RedisServer) -> None:
    assert redis.port is not None
    port = redis.port
    _command(port, b"SET group member\r\n")
    before = redis.process.pid if redis.process else None
    injector = injector_for(FaultSpec(0, 1, "kill", "redis"), FaultTargets(redis=redis))
    said = injector.begin()
    assert f"redis-server pid(s) {before} killed with SIGKILL" in said
    with pytest.raises(OSError):
        _command(port, b"PING\r\n")
    assert "redis-server restarted as pid(s)" in injector.end()
    assert redis.port == port and redis.process is not None and redis.process.pid != before
    assert _command(port, b"GET group\r\n") == b"$-1\r\n"


def test_redis_pause_answers_nothing_until_it_ends(redis: RedisServer) -> None:
    assert redis.port is not None
    injector = injector_for(FaultSpec(0, 1, "pause", "redis"), FaultTargets(redis=redis))
    injector.begin()
    try:
        with pytest.raises(TimeoutError):
            _command(redis.port, b"PING\r\n", timeout=0.5)
    finally:
        injector.end()
    assert _command(redis.port, b"PING\r\n") == b"+PONG\r\n"


def test_flush_empties_redis_and_keeps_its_connections(redis: RedisServer) -> None:
    assert redis.port is not None
    _command(redis.port, b"SET asgi:group:room member\r\n")
    with socket.create_connection(("127.0.0.1", redis.port), timeout=2.0) as kept:
        said = injector_for(FaultSpec(0, 1, "flush", "redis"), FaultTargets(redis=redis)).begin()
        assert "FLUSHALL" in said
        kept.sendall(b"GET asgi:group:room\r\n")
        assert kept.recv(64) == b"$-1\r\n"  # the same connection answers: only the data is gone


@pytest.mark.wire
@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
def test_one_server_worker_killed_leaves_the_others_serving_and_comes_back(server: str, tmp_path: Path) -> None:
    with Stack(StackConfig(server=server, layer="redis", workers=2, users=2, rooms=1), tmp_path) as stack:
        before = [w.pid for w in stack.server_workers()]
        assert len(before) == 2
        targets = stack_fault_targets(stack)
        injector = injector_for(FaultSpec(0, 1, "kill", "server_worker"), targets)
        said = injector.begin()
        assert f"pid(s) {before[0]} killed with SIGKILL" in said
        # The whole server is held while one of its processes is down: the supervisor leaves it to the window.
        assert targets.supervised["server"].held
        assert not psutil.pid_exists(before[0]) or psutil.Process(before[0]).status() == psutil.STATUS_ZOMBIE
        # The other worker serves on meanwhile.
        assert all(http_get_json(stack.config.host, stack.port, "/healthz")[0] == 200 for _ in range(5))
        ended = injector.end()
        after = [w.pid for w in stack.server_workers()]
        assert "restarted as pid(s)" in ended and len(after) == 2 and before[1] in after and before[0] not in after
        assert not targets.supervised["server"].held
        assert http_get_json(stack.config.host, stack.port, "/healthz")[0] == 200
        if server == "daphne":
            # The new Daphne took the shared listening socket, not some other descriptor of its sibling's.
            (new,) = (w for w in stack.server_workers() if w.pid not in before)
            ports = {c.laddr.port for c in psutil.Process(new.pid).net_connections("tcp") if c.status == "LISTEN"}
            assert ports == {stack.port}
        if server == "uvicorn":
            # Uvicorn's own master replaced it; its process is the one the stack started.
            assert stack.server_pids == [stack.launch.processes[0].pid] and stack.launch.processes[0].alive()


def test_client_kill_closes_the_connections_of_its_type(redis: RedisServer) -> None:
    assert redis.port is not None
    with socket.create_connection(("127.0.0.1", redis.port), timeout=2) as client:
        client.sendall(b"PING\r\n")
        assert client.recv(16) == b"+PONG\r\n"
        said = injector_for(FaultSpec(0, 1, "client_kill", "normal"), FaultTargets(redis=redis)).begin()
        assert "closed 1 connection(s)" in said
        assert client.recv(16) == b""


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[Supervised]:
    processes: list[ManagedProcess] = []

    def start() -> list[ManagedProcess]:
        process = ManagedProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log")
        processes.append(process.start())
        return [process]

    start()
    yield Supervised("sleeper", current=lambda: processes[-1:], restart=start)
    for process in processes:
        process.stop()


@pytest.mark.parametrize("sig", ["KILL", "TERM"])
def test_a_killed_process_is_restarted_when_the_window_ends(sleeper: Supervised, sig: Any) -> None:
    first = sleeper.current()[0]
    injector = injector_for(FaultSpec(0, 1, "kill", "worker", signal=sig), FaultTargets(supervised={"worker": sleeper}))
    assert f"killed with SIG{sig}" in injector.begin()
    assert not first.alive()
    injector.end()
    second = sleeper.current()[0]
    assert second.pid != first.pid and second.alive()
    assert [what.split(" ")[1] for _, what in sleeper.log] == ["pid(s)", "restarted"]


def test_a_paused_process_is_stopped_until_the_window_ends(sleeper: Supervised) -> None:
    process = psutil.Process(sleeper.current()[0].pid)
    injector = injector_for(FaultSpec(0, 1, "pause", "worker"), FaultTargets(supervised={"worker": sleeper}))
    injector.begin()
    deadline = time.monotonic() + 5
    while process.status() != psutil.STATUS_STOPPED and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.status() == psutil.STATUS_STOPPED
    injector.end()
    assert process.status() != psutil.STATUS_STOPPED


def test_an_eks_fault_asks_the_emulator_for_it_and_clears_it_at_the_end() -> None:
    calls: list[Any] = []

    def inject(body: dict[str, Any]) -> list[int]:
        calls.append(body)
        return [0, 2]

    targets = FaultTargets(eks_inject=inject, eks_clear=lambda: calls.append("clear"))
    injector = injector_for(FaultSpec(0, 2.5, "eks", "reboot", fraction=0.5), targets)
    assert "into 2 reader(s)" in injector.begin()
    injector.end()
    assert calls == [
        {"kind": "reboot", "fraction": 0.5, "duration_s": 2.5, "down_s": 2.5, "keep_key": True},
        "clear",
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (FaultSpec(0, 1, "kill", "redis"), "no Redis of its own"),
        (FaultSpec(0, 1, "client_kill", "pubsub"), "no Redis of its own"),
        (FaultSpec(0, 1, "kill", "gateway"), "no gateway process"),
        (FaultSpec(0, 1, "toxic", "redis", toxic="blackhole"), "no fault proxy on the redis path"),
        (FaultSpec(0, 1, "eks", "rst"), "no EKS emulator"),
        (FaultSpec(0, 1, "flush", "redis"), "no Redis of its own"),
        (FaultSpec(0, 1, "kill", "server_worker"), "workers >= 2"),
    ],
)
def test_a_fault_the_run_cannot_inject_is_refused_before_it_starts(spec: FaultSpec, message: str) -> None:
    with pytest.raises(UnavailableFault, match=message):
        injector_for(spec, FaultTargets())


def test_a_process_a_pause_window_left_stopped_still_stops_at_once(tmp_path: Path) -> None:
    import signal

    process = ManagedProcess("p", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "p.log").start()
    process.send_signal(signal.SIGSTOP)
    began = time.monotonic()
    process.stop(timeout=10)
    # Without a SIGCONT its TERM would wait, and the harness would sit out the 10 s before a KILL.
    assert not process.alive() and time.monotonic() - began < 5
