"""An in-process rig: emulated readers -> gateway -> in-memory layer -> PunchWorker -> test database."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer  # type: ignore[import-untyped]
from channels.testing import ApplicationCommunicator  # type: ignore[import-untyped]

from eks_emulator.control import Controller
from eks_emulator.fleet import Fleet, FleetConfig
from eks_emulator.service_time import ServiceTime
from reference_app.gateway.backoff import BackoffPolicy
from reference_app.gateway.client import ClientConfig
from reference_app.gateway.service import GatewayConfig, GatewayService
from reference_app.gateway.stats import ReaderTarget
from reference_app.timeclock.consumers import PunchWorker
from reference_app.timeclock.models import Employee, Key, Punch, Terminal
from reference_app.tokens import digest
from tests.conftest import TIMEOUT

__all__ = ["FAST", "FAST_BACKOFF", "SERIALS", "Rig", "open_fds"]

#: Keys known to the test database, one employee each.
SERIALS = [f"00A1B2C3D4E5F6{i:02X}" for i in range(8)]
#: Timing small enough for tests, large enough for a loaded 2-core machine.
FAST = ClientConfig(
    connect_timeout_s=1.0,
    heartbeat_s=0.2,
    heartbeat_timeout_s=0.5,
    heartbeat_misses=2,
    read_timeout_s=1.0,
    read_attempts=3,
    debounce_s=0.3,
)
FAST_BACKOFF = BackoffPolicy(base_s=0.02, max_s=0.2)
#: How long "nothing more happens" is watched for.
QUIET = TIMEOUT / 10


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@dataclass
class WorkerTap:
    """Between the worker channel and the worker: loses deliveries or acknowledgements on purpose, as a Redis
    restart or a killed worker would."""

    drop_deliveries: int = 0
    drop_acks: int = 0
    paused: asyncio.Event = field(default_factory=asyncio.Event)
    seen: int = 0

    def __post_init__(self) -> None:
        self.paused.set()


@dataclass
class Rig:
    fleet: Fleet
    control: Controller
    service: GatewayService
    terminals: list[Terminal]
    tap: WorkerTap
    restart: Callable[[], Awaitable[GatewayService]]

    @property
    def errors(self) -> dict[str, int]:
        return dict(self.service.stats.errors)

    @property
    def events(self) -> dict[str, int]:
        return dict(self.service.stats.counters)

    async def punches(self) -> list[tuple[int, str]]:
        rows = await sync_to_async(lambda: list(Punch.objects.values_list("terminal_id", "key_serial")))()
        return [(int(terminal), str(serial)) for terminal, serial in rows]

    async def serials(self) -> list[str]:
        return [serial for _, serial in await self.punches()]

    async def until(self, check: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not check():
            if loop.time() >= deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; errors {self.errors}")
            await asyncio.sleep(0.01)

    async def until_error(self, kind: str, timeout: float = TIMEOUT) -> None:
        await self.until(lambda: self.service.stats.errors[kind] >= 1, f"error {kind!r}", timeout)

    async def expect_serials(self, expected: list[str], timeout: float = TIMEOUT) -> None:
        """Wait for exactly these punches (in order), then watch a while that no more come."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(await self.serials()) < len(expected) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(QUIET)
        assert await self.serials() == expected, f"errors {self.errors}, events {self.events}"


async def _seed(ports: list[int]) -> list[Terminal]:
    @sync_to_async
    def create() -> list[Terminal]:
        for index, serial in enumerate(SERIALS):
            employee = Employee.objects.create(number=f"E{index}", name=f"Employee {index}")
            Key.objects.create(serial=serial, employee=employee)
        return [
            Terminal.objects.create(
                name=f"door-{index}",
                reader_host="127.0.0.1",
                reader_port=port,
                token_digest=digest(f"t{index}"),
            )
            for index, port in enumerate(ports)
        ]

    return await create()


async def _pump(layer: Any, channel: str, worker: ApplicationCommunicator, tap: WorkerTap) -> None:
    # What ``runworker`` does: every message on the channel goes to the one worker instance, in order.
    while True:
        message = await layer.receive(channel)
        await tap.paused.wait()
        tap.seen += 1
        if tap.drop_deliveries > 0 and message.get("type") == "punch.event":
            tap.drop_deliveries -= 1
            continue
        if tap.drop_acks > 0 and message.get("type") == "punch.event":
            tap.drop_acks -= 1
            # Stored, but its acknowledgement goes nowhere.
            message = {**message, "reply_channel": "gateway-test-nobody"}
        await worker.send_input(message)


@pytest.fixture
async def make_rig() -> AsyncIterator[Callable[..., Awaitable[Rig]]]:
    """Build a rig of N readers; everything it started is stopped, newest first, after the test."""
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def build(
        devices: int = 1,
        *,
        client: ClientConfig = FAST,
        push_on_accept: bool = True,
        journal: Path | None = None,
        ack_timeout_s: float = 5.0,
    ) -> Rig:
        fleet = Fleet(
            FleetConfig(
                devices,
                base_port=0,
                service_time=ServiceTime.fixed(0.005),
                push_on_accept=push_on_accept,
                seed=3,
            )
        )
        await fleet.start()
        cleanups.append(fleet.stop)
        terminals = await _seed([fleet.devices[i].port for i in range(devices)])
        layer = get_channel_layer()
        channel = f"gateway-test-{uuid.uuid4().hex[:8]}"
        worker = ApplicationCommunicator(PunchWorker.as_asgi(), {"type": "channel", "channel": channel})
        tap = WorkerTap()
        pump = asyncio.get_running_loop().create_task(_pump(layer, channel, worker, tap))

        async def stop_worker() -> None:
            pump.cancel()
            worker.future.cancel()
            await asyncio.gather(pump, worker.future, return_exceptions=True)

        cleanups.append(stop_worker)
        targets = [ReaderTarget(t.pk, t.name, t.reader_host, t.reader_port) for t in terminals]
        config = GatewayConfig(
            channel=channel,
            client=client,
            backoff=FAST_BACKOFF,
            log_interval_s=0,
            seed=5,
            journal=journal,
            ack_timeout_s=ack_timeout_s,
        )
        services: list[GatewayService] = []

        async def start() -> GatewayService:
            service = GatewayService(targets, config, layer)
            services.append(service)
            await service.start()
            await service.wait_connected(timeout=TIMEOUT)
            return service

        async def stop_gateway() -> None:
            await services[-1].stop()

        async def restart() -> GatewayService:
            """Stop the gateway as its process would end, then start a new one on the same journal."""
            await stop_gateway()
            rig.service = await start()
            return rig.service

        cleanups.append(stop_gateway)
        rig = Rig(fleet, Controller(fleet), await start(), terminals, tap, restart)
        return rig

    yield build
    for cleanup in reversed(cleanups):
        await cleanup()
