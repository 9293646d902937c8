"""Shift change through the whole EKS path: emulated readers -> gateway -> worker -> database and kiosks.

    PYTHONPATH=. python benchmarks/eks_shift_change.py --readers 1000 --server uvicorn --burst-s 45

Starts a reference-app stack (Redis layer, N terminals and employees), one emulator process with N readers
on the ports the terminals name, one gateway process and N kiosk WebSockets, then inserts every employee's
key into their own terminal's reader at seeded random times within ``--burst-s`` and prints:

* the burst: inserts issued, and the time from the first insert to the last punch a kiosk received;
* punches stored, lost (inserts with no stored punch), duplicates (stored punches beyond one per insert);
* kiosks that received their punch;
* insert -> kiosk latency p50/p99/max in ms: from the emulator's ``monotonic_ns`` stamp taken right after it
  wrote the ``Ek 01`` frame to the moment this process read the punch message (CLOCK_MONOTONIC, one host).

The end-to-end tests in tests/gateway/test_e2e.py call ``run_shift_change`` with 200 readers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from harness.network import free_port
from harness.processes import ManagedProcess
from harness.stack import Stack, StackConfig

__all__ = ["ShiftChangeResult", "find_free_port_range", "main", "run_shift_change"]

PORT_RANGE_LOW = 20000
PORT_RANGE_HIGH = 60000


def find_free_port_range(count: int, host: str = "127.0.0.1", seed: int | None = None) -> int:
    """A base port such that base .. base+count-1 can all be bound right now (checked one by one)."""
    rng = random.Random(seed)
    for _ in range(50):
        base = rng.randrange(PORT_RANGE_LOW, PORT_RANGE_HIGH - count)
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind((host, port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise RuntimeError(f"found no {count} consecutive free ports in {PORT_RANGE_LOW}-{PORT_RANGE_HIGH}")


@dataclass
class ShiftChangeResult:
    server: str
    readers: int
    inserts: int
    burst_window_s: float
    burst_duration_s: float
    punches_stored: int
    lost: int
    duplicates: int
    kiosks_with_punch: int
    latency_ms_p50: float
    latency_ms_p99: float
    latency_ms_max: float
    gateway: dict[str, Any] = field(default_factory=dict)
    gateways: int = 1

    def lines(self) -> list[str]:
        return [
            f"server {self.server}, layer redis, {self.readers} readers, 1 emulator process, "
            f"{self.gateways} gateway process(es)",
            f"burst: {self.inserts} inserts within {self.burst_window_s:.0f} s; "
            f"first insert -> last kiosk punch {self.burst_duration_s:.1f} s",
            f"punches stored {self.punches_stored}, lost {self.lost}, duplicates {self.duplicates}",
            f"kiosks that received their punch: {self.kiosks_with_punch}/{self.readers}",
            f"insert -> kiosk latency: p50 {self.latency_ms_p50:.0f} ms, p99 {self.latency_ms_p99:.0f} ms, "
            f"max {self.latency_ms_max:.0f} ms",
            f"gateway: connected {self.gateway.get('connected')}, "
            f"reconnects {self.gateway.get('reconnects')}, errors {self.gateway.get('errors')}",
        ]


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def _http(port: int, method: str, path: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
    payload = b"" if body is None else json.dumps(body).encode()
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(rest) if rest else None


async def _wait_http(
    port: int, path: str, ready: Any, what: str, process: ManagedProcess, timeout: float
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = "no answer"
    while loop.time() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited during start-up; its log ends with:\n{process.tail()}")
        try:
            status, body = await _http(port, "GET", path, timeout=2.0)
        except (OSError, TimeoutError, ValueError) as exc:
            last = exc
        else:
            last = body
            if status == 200 and ready(body):
                return dict(body)
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{what} not ready within {timeout} s (last: {last}); log: {process.log_path}")


@dataclass
class _Kiosk:
    terminal_id: int
    socket: ClientConnection
    punches: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    async def listen(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            if message.get("type") == "punch":
                self.punches.append((time.monotonic_ns(), message))


async def _open_kiosks(stack: Stack, terminals: list[dict[str, Any]], concurrency: int = 50) -> list[_Kiosk]:
    slots = asyncio.Semaphore(concurrency)

    async def open_one(terminal: dict[str, Any]) -> _Kiosk:
        url = f"{stack.ws_url}/ws/terminal/{terminal['id']}/?token={terminal['token']}"
        async with slots:
            ws = await connect(url, origin=stack.http_url, open_timeout=30)  # type: ignore[arg-type]
            welcome = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if welcome.get("type") != "welcome":
            raise RuntimeError(f"terminal {terminal['id']}: expected a welcome, got {welcome}")
        return _Kiosk(terminal["id"], ws)

    return list(await asyncio.gather(*(open_one(t) for t in terminals)))


def _stored_punches(db_path: Path) -> list[tuple[int, str, str]]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT terminal_id, key_serial, event_id FROM timeclock_punch").fetchall()
    return [(int(t), str(k), str(e)) for t, k, e in rows]


async def _drive(
    stack: Stack, readers: int, burst_s: float, seed: int, run_dir: Path, server: str, gateways: int
) -> ShiftChangeResult:
    credentials = stack.credentials()
    terminals = sorted(credentials["terminals"], key=lambda t: t["reader_port"])[:readers]
    employees = credentials["employees"][:readers]
    base_port = stack.config.reader_base_port
    env = dict(stack.env)
    control_port = free_port()
    status_ports = [free_port() for _ in range(gateways)]
    emulator = ManagedProcess(
        name="eks-emulator",
        argv=[
            sys.executable,
            "-m",
            "eks_emulator",
            "--devices",
            str(readers),
            "--base-port",
            str(base_port),
            "--control-port",
            str(control_port),
            "--events-log",
            str(run_dir / "eks-events.jsonl"),
            "--seed",
            str(seed),
            "--start-rate",
            "0",
            "--progress-interval",
            "10",
        ],
        log_path=run_dir / "eks-emulator.log",
        env=env,
    ).start()
    # Several gateway processes split the readers between them with --shard i/n.
    shard_processes = [
        ManagedProcess(
            name=f"eks-gateway-{i}",
            argv=[
                sys.executable,
                "-m",
                "reference_app",
                "eks_gateway",
                "--shard",
                f"{i}/{gateways}",
                "--status-port",
                str(port),
                "--log-interval-s",
                "5",
                "--seed",
                str(seed + i),
            ],
            log_path=run_dir / f"eks-gateway-{i}.log",
            env=env,
        )
        for i, port in enumerate(status_ports)
    ]
    kiosks: list[_Kiosk] = []
    listeners: list[asyncio.Task[None]] = []
    try:
        await _wait_http(
            control_port, "/metrics", lambda b: b["fleet"]["devices_up"] == readers, "emulator", emulator, 60
        )
        for gateway in shard_processes:
            gateway.start()
        await _wait_connected(status_ports, shard_processes, readers, 60)
        kiosks = await _open_kiosks(stack, terminals)
        listeners = [asyncio.get_running_loop().create_task(k.listen()) for k in kiosks]

        rng = random.Random(seed)
        schedule = sorted((rng.uniform(0, burst_s), i) for i in range(readers))
        loop = asyncio.get_running_loop()
        began = loop.time()
        insert_ns: dict[int, int] = {}

        async def insert(at: float, index: int) -> None:
            await asyncio.sleep(max(0.0, began + at - loop.time()))
            status, body = await _http(
                control_port, "POST", f"/devices/{index}/insert", {"serial": employees[index]["key_serial"]}
            )
            if status != 200:
                raise RuntimeError(f"insert into reader {index}: HTTP {status} {body}")
            insert_ns[terminals[index]["id"]] = int(body["event"]["monotonic_ns"])
            # The worker takes the key out again after a short dwell, as at a real clock.
            await asyncio.sleep(rng.uniform(1.0, 3.0))
            await _http(control_port, "POST", f"/devices/{index}/remove")

        inserting = asyncio.gather(*(insert(at, index) for at, index in schedule))
        deadline = began + burst_s + 60
        while loop.time() < deadline:
            if inserting.done() and sum(1 for k in kiosks if k.punches) >= readers:
                break
            await asyncio.sleep(0.2)
        await asyncio.wait_for(inserting, max(1.0, deadline - loop.time()))
        await asyncio.sleep(2.0)  # a late duplicate, if any, would show up now
        gateway_status = await _gateway_totals(status_ports)
    finally:
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
        await asyncio.gather(*(k.socket.close() for k in kiosks), return_exceptions=True)
        for gateway in shard_processes:
            gateway.stop()
        emulator.stop()

    stored = _stored_punches(run_dir / "db.sqlite3")
    per_terminal: dict[int, int] = {}
    for terminal_id, _, _ in stored:
        per_terminal[terminal_id] = per_terminal.get(terminal_id, 0) + 1
    lost = sum(1 for t in terminals if per_terminal.get(t["id"], 0) == 0)
    duplicates = sum(max(0, count - 1) for count in per_terminal.values())
    latencies = [
        (k.punches[0][0] - insert_ns[k.terminal_id]) / 1e6 for k in kiosks if k.punches and k.terminal_id in insert_ns
    ]
    first_insert = min(insert_ns.values()) if insert_ns else 0
    last_punch = max((k.punches[0][0] for k in kiosks if k.punches), default=first_insert)
    return ShiftChangeResult(
        server=server,
        readers=readers,
        inserts=len(insert_ns),
        burst_window_s=burst_s,
        burst_duration_s=(last_punch - first_insert) / 1e9,
        punches_stored=len(stored),
        lost=lost,
        duplicates=duplicates,
        kiosks_with_punch=sum(1 for k in kiosks if k.punches),
        latency_ms_p50=statistics.median(latencies) if latencies else float("nan"),
        latency_ms_p99=_percentile(latencies, 0.99),
        latency_ms_max=max(latencies, default=float("nan")),
        gateway=gateway_status,
        gateways=gateways,
    )


async def _gateway_totals(ports: list[int]) -> dict[str, Any]:
    """The gateways' /status documents summed: connected, reconnects and errors by kind over all shards."""
    totals: dict[str, Any] = {"connected": 0, "reconnects": 0, "errors": {}, "shards": []}
    for port in ports:
        _, status = await _http(port, "GET", "/status")
        totals["shards"].append(status)
        totals["connected"] += status["connected"]
        totals["reconnects"] += status["reconnects"]
        for kind, count in status["errors"].items():
            totals["errors"][kind] = totals["errors"].get(kind, 0) + count
    return totals


async def _wait_connected(ports: list[int], processes: list[ManagedProcess], readers: int, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    connected = 0
    while loop.time() < deadline:
        for process in processes:
            if not process.alive():
                raise RuntimeError(f"{process.name} exited during start-up; its log ends with:\n{process.tail()}")
        try:
            connected = (await _gateway_totals(ports))["connected"]
        except OSError:
            connected = 0
        if connected == readers:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the gateways connected {connected} of {readers} readers within {timeout:.0f} s")


def run_shift_change(
    readers: int, server: str, run_dir: Path, *, burst_s: float = 45.0, seed: int = 1, gateways: int = 1
) -> ShiftChangeResult:
    """Run one shift change end to end and return its figures; every process is stopped on return."""
    if readers < 1:
        raise ValueError(f"--readers must be >= 1, got {readers}")
    if not 1 <= gateways <= readers:
        raise ValueError(f"--gateways must be between 1 and the number of readers, got {gateways}")
    if not 0 < burst_s <= 600:
        raise ValueError(f"--burst-s must be > 0 and <= 600, got {burst_s}")
    base_port = find_free_port_range(readers, seed=seed)
    config = StackConfig(
        server=server,
        layer="redis",
        terminals=readers,
        employees=readers,
        users=2,
        rooms=1,
        reader_base_port=base_port,
        startup_timeout=120,
    )
    with Stack(config, run_dir) as stack:
        return asyncio.run(_drive(stack, readers, burst_s, seed, run_dir, server, gateways))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--readers", type=int, default=1000, help="readers = terminals = employees (default 1000)")
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="uvicorn", help="ASGI server")
    parser.add_argument("--burst-s", type=float, default=45.0, help="inserts are spread over this window (s)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the insert schedule")
    parser.add_argument(
        "--gateways", type=int, default=1, help="gateway processes splitting the readers with --shard i/n (default 1)"
    )
    parser.add_argument("--run-dir", type=Path, default=None, help="keep logs and the database here")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of lines")
    args = parser.parse_args(argv)
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="eks-shift-change-"))
    try:
        result = run_shift_change(
            args.readers, args.server, run_dir, burst_s=args.burst_s, seed=args.seed, gateways=args.gateways
        )
    except ValueError as exc:
        parser.error(str(exc))
    if args.json:
        print(json.dumps(asdict(result), indent=2, sort_keys=True))
    else:
        print("\n".join(result.lines()))
        print(f"logs and database: {run_dir}")
    return 0 if result.lost == 0 and result.duplicates == 0 and result.kiosks_with_punch == result.readers else 3


if __name__ == "__main__":
    sys.exit(main())
