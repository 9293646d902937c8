"""``harness bench``: a short, real chat benchmark of the reference app on each server.

This is the embedded default job until the Locust-driven ``harness run`` exists: one stack per cell, a room of
chat clients sending at a fixed schedule, every delivery timed in microseconds (HDR). The clients run in this
process on asyncio, so the harness measures its own CPU and flags a run in which it, not the server, was the limit.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from websockets.asyncio.client import ClientConnection, connect

from harness.latency import LatencyRecorder
from harness.redis_server import RedisNotFound, find_redis_server
from harness.stack import Stack, StackConfig

__all__ = ["BenchCell", "CellResult", "GENERATOR_CPU_LIMIT", "run_bench"]

#: Above this share of one core the client process, not the server, may be what limited the run.
GENERATOR_CPU_LIMIT = 85.0


@dataclass(frozen=True)
class BenchCell:
    server: str
    layer: str
    clients: int = 10
    rate_per_client: float = 10.0
    duration_s: float = 10.0


@dataclass
class CellResult:
    cell: BenchCell
    round_trip: LatencyRecorder = field(default_factory=LatencyRecorder)
    fanout: LatencyRecorder = field(default_factory=LatencyRecorder)
    send_lag: LatencyRecorder = field(default_factory=LatencyRecorder)
    sent: int = 0
    expected_deliveries: int = 0
    deliveries: int = 0
    errors: list[str] = field(default_factory=list)
    generator_cpu_percent: float = 0.0
    wall_s: float = 0.0

    @property
    def generator_bound(self) -> bool:
        return self.generator_cpu_percent > GENERATOR_CPU_LIMIT


async def _member(
    stack: Stack, user: dict[str, Any], room: str, cell: BenchCell, result: CellResult, start_at: float, index: int
) -> None:
    url = f"{stack.ws_url}/ws/chat/{room}/"
    headers = {"Origin": stack.http_url, "Cookie": f"sessionid={user['session']}"}
    async with connect(url, additional_headers=headers, max_size=None) as ws:
        await _until_joined(ws)
        receiver = asyncio.create_task(_receive(ws, user["username"], result))
        interval = 1.0 / cell.rate_per_client
        count = int(cell.duration_s * cell.rate_per_client)
        # Spread the senders' schedules over one interval so they do not all fire at once.
        first = start_at + interval * index / cell.clients
        try:
            for seq in range(count):
                intended = first + seq * interval
                delay = intended - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent_ns = time.monotonic_ns()
                result.send_lag.record_ns(max(sent_ns - int(intended * 1e9), 0))
                await ws.send(json.dumps({"type": "message", "text": "bench", "seq": seq, "sent_at": sent_ns}))
                result.sent += 1
            # Let the last deliveries arrive before closing.
            await asyncio.sleep(2.0)
        finally:
            receiver.cancel()


async def _until_joined(ws: ClientConnection) -> None:
    while json.loads(await ws.recv())["type"] != "welcome":
        pass


async def _receive(ws: ClientConnection, me: str, result: CellResult) -> None:
    async for raw in ws:
        now = time.monotonic_ns()
        message = json.loads(raw)
        if message.get("type") != "message":
            continue
        latency = now - int(message["sent_at"])
        result.deliveries += 1
        (result.round_trip if message["user"] == me else result.fanout).record_ns(latency)


async def _run_cell(stack: Stack, cell: BenchCell) -> CellResult:
    result = CellResult(cell)
    users = stack.credentials()["users"][: cell.clients]
    room = stack.credentials()["rooms"][0]["slug"]
    process = psutil.Process()
    cpu_before = process.cpu_times()
    wall_before = time.monotonic()
    start_at = time.monotonic() + 2.0
    outcomes = await asyncio.gather(
        *(_member(stack, user, room, cell, result, start_at, i) for i, user in enumerate(users)),
        return_exceptions=True,
    )
    result.wall_s = time.monotonic() - wall_before
    cpu_after = process.cpu_times()
    used = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    result.generator_cpu_percent = 100.0 * used / result.wall_s
    result.errors = [f"{type(o).__name__}: {o}" for o in outcomes if isinstance(o, BaseException)]
    result.expected_deliveries = result.sent * len(users)
    return result


def run_bench(cells: Sequence[BenchCell], run_dir: Path) -> list[CellResult]:
    results = []
    for cell in cells:
        config = StackConfig(
            server=cell.server, layer=cell.layer, users=cell.clients, rooms=1, employees=1, terminals=1
        )
        print(f"cell {cell.server} x {cell.layer}: starting stack", flush=True)
        with Stack(config, run_dir / f"{cell.server}-{cell.layer}") as stack:
            print(
                f"cell {cell.server} x {cell.layer}: {cell.clients} clients x {cell.rate_per_client:g} msg/s "
                f"for {cell.duration_s:g} s in one room",
                flush=True,
            )
            results.append(asyncio.run(_run_cell(stack, cell)))
    return results


def _ms(value_us: int) -> str:
    return f"{value_us / 1000:.2f}"


def format_table(results: Sequence[CellResult]) -> str:
    header = (
        f"{'server':<9} {'layer':<13} {'metric':<10} {'count':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'lost':>6} {'gen cpu':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lost = r.expected_deliveries - r.deliveries
        for name, rec in (("round_trip", r.round_trip), ("fanout", r.fanout)):
            s = rec.summary()
            lines.append(
                f"{r.cell.server:<9} {r.cell.layer:<13} {name:<10} {s.count:>7} {_ms(s.p50):>8} {_ms(s.p90):>8} "
                f"{_ms(s.p99):>8} {_ms(s.max):>8} {lost:>6} {r.generator_cpu_percent:>7.0f}%"
            )
    for r in results:
        if r.generator_bound:
            lines.append(
                f"!! GENERATOR-BOUND: {r.cell.server} x {r.cell.layer}: the client process used "
                f"{r.generator_cpu_percent:.0f}% of a core (limit {GENERATOR_CPU_LIMIT:.0f}%); its latencies include "
                "the generator's own delay. Lower --clients/--rate."
            )
        lost = r.expected_deliveries - r.deliveries
        if lost:
            lines.append(
                f"!! LOSS: {r.cell.server} x {r.cell.layer}: {lost} of {r.expected_deliveries} deliveries never "
                "arrived. Channels' group_send drops messages silently when a member's channel is at capacity: the "
                "server fell behind this load."
            )
        if r.errors:
            lines.append(f"!! {r.cell.server} x {r.cell.layer}: {len(r.errors)} client(s) failed: {r.errors[0]}")
        lag = r.send_lag.summary()
        lines.append(
            f"   {r.cell.server} x {r.cell.layer}: sent {r.sent}, delivered {r.deliveries} of {r.expected_deliveries}, "
            f"send lag p99 {_ms(lag.p99)} ms, wall {r.wall_s:.1f} s"
        )
    return "\n".join(lines)


def default_cells(layers: Sequence[str], clients: int, rate: float, duration: float) -> list[BenchCell]:
    return [BenchCell(s, layer, clients, rate, duration) for layer in layers for s in ("daphne", "uvicorn")]


def available_layers() -> list[str]:
    try:
        find_redis_server()
    except RedisNotFound:
        return ["inmemory"]
    return ["inmemory", "redis", "redis-pubsub"]


def main(clients: int, rate: float, duration: float, layers: Sequence[str] | None, out: Path | None) -> int:
    run_dir = out or Path(tempfile.mkdtemp(prefix="harness-bench-"))
    chosen = list(layers) if layers else available_layers()
    results = run_bench(default_cells(chosen, clients, rate, duration), run_dir)
    print()
    print(format_table(results))
    print(f"\nlogs: {run_dir}")
    # Lost deliveries are a finding about the server, reported above; only clients that could not run fail the job.
    return 1 if any(r.errors for r in results) else 0
